"""A keyring backend that several processes share through one JSON file ($TEST_KEYRING_FILE):
a stand-in for the OS keyring (none on a headless test machine) that a `messenger chat`
process and the test itself both see (one writer at a time). Load it with
PYTHON_KEYRING_BACKEND=file_keyring.FileKeyring and this folder on PYTHONPATH."""

from __future__ import annotations

import json
import os
from pathlib import Path

from keyring.backend import KeyringBackend
from keyring.compat import properties
from keyring.errors import PasswordDeleteError

PATH_ENV = "TEST_KEYRING_FILE"


class FileKeyring(KeyringBackend):
    @properties.classproperty
    def priority(cls) -> float:
        # Never a candidate when keyring looks for this machine's backends (e.g. in the test
        # process): only where a test names it and its file.
        if PATH_ENV not in os.environ:
            raise RuntimeError(f"${PATH_ENV} is not set")
        return 1

    def __init__(self, path: Path | str | None = None):
        super().__init__()
        self.path = Path(path or os.environ[PATH_ENV])

    @property
    def secrets(self) -> dict[tuple[str, str], str]:
        try:
            rows = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}
        return {(service, username): password for service, username, password in rows}

    def get_password(self, service, username):
        return self.secrets.get((service, username))

    def set_password(self, service, username, password):
        self._write({**self.secrets, (service, username): password})

    def delete_password(self, service, username):
        secrets = self.secrets
        if secrets.pop((service, username), None) is None:
            raise PasswordDeleteError(username)
        self._write(secrets)

    def _write(self, secrets: dict[tuple[str, str], str]) -> None:
        staged = self.path.with_suffix(".tmp")
        staged.write_text(json.dumps([[*key, value] for key, value in secrets.items()]), encoding="utf-8")
        os.replace(staged, self.path)
