"""Where the device token lives between runs, and which account signed in last.

The token goes to the OS keyring (Windows Credential Manager, macOS Keychain, Secret
Service) under the service "messenger <server url> [<client data folder>]" and the username:
one entry per client home, so the desktop app and `messenger chat` signed in as one account
on one machine never take each other's token (the desktop app's default home keeps the name
"messenger <server url>" it always had). Without a usable
keyring (a headless Linux box has none) it goes to a protected file in the client's data
folder: encrypted with DPAPI on Windows, mode 0600 elsewhere. A keyring that fails on one
call (a locked Secret Service, a Credential Manager write refused with error 1312: any
exception of the backend) also falls back to the file for that call, so a token is never lost;
saving to a working keyring removes any copy from the file. On Windows the credentials are kept
on this computer (local-machine persistence), never copied with a roaming profile.

The last account (server url + username, nothing secret) is a small state file next to
it: it tells `ApiClient.restore()` which token to look up.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import stat
import sys
import threading
from dataclasses import dataclass
from pathlib import Path

import keyring
from keyring.backend import KeyringBackend
from keyring.backends import chainer, fail, null
from keyring.errors import PasswordDeleteError

from messenger.client.services.dirs import client_dirs, platform_dirs
from messenger.core.files import write_atomic

log = logging.getLogger(__name__)

TOKEN_FILE = "device-tokens.json"
LAST_ACCOUNT_FILE = "last-account.json"


@dataclass(frozen=True)
class Account:
    server_url: str
    username: str


def normalize_server_url(url: str) -> str:
    """One spelling per server: no trailing slash, lower-case scheme and host."""
    url = url.strip().rstrip("/")
    scheme, sep, rest = url.partition("://")
    if not sep:
        return url
    host, slash, path = rest.partition("/")
    return f"{scheme.lower()}://{host.lower()}{slash}{path}"


def keyring_service(server_url: str, data_dir: Path | str) -> str:
    """The keyring service of a server's tokens in the client home whose data folder is `data_dir`."""
    service = f"messenger {normalize_server_url(server_url)}"
    home = Path(data_dir).resolve()
    return service if home == platform_dirs().data.resolve() else f"{service} [{home}]"


def usable_keyring(backend: KeyringBackend) -> bool:
    """False for keyring's stand-ins that store nothing (fail, null, an empty chain)."""
    if isinstance(backend, (fail.Keyring, null.Keyring)):
        return False
    if isinstance(backend, chainer.ChainerBackend):
        return bool(backend.backends)
    return True


# win32cred.CRED_PERSIST_LOCAL_MACHINE: keyring's Windows backend stores with "enterprise"
# persistence, which a roaming profile copies to every PC the user signs in to.
CRED_PERSIST_LOCAL_MACHINE = 2


def keep_on_this_computer(backend: KeyringBackend) -> None:
    """Device tokens and E2E keys belong to this device: Windows Credential Manager entries are
    written with local-machine persistence, never roaming (keyring.backends.Windows' `persist`)."""
    for one in backend.backends if isinstance(backend, chainer.ChainerBackend) else [backend]:
        if type(one).__module__ == "keyring.backends.Windows" and "persist" in vars(type(one)):
            one.persist = CRED_PERSIST_LOCAL_MACHINE


class TokenFile:
    """The fallback: tokens in one JSON file readable by this user only.

    On Windows each token is a DPAPI blob (base64); elsewhere the file's mode 0600 and the
    0700 data folder protect it, as with ~/.ssh keys.
    """

    def __init__(self, path: Path):
        self.path = path
        self.encrypted = sys.platform == "win32"

    def describe(self) -> str:
        protection = "DPAPI" if self.encrypted else "mode 0600"
        return f"file {self.path} ({protection})"

    def load(self, key: str) -> str | None:
        stored = self._read().get(key)
        if not isinstance(stored, str):
            return None
        try:
            return self._open(stored)
        except (OSError, ValueError) as exc:
            log.warning("session store: a stored token cannot be read (%s); it is ignored", type(exc).__name__)
            return None

    def save(self, key: str, token: str) -> None:
        tokens = self._read()
        tokens[key] = self._seal(token)
        self._write(tokens)

    def forget(self, key: str) -> None:
        tokens = self._read()
        if tokens.pop(key, None) is not None:
            self._write(tokens)

    def _seal(self, token: str) -> str:
        if not self.encrypted:
            return token
        from messenger.client.services import dpapi

        return base64.b64encode(dpapi.protect(token.encode())).decode("ascii")

    def _open(self, stored: str) -> str:
        if not self.encrypted:
            return stored
        from messenger.client.services import dpapi

        return dpapi.unprotect(base64.b64decode(stored, validate=True)).decode()

    def _read(self) -> dict:
        try:
            if not self.encrypted:
                self._keep_private()
            raw = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as exc:
            log.warning("session store: %s is unreadable (%s); starting empty", self.path, type(exc).__name__)
            return {}
        tokens = raw.get("tokens") if isinstance(raw, dict) else None
        return tokens if isinstance(tokens, dict) else {}

    def _keep_private(self) -> None:
        """A token file others can read (copied in by hand, restored from a backup) is
        tightened back to 0600 before it is used."""
        mode = stat.S_IMODE(os.stat(self.path).st_mode)
        if mode & 0o077:
            log.warning("session store: %s was readable by others (mode %o); setting 0600", self.path, mode)
            os.chmod(self.path, 0o600)

    def _write(self, tokens: dict) -> None:
        write_atomic(self.path, json.dumps({"version": 1, "tokens": tokens}, indent=1) + "\n", mode=0o600)


class SessionStore:
    """Device tokens by (server url, username), and the last account that signed in.

    Thread-safe. Never logs a token.
    """

    def __init__(self, data_dir: Path | str | None = None, *, backend: KeyringBackend | None = None):
        """`data_dir`: the client's data folder (default: the platform's); `backend`: a
        keyring backend (default: whatever `keyring` resolves to on this machine)."""
        self.data_dir = Path(data_dir) if data_dir else client_dirs().data
        backend = backend if backend is not None else keyring.get_keyring()
        self.keyring = backend if usable_keyring(backend) else None
        if self.keyring is not None:
            keep_on_this_computer(self.keyring)
        self.file = TokenFile(self.data_dir / TOKEN_FILE)
        self._lock = threading.Lock()

    def describe_backend(self) -> str:
        """Where tokens go, for --self-test and support: the keyring's name or the file's."""
        if self.keyring is not None:
            return f"keyring {type(self.keyring).__module__}.{type(self.keyring).__name__}"
        return self.file.describe()

    def load_token(self, server_url: str, username: str) -> str | None:
        service, user, file_key = self._names(server_url, username)
        with self._lock:
            if self.keyring is not None:
                try:
                    token = self.keyring.get_password(service, user)
                    if token:
                        return token
                except Exception as exc:  # noqa: BLE001 - backends raise their own (Windows: pywintypes.error, e.g. CredWrite 1312)
                    log.warning("session store: keyring read failed (%s); trying the file", exc)
            return self.file.load(file_key)

    def save_token(self, server_url: str, username: str, token: str) -> None:
        service, user, file_key = self._names(server_url, username)
        with self._lock:
            if self.keyring is not None:
                try:
                    self.keyring.set_password(service, user, token)
                except Exception as exc:  # noqa: BLE001 - backends raise their own (Windows: pywintypes.error, e.g. CredWrite 1312)
                    log.warning("session store: keyring write failed (%s); using the file", exc)
                else:
                    self.file.forget(file_key)
                    return
            self.file.save(file_key, token)

    def forget_token(self, server_url: str, username: str) -> None:
        """Remove the token from the keyring and the file (wherever it is)."""
        service, user, file_key = self._names(server_url, username)
        with self._lock:
            if self.keyring is not None:
                try:
                    self.keyring.delete_password(service, user)
                except PasswordDeleteError:
                    pass  # it was not there
                except Exception as exc:  # noqa: BLE001 - backends raise their own (Windows: pywintypes.error, e.g. CredWrite 1312)
                    log.warning("session store: keyring delete failed (%s)", exc)
            self.file.forget(file_key)

    def last_account(self) -> Account | None:
        try:
            raw = json.loads((self.data_dir / LAST_ACCOUNT_FILE).read_text(encoding="utf-8"))
            return Account(normalize_server_url(raw["server_url"]), raw["username"])
        except FileNotFoundError:
            return None
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
            log.warning("session store: the last account file is unreadable (%s)", type(exc).__name__)
            return None

    def set_last_account(self, server_url: str, username: str) -> None:
        data = {"server_url": normalize_server_url(server_url), "username": username}
        write_atomic(self.data_dir / LAST_ACCOUNT_FILE, json.dumps(data, ensure_ascii=False) + "\n")

    def clear_last_account(self) -> None:
        (self.data_dir / LAST_ACCOUNT_FILE).unlink(missing_ok=True)

    def _names(self, server_url: str, username: str) -> tuple[str, str, str]:
        """The keyring's service and username, and the fallback file's key (the file belongs
        to this home already: its keys are the ones they always were)."""
        user = username.lower()
        return (keyring_service(server_url, self.data_dir), user,
                f"messenger {normalize_server_url(server_url)}\n{user}")
