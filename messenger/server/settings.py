"""Run-time server settings an admin changes (stored in `server_settings`), with their defaults.

Every setting has a validator: `validate(key, value)` returns the value to store, complete
and normalised, or raises `SettingInvalid` naming the (sub)key. The admin API and
`messenger admin settings set` both go through it, so nothing unchecked is ever stored.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence
from typing import Any
from urllib.parse import urlsplit

from flask import current_app
from packaging.version import InvalidVersion, Version
from sqlalchemy import Connection, bindparam, select

from messenger.server.config import ServerConfig
from messenger.server.db.models import Room, ServerSetting
from messenger.server.extensions import database

MODES = ("hybrid", "desktop-only")
E2E_POLICIES = ("required", "optional", "off")
CHANNELS = ("stable", "canary")
MAX_DAYS = 36_500
MAX_URL_CHARS = 500
MAX_OFFICE_NAME_BYTES = 63  # a DNS-SD instance name is one DNS label

# A setting's value is JSON, whose shape its validator alone knows: Any.
DEFAULTS: dict[str, Any] = {
    "mode": "hybrid",  # hybrid | desktop-only
    "self_registration": True,
    "e2e_policy": "required",  # required | optional | off
    # Messages older than `days` are deleted for good; `rooms` overrides it per room
    # ({"<room id>": days, or null to keep that room's messages forever}).
    "retention": {"days": None, "rooms": {}},
    "audit_retention_days": 365,
    # How the server is announced on the office network (DNS-SD); "" means the machine's name.
    "office_name": "",
    # Announce the server on the local network (never in dev mode; see discovery.py).
    "discovery": True,
    # Per update channel; a missing latest_version means "the server's own version".
    "release_policy": {
        channel: {"minimum_version": "0.0.0", "latest_version": None, "download_url": None,
                  "release_notes_url": None}
        for channel in CHANNELS
    },
}


Validator = Callable[[str, Any], Any]


class SettingInvalid(ValueError):
    """A value refused by a validator; `str()` names the key, e.g. `retention.days: ...`."""


def get(key: str) -> Any:
    row = database.session.get(ServerSetting, key)
    return copy.deepcopy(DEFAULTS[key]) if row is None else row.value


_VALUE = select(ServerSetting.value).where(ServerSetting.key == bindparam("key"))


def read(connection: Connection, key: str) -> Any:
    """`get` on a Core connection (the group writer's transaction), without the ORM session."""
    value = connection.scalar(_VALUE, {"key": key})
    return copy.deepcopy(DEFAULTS[key]) if value is None else value


def get_all() -> dict[str, Any]:
    return {key: get(key) for key in DEFAULTS}


def put(key: str, value: Any) -> None:
    """Stage a change in the current transaction; the caller commits."""
    if key not in DEFAULTS:
        raise KeyError(key)
    row = database.session.get(ServerSetting, key)
    if row is None:
        database.session.add(ServerSetting(key=key, value=value))
    else:
        row.value = value


def mode_forced() -> bool | None:
    """The DESKTOP_ONLY_MODE environment override, or None when the stored mode decides."""
    config: ServerConfig = current_app.config["MESSENGER"]
    return config.desktop_only_mode


def desktop_only() -> bool:
    """The DESKTOP_ONLY_MODE environment variable wins over the stored mode."""
    forced = mode_forced()
    return forced if forced is not None else get("mode") == "desktop-only"


# --- validation ----------------------------------------------------------------------------

def validate(key: str, value: Any) -> Any:
    """The value to store for `key`, or SettingInvalid naming what is wrong."""
    if key not in VALIDATORS:
        raise SettingInvalid(f"{key}: unknown setting (known: {', '.join(DEFAULTS)})")
    return VALIDATORS[key](key, value)


def _choice(choices: Sequence[str]) -> Validator:
    def check(name: str, value: Any) -> str:
        if not isinstance(value, str) or value not in choices:
            raise SettingInvalid(f"{name}: must be one of {', '.join(choices)}")
        return value
    return check


def _bool(name: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise SettingInvalid(f"{name}: must be true or false")
    return value


def _days(name: str, value: Any, low: int = 1, nullable: bool = False) -> int | None:
    if value is None and nullable:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= MAX_DAYS:
        raise SettingInvalid(f"{name}: must be a whole number of days from {low} to {MAX_DAYS}"
                             + (", or null" if nullable else ""))
    return value


def _object(name: str, value: Any, known: set[str]) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise SettingInvalid(f"{name}: must be an object")
    unknown = sorted(set(value) - known)
    if unknown:
        raise SettingInvalid(f"{name}.{unknown[0]}: unknown key (known: {', '.join(sorted(known))})")
    return value


def _retention(name: str, value: Any) -> dict[str, Any]:
    value = _object(name, value, {"days", "rooms"})
    rooms = value.get("rooms") or {}
    if not isinstance(rooms, dict):
        raise SettingInvalid(f"{name}.rooms: must be an object of room id -> days")
    checked: dict[str, int | None] = {}
    for room_key, days in rooms.items():
        label = f"{name}.rooms.{room_key}"
        room_id = str(room_key).strip()
        if not room_id.isdigit() or database.session.get(Room, int(room_id)) is None:
            raise SettingInvalid(f"{label}: no such room")
        checked[str(int(room_id))] = _days(label, days, nullable=True)
    return {"days": _days(f"{name}.days", value.get("days"), nullable=True), "rooms": checked}


def parse_version(name: str, value: Any) -> Version:
    """A PEP 440 version, or SettingInvalid naming `name`."""
    if not isinstance(value, str):
        raise SettingInvalid(f"{name}: must be a version string like 1.2.0")
    try:
        return Version(value)
    except InvalidVersion:
        raise SettingInvalid(f"{name}: {value!r} is not a version (PEP 440, e.g. 1.2.0 or 1.3.0a1)") from None


def _url(name: str, value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, str) and len(value) <= MAX_URL_CHARS:
        parts = urlsplit(value)
        if parts.scheme in ("http", "https") and parts.netloc:
            return value
    raise SettingInvalid(f"{name}: must be an http(s) URL of at most {MAX_URL_CHARS} characters")


def _channel_policy(name: str, channel: str, value: Any) -> dict[str, str | None]:
    value = _object(name, value, set(DEFAULTS["release_policy"][channel]))
    minimum = parse_version(f"{name}.minimum_version", value.get("minimum_version", "0.0.0"))
    latest = value.get("latest_version")
    if latest is not None:
        latest_version = parse_version(f"{name}.latest_version", latest)
        if latest_version < minimum:
            raise SettingInvalid(f"{name}.latest_version: must not be older than minimum_version")
        if channel == "stable" and latest_version.is_prerelease:
            raise SettingInvalid(f"{name}.latest_version: a pre-release belongs on the canary channel")
    if channel == "stable" and minimum.is_prerelease:
        raise SettingInvalid(f"{name}.minimum_version: a pre-release belongs on the canary channel")
    return {
        "minimum_version": str(minimum),
        "latest_version": None if latest is None else str(Version(latest)),
        "download_url": _url(f"{name}.download_url", value.get("download_url")),
        "release_notes_url": _url(f"{name}.release_notes_url", value.get("release_notes_url")),
    }


def _release_policy(name: str, value: Any) -> dict[str, dict[str, str | None]]:
    """Both channels, complete; a channel left out gets its default."""
    value = _object(name, value, set(CHANNELS))
    return {channel: _channel_policy(f"{name}.{channel}", channel,
                                     value.get(channel, DEFAULTS["release_policy"][channel]))
            for channel in CHANNELS}


def _office_name(name: str, value: Any) -> str:
    if not isinstance(value, str):
        raise SettingInvalid(f"{name}: must be text")
    text = value.strip()
    if len(text.encode("utf-8")) > MAX_OFFICE_NAME_BYTES or any(not ch.isprintable() for ch in text):
        raise SettingInvalid(f"{name}: at most {MAX_OFFICE_NAME_BYTES} bytes of printable text")
    return text


VALIDATORS: dict[str, Validator] = {
    "mode": _choice(MODES),
    "self_registration": _bool,
    "e2e_policy": _choice(E2E_POLICIES),
    "retention": _retention,
    "audit_retention_days": lambda name, value: _days(name, value, low=30),
    "release_policy": _release_policy,
    "office_name": _office_name,
    "discovery": _bool,
}
