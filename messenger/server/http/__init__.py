"""HTTP routes, one blueprint per resource."""

from __future__ import annotations

from flask import Flask


def register_blueprints(app: Flask) -> None:
    from messenger.server.http import accounts, device_sessions, events, messages, rooms, system, users

    for module in (system, device_sessions, accounts, users, rooms, messages, events):
        app.register_blueprint(module.bp)
