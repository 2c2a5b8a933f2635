"""Where the client keeps its files."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import platformdirs

from messenger.core.files import make_private

APP_NAME = "messenger"
# One folder for everything, e.g. a test's temporary dir or a portable install.
HOME_ENV = "MESSENGER_CLIENT_HOME"
# `messenger chat` is a device of its own: by default its folders sit inside the desktop
# app's, apart from its files, so that neither signs the other in or out.
CHAT_FOLDER = "chat"

Role = Literal["desktop", "chat"]


@dataclass(frozen=True)
class ClientDirs:
    config: Path  # settings; roams with the Windows profile
    data: Path  # this machine only: the device token fallback, the last account, the outbox

    @classmethod
    def under(cls, home: Path | str) -> "ClientDirs":
        home = Path(home)
        return cls(config=home / "config", data=home / "data")

    def make_private(self) -> list[str]:
        """Create both folders if need be, and take group and other permissions off them and
        everything in them (the outbox, the search index and the key cache hold what the
        user wrote); what could not be changed, as "path: reason" lines."""
        problems = []
        for folder in (self.config, self.data):
            folder.mkdir(mode=0o700, parents=True, exist_ok=True)
            problems += make_private(folder)
        return problems


def platform_dirs(role: Role = "desktop") -> ClientDirs:
    """The platform's user folders of the desktop app or of `messenger chat`.

    A device token belongs to one machine, so the data folder never roams.
    """
    dirs = ClientDirs(
        config=Path(platformdirs.user_config_dir(APP_NAME, appauthor=False, roaming=True)),
        data=Path(platformdirs.user_data_dir(APP_NAME, appauthor=False, roaming=False)),
    )
    if role == "chat":
        return ClientDirs(config=dirs.config / CHAT_FOLDER, data=dirs.data / CHAT_FOLDER)
    return dirs


def client_dirs(home: Path | str | None = None, role: Role = "desktop") -> ClientDirs:
    """`home` (or $MESSENGER_CLIENT_HOME) if given, else the platform's folders of `role`."""
    home = home or os.environ.get(HOME_ENV)
    if home:
        return ClientDirs.under(home)
    return platform_dirs(role)
