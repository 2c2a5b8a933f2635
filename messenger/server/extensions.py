"""Extensions created unbound here and bound to the app in `create_app`."""

from flask_socketio import SocketIO

from messenger.server.db import database

socketio = SocketIO()

__all__ = ["database", "socketio"]
