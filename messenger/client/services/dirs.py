"""Where the client keeps its files."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import platformdirs

APP_NAME = "messenger"
# One folder for everything, e.g. a test's temporary dir or a portable install.
HOME_ENV = "MESSENGER_CLIENT_HOME"


@dataclass(frozen=True)
class ClientDirs:
    config: Path  # settings; roams with the Windows profile
    data: Path  # this machine only: the device token fallback, the last account, the outbox

    @classmethod
    def under(cls, home: Path | str) -> "ClientDirs":
        home = Path(home)
        return cls(config=home / "config", data=home / "data")


def client_dirs(home: Path | str | None = None) -> ClientDirs:
    """`home` (or $MESSENGER_CLIENT_HOME) if given, else the platform's user folders.

    A device token belongs to one machine, so the data folder never roams.
    """
    home = home or os.environ.get(HOME_ENV)
    if home:
        return ClientDirs.under(home)
    return ClientDirs(
        config=Path(platformdirs.user_config_dir(APP_NAME, appauthor=False, roaming=True)),
        data=Path(platformdirs.user_data_dir(APP_NAME, appauthor=False, roaming=False)),
    )
