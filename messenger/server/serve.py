"""`messenger --serve`: the production server on gevent's WSGI server.

gevent (with simple-websocket) was measured against the threading mode; see the
README. The caller must have monkey-patched the standard library first.
"""

from __future__ import annotations

import gc
import io
import logging
import os
import signal
import socket
import sys
import time
from typing import TYPE_CHECKING, Any, NoReturn

from messenger.server.config import ServerConfig

if TYPE_CHECKING:
    from wsgiref.types import WSGIApplication

    from flask import Flask

log = logging.getLogger("messenger.server")


def serve(config: ServerConfig) -> int:
    import gevent

    from messenger.core.certificates import readable
    from messenger.server import discovery, jobs
    from messenger.server.app import create_app
    from messenger.server.bootstrap import ensure_first_admin
    from messenger.server.db.move import moved_note
    from messenger.server.db import database_of

    if config.database_url is None and moved_note(config.data_dir) is not None:
        # Else it would serve the SQLite file from before the move, as an office of its own.
        print(f"error DATABASE_MOVED: {moved_note(config.data_dir)}", file=sys.stderr)
        return 78  # EX_CONFIG
    app, socketio = create_app(config)
    with app.app_context():
        ensure_first_admin(config)
    if config.async_mode == "threading":
        return _serve_threading(app, socketio, config)

    ssl_args, fingerprint = {}, None
    if config.https:
        from messenger.server import tls

        if not config.cert_file and tls.switch_if_due(config.data_dir):
            log.info("switched to the prepared next certificate")
        cert, key = (config.cert_file, config.key_file) if config.cert_file else tls.ensure_certificate(config.data_dir)
        ssl_args = {"certfile": str(cert), "keyfile": str(key)}
        fingerprint = tls.certificate_fingerprint(cert)

    server = gevent_server((config.host, config.port), app, error_log=log, **ssl_args)
    # What start-up made (modules, the app, SQLAlchemy's mappers) lives as long as the process:
    # out of the collector's sight, a full collection, which holds the loop (70-100 ms seen
    # under load), walks only what serving made.
    gc.collect()
    gc.freeze()
    workers = jobs.start(app)
    server.start()
    stopping = gevent.event.Event()
    if sys.platform != "win32":
        gevent.signal_handler(signal.SIGTERM, stopping.set)
        gevent.signal_handler(signal.SIGINT, stopping.set)
        # Greenlets can be counted only from inside; only this account (or root) can signal.
        gevent.signal_handler(signal.SIGUSR1, print_greenlet_count)
    announcement = None
    if discovery.enabled_by_config(config):
        announcement = discovery.Announcement(app, server.server_port, fingerprint)
        workers.append(gevent.spawn(announcement.run))
    scheme = "https" if config.https else "http"
    if fingerprint:
        # Desks show the same groups before they trust this server for the first time.
        print(f"certificate fingerprint (SHA-256): {readable(fingerprint)}", flush=True)
    # Tests and scripts read this line to learn the port (with --port 0); from here a SIGTERM
    # is a clean stop.
    print(f"messenger server listening on {scheme}://{config.host}:{server.server_port}", flush=True)
    try:
        stopping.wait()
    except KeyboardInterrupt:  # Windows Ctrl+C
        pass
    log.info("shutting down")
    gevent.killall(workers)
    if announcement is not None:
        announcement.stop()
    server.close()  # no new connections
    # HTTP requests in flight finish (or are cut after 5 s). WebSockets are not waited for:
    # every ack they were owed left after its commit, and closing 10,000 of them one by one
    # (each a disconnect event) would take longer than the stop may; the exit closes them.
    deadline = time.monotonic() + 5
    while server.requests_in_flight and time.monotonic() < deadline:
        gevent.sleep(0.05)
    app.extensions["presence"].stop()
    database_of(app).checkpoint()
    database_of(app).close()
    print("messenger server stopped", flush=True)
    logging.shutdown()
    # Everything owed is committed and the database closed. A normal interpreter exit would
    # now end every suspended WebSocket greenlet one by one (each a disconnect event): 14 s
    # for 10,000 sockets on the busy 2-core machine.
    os._exit(0)


def print_greenlet_count() -> None:
    """SIGUSR1: one line with the live greenlets (benchmarks/soak.py reads it). The gc walk holds
    the loop, so the line says how long it took."""
    import gc
    import time

    from greenlet import greenlet

    start = time.perf_counter()
    count = sum(1 for thing in gc.get_objects() if isinstance(thing, greenlet))
    print(f"diagnostics: greenlets {count} ({(time.perf_counter() - start) * 1000:.0f} ms)", flush=True)


def gevent_server(address: tuple[str, int], app: WSGIApplication, **server_args: Any) -> Any:
    """gevent's WSGI server as `messenger --serve` runs it (the benchmark's bare relay too): Nagle
    off on every connection, and a WebSocket's connection closed with it."""
    from gevent import pywsgi
    from gevent import socket as gsocket

    # gevent has no type hints, so its classes are Any to mypy.
    class Handler(pywsgi.WSGIHandler):  # type: ignore[misc]
        rfile: Any  # the connection's buffered reader (gevent sets it)

        def handle_one_response(self) -> None:
            websocket = self.environ.get("HTTP_UPGRADE", "").lower() == "websocket"
            if not websocket:
                self.server.requests_in_flight.add(self)
            else:
                # A WebSocket reads its socket itself (simple-websocket, through the environ's
                # `wsgi.input.raw`): the 8 KiB read buffer made for HTTP would sit unused for the
                # connection's life. Nothing is left in it: a client sends no frame before the
                # handshake's answer.
                small = io.BufferedReader(self.rfile.detach(), 1)
                self.rfile = self.wsgi_input.rfile = self.environ["wsgi.input"] = small
            try:
                super().handle_one_response()
            finally:
                self.server.requests_in_flight.discard(self)
            if websocket:
                # The connection belonged to the WebSocket: reading on as keep-alive would take the
                # client's close frame for a request and make every close wait for a timeout.
                self.close_connection = True

    class OneDescriptorSocket(gsocket.socket):  # type: ignore[misc]
        """simple-websocket dups the connection's socket under gevent, so every WebSocket
        held two descriptors (10,000 sockets hit a 20,000 limit). The request's greenlet
        keeps the connection for the WebSocket's whole life, so the copy buys nothing; a
        socket that cannot be dup'ed is used as it is (as a TLS socket always was)."""

        __slots__ = ()

        def dup(self) -> NoReturn:
            raise NotImplementedError("one descriptor per connection")

    class Server(pywsgi.WSGIServer):  # type: ignore[misc]
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self.requests_in_flight: set[Handler] = set()  # HTTP requests being answered (not WebSockets)

        def handle(self, sock: Any, address: tuple[str, int]) -> None:
            # Small frames (acks, events) must not wait for Nagle's algorithm.
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if type(sock) is gsocket.socket:
                sock.__class__ = OneDescriptorSocket
            super().handle(sock, address)

    return Server(address, app, handler_class=Handler, log=None, **server_args)


def _serve_threading(app: Flask, socketio: Any, config: ServerConfig) -> int:
    """The threading mode (Werkzeug, one OS thread per connection), kept for measurement only."""
    import threading

    from werkzeug.serving import WSGIRequestHandler

    from messenger.server import jobs

    class Handler(WSGIRequestHandler):
        disable_nagle_algorithm = True  # same as the gevent server, for a fair comparison

    port = config.port
    if port == 0:  # Werkzeug does not report the port it picked, so pick one here.
        with socket.socket() as probe:
            probe.bind((config.host, 0))
            port = probe.getsockname()[1]
    print(f"messenger server listening on http://{config.host}:{port}", flush=True)
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # no line per request, as with gevent
    threading.Thread(target=jobs.checkpoint_loop, args=(app, config.wal_checkpoint_seconds), daemon=True).start()
    socketio.run(app, config.host, port, allow_unsafe_werkzeug=True, request_handler=Handler, log_output=False)
    return 0
