"""The real program with handlers broken on purpose, to show that the checks catch them.

Run as the server command of `ServerProcess(command=broken_server_command(...))`: it wraps
`create_app` before `messenger.cli.main` runs, so nothing in the package knows about it (no
test switch in a production path). `BROKEN` (comma-separated, read here only) picks what breaks:

- `socket_raises`: the `typing` event raises an unexpected exception;
- `socket_writes_then_refuses`: `edit_message` stores the edit, then refuses;
- `http_raises`: `GET /api/users` raises an unexpected exception;
- `http_off_spec`: `GET /api/system/health` answers a body that breaks the API description.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

SECRET_IN_PAYLOAD = "do-not-log-this-text"


def broken_server_command(*broken: str) -> tuple[list[str], dict]:
    """The `command` and `env` for ServerProcess."""
    return [sys.executable, str(Path(__file__).resolve())], {"BROKEN": ",".join(broken)}


def break_app(app, socketio, broken: set[str]) -> None:
    from messenger.core import protocol
    from messenger.server.errors import ApiError
    from messenger.server.realtime import handlers, messages

    if "socket_raises" in broken:
        @handlers.socket_event(protocol.TYPING)
        def typing_raises(caller, data):
            raise RuntimeError("broken on purpose")

    if "socket_writes_then_refuses" in broken:
        @handlers.socket_event(protocol.EDIT_MESSAGE)
        def edit_then_refuse(caller, data):
            messages.on_edit_message(caller, data)
            raise ApiError("FORBIDDEN")

    handlers.bind_events(socketio)  # the events above replace the ones create_app bound

    if "http_raises" in broken:
        def users_raises():
            raise RuntimeError("broken on purpose")

        app.view_functions["users.list_users"] = users_raises

    if "http_off_spec" in broken:
        app.view_functions["system.health"] = lambda: {"status": 5}


def main() -> int:
    if "--serve" in sys.argv:
        from gevent import monkey

        monkey.patch_all()  # before anything imports threading, as messenger.cli.main does
    from messenger.server import app as app_module

    make_app = app_module.create_app
    broken = set(filter(None, os.environ.get("BROKEN", "").split(",")))

    def create_broken_app(config, **options):
        app, socketio = make_app(config, **options)
        break_app(app, socketio, broken)
        return app, socketio

    app_module.create_app = create_broken_app
    from messenger.cli import main as messenger_main

    return messenger_main()


if __name__ == "__main__":
    sys.exit(main())
