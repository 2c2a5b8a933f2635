"""Client settings: each one declared once below, typed, with its default.

Like Electrum's `ConfigVar`: `settings.language` reads a setting, `settings.language =
"en-US"` checks and saves it. The file (`settings.json` in the roaming config folder)
holds only what the user changed, so a new default reaches everyone who kept the old one.
A value that is missing, of the wrong type or not allowed reads as the default (with a log
line), whatever is in the file; a setting this version does not know is kept as it is, for
the version that wrote it. Secrets never go here: device tokens live in the session store.
"""

from __future__ import annotations

import json
import locale
import logging
import socket
import sys
import threading
from pathlib import Path
from typing import Any, Callable, Generic, TypeVar
from urllib.parse import urlsplit

from messenger.client.services.dirs import client_dirs
from messenger.core.errors import pick_locale
from messenger.core.files import write_atomic

log = logging.getLogger(__name__)

T = TypeVar("T")

AUTO = "auto"
LANGUAGES = (AUTO, "ko-KR", "en-US")
UPDATE_CHANNELS = ("stable", "canary")
DEVICE_NAME_CHARS = 100  # the server's limit for device_name


class Setting(Generic[T]):
    """One declared setting: its default (or a function making it) and what it accepts."""

    def __init__(self, default: T | Callable[[], T], *, choices: tuple = (),
                 check: Callable[[T], bool] | None = None, doc: str = ""):
        self._default = default
        self.choices = choices
        self.check = check
        self.doc = doc
        self.name = ""

    def __set_name__(self, owner, name: str) -> None:
        self.name = name

    def default(self) -> T:
        return self._default() if callable(self._default) else self._default

    def accepts(self, value: Any) -> bool:
        # `type is`, not isinstance: True must not pass for an int, nor 1 for a bool.
        if type(value) is not type(self.default()):
            return False
        if self.choices and value not in self.choices:
            return False
        return self.check is None or bool(self.check(value))

    def __get__(self, settings: "ClientSettings | None", owner=None):
        if settings is None:
            return self
        return settings.get(self.name)

    def __set__(self, settings: "ClientSettings", value: T) -> None:
        settings.set(self.name, value)


def is_server_url(value: str) -> bool:
    """Empty (not chosen yet) or an http(s) address with a host."""
    if value == "":
        return True
    parts = urlsplit(value)
    return parts.scheme in ("http", "https") and bool(parts.hostname)


def is_device_name(value: str) -> bool:
    return 0 < len(value.strip()) <= DEVICE_NAME_CHARS


def this_computer() -> str:
    return (socket.gethostname() or "desktop")[:DEVICE_NAME_CHARS]


class ClientSettings:
    server_url = Setting("", check=is_server_url, doc="the server, e.g. https://chat.office:5000; empty until chosen")
    language = Setting(AUTO, choices=LANGUAGES, doc="the UI and error language; auto follows the system")
    notifications = Setting(True, doc="desktop notifications for new messages")
    start_at_login = Setting(False, doc="start the tray client when the user logs in")
    close_to_tray = Setting(True, doc="closing the window keeps the client running in the tray")
    update_channel = Setting("stable", choices=UPDATE_CHANNELS, doc="which releases the updater offers")
    device_name = Setting(this_computer, check=is_device_name, doc="how this device shows in the session list")
    remember_me = Setting(True, doc="keep the device signed in across restarts (30-day session)")

    FILE_NAME = "settings.json"

    def __init__(self, path: Path | str | None = None):
        """Settings kept in `path` (default: settings.json in the client's config folder)."""
        self.path = Path(path) if path else client_dirs().config / self.FILE_NAME
        self._lock = threading.RLock()
        self._listeners: list[Callable[[str, Any], None]] = []
        self._values, self._unknown = self._read()

    @classmethod
    def declared(cls) -> dict[str, Setting]:
        return {name: value for name, value in vars(cls).items() if isinstance(value, Setting)}

    def get(self, name: str) -> Any:
        setting = self._setting(name)
        with self._lock:
            return self._values[name] if name in self._values else setting.default()

    def set(self, name: str, value: Any) -> None:
        """Check and save one setting; a value it does not accept raises ValueError."""
        self.update(**{name: value})

    def update(self, **values: Any) -> None:
        """Check and save several settings in one write; nothing is saved if one is refused."""
        for name, value in values.items():
            setting = self._setting(name)
            if not setting.accepts(value):
                raise ValueError(f"setting {name}: {value!r} is not allowed")
        with self._lock:
            changed = {name: value for name, value in values.items() if self.get(name) != value}
            self._values.update(values)
            self._write()
        for name, value in changed.items():
            self._notify(name, value)

    def reset(self, name: str) -> None:
        """Forget the user's choice: the setting reads as its default again."""
        setting = self._setting(name)
        with self._lock:
            before = self.get(name)
            self._values.pop(name, None)
            self._write()
        if before != setting.default():
            self._notify(name, setting.default())

    def as_dict(self) -> dict[str, Any]:
        """Every setting with its current value."""
        return {name: self.get(name) for name in self.declared()}

    def add_listener(self, listener: Callable[[str, Any], None]) -> None:
        """`listener(name, new_value)` after each change, on the thread that made it."""
        self._listeners.append(listener)

    def take_presets(self, presets: dict[str, Any]) -> dict[str, Any]:
        """First start (no server chosen yet): the installer's presets become the settings the
        user has not chosen; a refused value is logged and skipped. Returns what was taken."""
        if self.server_url:
            return {}
        with self._lock:
            taken = {name: value for name, value in presets.items()
                     if name not in self._values and self._accepts_preset(name, value)}
        if taken:
            self.update(**taken)
        return taken

    def _accepts_preset(self, name: str, value: Any) -> bool:
        setting = self.declared().get(name)
        if setting is None or not setting.accepts(value):
            log.warning("settings: ignoring installer preset %s=%r", name, value)
            return False
        return True

    @property
    def effective_language(self) -> str:
        """The language to ask the server for: the chosen one, or the system's."""
        chosen = self.language
        return chosen if chosen != AUTO else system_language()

    def _setting(self, name: str) -> Setting:
        setting = self.declared().get(name)
        if setting is None:
            raise KeyError(f"no setting named {name!r}")
        return setting

    def _notify(self, name: str, value: Any) -> None:
        for listener in list(self._listeners):
            try:
                listener(name, value)
            except Exception:
                log.exception("settings listener failed for %s", name)

    def _read(self) -> tuple[dict[str, Any], dict[str, Any]]:
        try:
            raw = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}, {}
        except (OSError, ValueError) as exc:
            log.warning("settings: cannot read %s (%s); using the defaults", self.path, exc)
            return {}, {}
        if not isinstance(raw, dict):
            log.warning("settings: %s does not hold an object; using the defaults", self.path)
            return {}, {}
        declared = self.declared()
        values, unknown = {}, {}
        for name, value in raw.items():
            setting = declared.get(name)
            if setting is None:
                log.info("settings: keeping unknown setting %r as it is", name)
                unknown[name] = value
            elif setting.accepts(value):
                values[name] = value
            else:
                log.warning("settings: %s=%r is not allowed; using the default %r", name, value, setting.default())
        return values, unknown

    def _write(self) -> None:
        data = {**self._unknown, **self._values}
        write_atomic(self.path, json.dumps(data, ensure_ascii=False, indent=2, sort_keys=True) + "\n")


# The installer's registry values (HKLM\Software\Messenger from the MSI, HKCU from the per-user
# EXE) and the settings they preset. ServerFingerprint is no setting: it pins ServerUrl's
# certificate (services/trust.py), so the desk never asks.
PRESET_KEY = r"Software\Messenger"
PRESET_VALUES = {"ServerUrl": "server_url", "UpdateChannel": "update_channel",
                 "ServerFingerprint": "server_fingerprint"}


def installer_presets(platform: str = sys.platform) -> dict[str, Any]:
    """The settings the installer preset, by setting name; {} where there is no registry.
    The per-user install's values (HKCU) come before the machine's."""
    if platform != "win32":
        return {}
    import winreg  # Windows only

    presets: dict[str, Any] = {}
    for hive in (winreg.HKEY_LOCAL_MACHINE, winreg.HKEY_CURRENT_USER):
        try:
            with winreg.OpenKey(hive, PRESET_KEY) as key:
                for value_name, name in PRESET_VALUES.items():
                    try:
                        presets[name] = str(winreg.QueryValueEx(key, value_name)[0]).strip()
                    except OSError:
                        pass
        except OSError:
            continue
    return presets


def system_language() -> str:
    """The system's language if the messenger speaks it, else Korean (the default)."""
    try:
        system = locale.getlocale()[0]
    except ValueError:
        system = None
    return pick_locale(system)
