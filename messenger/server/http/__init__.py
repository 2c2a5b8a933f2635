"""HTTP routes, one blueprint per resource."""

from __future__ import annotations

from flask import Flask


def register_blueprints(app: Flask) -> None:
    from messenger.server.http import (
        accounts, admin, client_update, device_sessions, events, files, keys, messages, polls, rooms, search, system,
        updates, users,
    )
    from messenger.server.params import IdConverter
    from messenger.server import web

    app.url_map.converters["int"] = IdConverter

    for module in (system, device_sessions, accounts, users, rooms, messages, events, keys, admin, client_update,
                   files, polls, search, updates, web):
        app.register_blueprint(module.bp)
