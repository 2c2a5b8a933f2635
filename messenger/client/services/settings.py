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
        self._presets: dict[str, Any] = {}  # the installer's: defaults for what the user has not chosen
        self._policies: dict[str, Any] = {}  # IT's: they win, and cannot be changed here

    @classmethod
    def declared(cls) -> dict[str, Setting]:
        return {name: value for name, value in vars(cls).items() if isinstance(value, Setting)}

    def get(self, name: str) -> Any:
        """IT's policy, else the user's choice, else the installer's preset, else the default."""
        setting = self._setting(name)
        with self._lock:
            for layer in (self._policies, self._values, self._presets):
                if name in layer:
                    return layer[name]
            return setting.default()

    @property
    def locked(self) -> frozenset[str]:
        """The settings a policy sets (HKLM\\Software\\Policies\\Messenger)."""
        return frozenset(self._policies)

    def set(self, name: str, value: Any) -> None:
        """Check and save one setting; a value it does not accept raises ValueError."""
        self.update(**{name: value})

    def update(self, **values: Any) -> None:
        """Check and save several settings in one write; nothing is saved if one is refused."""
        for name, value in values.items():
            setting = self._setting(name)
            if not setting.accepts(value):
                raise ValueError(f"setting {name}: {value!r} is not allowed")
            if name in self._policies and value != self._policies[name]:
                raise ValueError(f"setting {name}: set by your administrator's policy")
        # A form saves every field: the ones a policy sets are not the user's choice to keep.
        values = {name: value for name, value in values.items() if name not in self._policies}
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

    def use_machine_values(self, presets: dict[str, Any], policies: dict[str, Any]) -> None:
        """Read at every start: the installer's presets become the defaults of the settings the
        user has not chosen (so a start-at-login chosen in the installer is kept), and IT's
        policies override any choice. A value a setting does not accept is logged and skipped;
        nothing is written to the settings file. Listeners hear of every value that changes."""
        with self._lock:
            before = self.as_dict()
            self._presets = {name: value for name, value in presets.items() if self._acceptable(name, value, "preset")}
            self._policies = {name: value for name, value in policies.items() if self._acceptable(name, value, "policy")}
            after = self.as_dict()
        for name, value in after.items():
            if before[name] != value:
                self._notify(name, value)

    def _acceptable(self, name: str, value: Any, kind: str) -> bool:
        setting = self.declared().get(name)
        if setting is None or not setting.accepts(value):
            log.warning("settings: ignoring installer %s %s=%r", kind, name, value)
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
# EXE), IT's policies (HKLM\Software\Policies\Messenger, as GPO and Intune write them), and the
# settings they set.
PRESET_KEY = r"Software\Messenger"
POLICY_KEY = r"Software\Policies\Messenger"
REGISTRY_VALUES = {"ServerUrl": "server_url", "UpdateChannel": "update_channel", "StartAtLogin": "start_at_login"}
# ServerFingerprint is no setting: it pins ServerUrl's certificate (services/trust.py), so the desk
# never asks.
FINGERPRINT_VALUE = "ServerFingerprint"


def read_registry_key(hive: str, key: str) -> dict[str, Any]:
    """Every value under HIVE\\key ("HKEY_LOCAL_MACHINE", "HKEY_CURRENT_USER"); {} when the key
    is missing. 64-bit view: a 32-bit program would otherwise read WOW6432Node."""
    import winreg  # Windows only

    values = {}
    try:
        with winreg.OpenKey(getattr(winreg, hive), key, 0, winreg.KEY_READ | winreg.KEY_WOW64_64KEY) as handle:
            for index in range(winreg.QueryInfoKey(handle)[1]):
                name, value, _ = winreg.EnumValue(handle, index)
                values[name] = value
    except OSError:
        return {}
    return values


def _settings_from(raw: dict[str, Any]) -> dict[str, Any]:
    """Registry values to settings: REG_SZ strings (trimmed), REG_DWORD 0/1 for a yes/no."""
    found = {}
    for value_name, name in REGISTRY_VALUES.items():
        if value_name not in raw:
            continue
        value = raw[value_name]
        if isinstance(ClientSettings.declared()[name].default(), bool):
            found[name] = value if isinstance(value, bool) else str(value).strip() in ("1", "true")
        else:
            found[name] = str(value).strip()
    return found


def installer_presets(platform: str = sys.platform, read_key=read_registry_key) -> dict[str, Any]:
    """The settings the installer preset, by setting name; {} where there is no registry.
    The per-user install's values (HKCU) come before the machine's."""
    if platform != "win32":
        return {}
    return {**_settings_from(read_key("HKEY_LOCAL_MACHINE", PRESET_KEY)),
            **_settings_from(read_key("HKEY_CURRENT_USER", PRESET_KEY))}


def policies(platform: str = sys.platform, read_key=read_registry_key) -> dict[str, Any]:
    """The settings IT's policies set (HKLM\\Software\\Policies\\Messenger); {} elsewhere."""
    if platform != "win32":
        return {}
    return _settings_from(read_key("HKEY_LOCAL_MACHINE", POLICY_KEY))


def preset_fingerprint(platform: str = sys.platform, read_key=read_registry_key) -> str:
    """The certificate fingerprint that IT's policy, else the installer (HKCU, then HKLM), pinned
    for its ServerUrl; "" where there is none."""
    if platform != "win32":
        return ""
    for hive, key in (("HKEY_LOCAL_MACHINE", POLICY_KEY), ("HKEY_CURRENT_USER", PRESET_KEY),
                      ("HKEY_LOCAL_MACHINE", PRESET_KEY)):
        value = str(read_key(hive, key).get(FINGERPRINT_VALUE, "")).strip()
        if value:
            return value
    return ""


def system_language() -> str:
    """The system's language if the messenger speaks it, else Korean (the default)."""
    try:
        system = locale.getlocale()[0]
    except ValueError:
        system = None
    return pick_locale(system)
