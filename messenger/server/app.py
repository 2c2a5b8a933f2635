"""The app factory: `create_app(config) -> (app, socketio)`."""

from __future__ import annotations

import logging
import secrets
from dataclasses import replace
from pathlib import Path
from typing import cast

import socketio as socketio_manager
from flask import Flask
from flask.json.provider import DefaultJSONProvider
from flask_socketio import SocketIO
from werkzeug.middleware.proxy_fix import ProxyFix

from messenger.core.files import make_private, write_atomic
from messenger.server.config import ServerConfig
from messenger.server.errors import register_error_handlers
from messenger.server.db import Database
from messenger.server import wirejson
from messenger.server.presence import LocalPresence, RedisPresence
from messenger.server.throttle import (
    LoginThrottle,
    RateLimit,
    RedisLoginThrottle,
    RedisRateLimit,
    RedisTypingThrottle,
    RedisWindows,
    TypingThrottle,
)

log = logging.getLogger(__name__)


def secret_key(data_dir: Path) -> bytes:
    """The cookie-signing key, made on first start and kept in the data dir."""
    path = data_dir / "secret_key"
    if not path.exists():
        write_atomic(path, secrets.token_bytes(32))
    return path.read_bytes()


def share_state(app: Flask, config: ServerConfig) -> None:
    """Presence and the throttles: in memory for one process, in Redis for several on one queue."""
    login = (config.login_throttle_per_account, config.login_throttle_per_address,
             config.login_throttle_window_seconds)
    if not config.message_queue:
        app.extensions.update(presence=LocalPresence(), login_throttle=LoginThrottle(*login),
                              search_rate=RateLimit(config.search_per_minute, 60), typing_throttle=TypingThrottle())
        return
    import redis

    client = redis.Redis.from_url(config.message_queue)
    windows = RedisWindows(client, "messenger:")
    app.extensions.update(presence=RedisPresence(client), login_throttle=RedisLoginThrottle(windows, *login),
                          search_rate=RedisRateLimit(windows, "search", config.search_per_minute, 60),
                          typing_throttle=RedisTypingThrottle(windows))


def create_app(config: ServerConfig, *, serving: bool = True) -> tuple[Flask, SocketIO]:
    """`serving` False (the admin command): with a queue, only send to it, so a change made there
    closes the sockets it ends at once on every server process."""
    data_dir = Path(config.data_dir)
    data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    for problem in make_private(data_dir):  # the database, secrets and uploads are the server's alone
        log.warning("cannot make private: %s", problem)

    app = Flask("messenger.server", static_folder=None)  # no static files: every route is the API's
    app.config.update(
        MESSENGER=config,
        SECRET_KEY=secret_key(data_dir),
        MAX_CONTENT_LENGTH=config.max_request_bytes,
        SESSION_COOKIE_NAME="messenger_session",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=config.https,
        JSON_SORT_KEYS=False,
        TESTING=config.testing,
    )
    cast(DefaultJSONProvider, app.json).ensure_ascii = False  # Flask's own provider, made by Flask()
    share_state(app, config)

    database = Database()
    database.open(config.sqlalchemy_url, config.sqlite_synchronous)
    database.migrate()
    app.extensions["database"] = database

    @app.teardown_appcontext
    def _end_session(_exc: BaseException | None) -> None:
        database.session.remove()

    register_error_handlers(app)
    from messenger.server.http import register_blueprints

    register_blueprints(app)
    if config.trusted_proxies:
        # Behind a front: the address the sign-in throttle counts is the desk's, not the front's.
        app.wsgi_app = ProxyFix(  # type: ignore[method-assign]  # Flask's documented way to wrap it
            app.wsgi_app, x_for=config.trusted_proxies, x_proto=config.trusted_proxies)

    socketio = SocketIO()  # this app's own (extensions.socketio finds it through the app in context)
    socketio.init_app(
        app,
        async_mode=config.async_mode,
        cors_allowed_origins=list(config.allowed_origins) or None,  # None: same origin only
        max_http_buffer_size=config.max_request_bytes,
        # One sender's events are handled in the order they arrive.
        async_handlers=False,
        # The connect reads the cookie session once; the other events never touch it (`bind_events`).
        manage_session=False,
        ping_interval=20,
        ping_timeout=20,
        json=wirejson,
        # With a queue, an emit, a disconnect or a room change reaches sockets on every process.
        **({"client_manager": socketio_manager.RedisManager(config.message_queue, channel="messenger",
                                                            write_only=not serving)}
           if config.message_queue else {}),
    )
    from messenger.server.realtime.handlers import bind_events

    bind_events(socketio)

    return app, socketio


def command_app(config: ServerConfig) -> Flask:
    """The app of a command that serves nothing (`messenger admin`, `--workers`' setup): in
    threading mode, as gevent's Redis client would want a patched socket, and with a queue only
    sent to."""
    app, _ = create_app(replace(config, async_mode="threading"), serving=False)
    return app
