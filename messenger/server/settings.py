"""Run-time server settings an admin changes (stored in `server_settings`), with their defaults."""

from __future__ import annotations

from flask import current_app

from messenger.server.db.models import ServerSetting
from messenger.server.extensions import database

DEFAULTS = {
    "mode": "hybrid",  # hybrid | desktop-only
    "self_registration": True,
}


def get(key: str):
    row = database.session.get(ServerSetting, key)
    return DEFAULTS[key] if row is None else row.value


def put(key: str, value) -> None:
    """Stage a change in the current transaction; the caller commits."""
    if key not in DEFAULTS:
        raise KeyError(key)
    row = database.session.get(ServerSetting, key)
    if row is None:
        database.session.add(ServerSetting(key=key, value=value))
    else:
        row.value = value


def desktop_only() -> bool:
    """The DESKTOP_ONLY_MODE environment variable wins over the stored mode."""
    forced = current_app.config["MESSENGER"].desktop_only_mode
    return forced if forced is not None else get("mode") == "desktop-only"
