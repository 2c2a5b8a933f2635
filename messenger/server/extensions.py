"""Each app's extensions, reached through the app in context: `create_app` opens the database
and makes the Socket.IO binding for its app, so two apps in one process share neither."""

from typing import cast

from flask import Flask, current_app
from flask_socketio import SocketIO
from werkzeug.local import LocalProxy

from messenger.server.db import database


def socketio_of(app: Flask) -> SocketIO:
    """The Socket.IO binding `create_app` made for `app` (Flask-SocketIO's `init_app` keeps it there)."""
    found: SocketIO = app.extensions["socketio"]
    return found


# The binding of the app in context, looked up at each use: every emit happens in an app context
# (a request, a socket event, a group writer's batch, a job).
socketio = cast(SocketIO, LocalProxy(lambda: socketio_of(current_app)))

__all__ = ["database", "socketio", "socketio_of"]
