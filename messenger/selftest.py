"""`messenger --self-test`: does this build carry everything the server and the client load at run time?

A frozen build finds out only when it runs that a hidden import, a data file or a Qt plugin was
left behind, so every such piece is tried here: one line per check, `ok name: detail` or
`FAIL name: detail`, and the exit status is 0 only if nothing failed. Runs from sources too
(`python -m messenger --self-test`).
"""

from __future__ import annotations

import importlib
import os
import platform
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

from messenger import __version__
from messenger.programs import console_command

# Set for the child process that starts Qt (see `_qt_gui_starts`).
QT_PROBE_ENV = "MESSENGER_SELF_TEST_QT_PROBE"
QT_MODULES = ("QtCore", "QtGui", "QtWidgets", "QtNetwork")


class CheckFailed(Exception):
    """A check's piece is missing or broken; the message says which."""


def run() -> int:
    """Run every check, print one line each, and return the exit status (0: all ok)."""
    if os.environ.get(QT_PROBE_ENV):
        return _qt_probe()
    failed = 0
    for name, check in CHECKS:
        try:
            status, detail = "ok", check()
        except Exception as exc:  # noqa: BLE001 - any breakage is a finding, not a crash
            status, detail = "FAIL", str(exc) if isinstance(exc, CheckFailed) else f"{type(exc).__name__}: {exc}"
            failed += 1
        print(f"{status} {name}: {detail}", flush=True)
    return 1 if failed else 0


def _build() -> str:
    kind = f"frozen at {Path(sys.executable).parent}" if getattr(sys, "frozen", False) else "from sources"
    return f"messenger {__version__} {kind}, Python {platform.python_version()}, {sys.platform}-{platform.machine()}"


def _qt_platform_plugins() -> str:
    try:
        QtCore = importlib.import_module("PySide6.QtCore")
    except ImportError as exc:
        raise CheckFailed(f"PySide6 cannot be imported: {exc}") from None
    plugins = Path(QtCore.QLibraryInfo.path(QtCore.QLibraryInfo.LibraryPath.PluginsPath)) / "platforms"
    if sys.platform == "win32":
        required = ["qwindows.dll", "qoffscreen.dll"]
    elif sys.platform == "darwin":
        required = ["libqcocoa.dylib", "libqoffscreen.dylib"]
    else:
        required = ["libqxcb.so", "libqoffscreen.so"]
    missing = [name for name in required if not (plugins / name).is_file()]
    if missing:
        raise CheckFailed(f"missing {', '.join(missing)} in {plugins}")
    return f"Qt {QtCore.qVersion()}, {', '.join(required)} in {plugins}"


def _qt_gui_starts() -> str:
    # In a child process: a Qt platform plugin that cannot load aborts the whole process.
    env = {**os.environ, QT_PROBE_ENV: "1", "QT_QPA_PLATFORM": "offscreen"}
    try:
        probe = subprocess.run([*console_command(), "--self-test"], env=env, capture_output=True, text=True, timeout=60)
    except subprocess.TimeoutExpired:
        raise CheckFailed("QGuiApplication did not start within 60 s") from None
    if probe.returncode != 0:
        # The probe's own one-line report, or what Qt said before it aborted.
        output = [line.strip() for line in (probe.stdout + probe.stderr).splitlines() if line.strip()]
        raise CheckFailed(f"QGuiApplication (offscreen) exited with {probe.returncode}: {' | '.join(output[-3:])}")
    return probe.stdout.strip()


def _qt_probe() -> int:
    """The child of `_qt_gui_starts`: import the client's Qt modules and start a QGuiApplication."""
    try:
        modules = {name: importlib.import_module(f"PySide6.{name}") for name in QT_MODULES}
        app = modules["QtGui"].QGuiApplication(["messenger-self-test"])
    except Exception as exc:  # noqa: BLE001 - reported to the parent as one line
        print(f"{type(exc).__name__}: {exc}", flush=True)
        return 1
    print(f"QGuiApplication started on {app.platformName()}; {', '.join(QT_MODULES)} import", flush=True)
    return 0


def _keyring() -> str:
    import keyring

    from messenger.client.services.session_store import SessionStore, usable_keyring

    resolved = keyring.get_keyring()
    name = f"{type(resolved).__module__}.{type(resolved).__name__}"
    # A desktop OS always has a keyring: resolving to none there means the bundle lacks its backend.
    # Headless Linux has none, and the session store's protected file is the documented fallback.
    if sys.platform in ("win32", "darwin") and not usable_keyring(resolved):
        raise CheckFailed(f"keyring resolves to {name}: the OS keyring backend is not in this build")
    with tempfile.TemporaryDirectory() as scratch:
        store = SessionStore(scratch, backend=resolved).describe_backend()
    return f"device tokens go to {store.replace(scratch, '<client data>')}; keyring resolves to {name}"


def _async_driver() -> str:
    import engineio
    import gevent

    # By name, as the server loads them: an import statement here would put them in the bundle
    # whatever the spec says, and the check would prove nothing.
    for name in ("engineio.async_drivers.gevent", "simple_websocket"):
        importlib.import_module(name)
    mode = engineio.Server(async_mode="gevent").async_mode
    from messenger.server import wirejson  # orjson: every socket packet goes through it

    if wirejson.loads(wirejson.dumps({"ok": [1, "é"]})) != {"ok": [1, "é"]}:
        raise CheckFailed("the server's JSON (orjson) does not round-trip")
    return f"engineio async_mode {mode}, gevent {gevent.__version__}, simple-websocket, orjson"


def _websocket_client() -> str:
    from importlib.metadata import version

    import engineio.client

    # engineio's client imports both inside a try: without websocket-client it quietly falls back
    # to long-polling, without requests it cannot connect at all.
    for name in ("websocket", "requests"):
        if getattr(engineio.client, name) is None:
            raise CheckFailed(f"the Socket.IO client cannot import {name}")
    return f"websocket-client {version('websocket-client')} and requests {version('requests')} in the Socket.IO client"


def _mdns() -> str:
    from importlib.metadata import version

    # The compiled modules that make and read packets, by name as zeroconf's own C code loads them.
    dns = importlib.import_module("zeroconf._dns")
    outgoing = importlib.import_module("zeroconf._protocol.outgoing")
    incoming = importlib.import_module("zeroconf._protocol.incoming")
    from zeroconf import ServiceInfo

    info = ServiceInfo("_messenger._tcp.local.", "Self test._messenger._tcp.local.", port=5000,
                       addresses=[bytes([10, 0, 0, 1])], properties={"fp": "AB"}, server="self-test.local.")
    packet = outgoing.DNSOutgoing(0x8400)
    packet.add_answer_at_time(info.dns_text(), 0)
    parsed = incoming.DNSIncoming(packet.packets()[0])
    if not parsed.answers() or not isinstance(parsed.answers()[0], dns.DNSText):
        raise CheckFailed("a DNS-SD record did not survive a round trip")
    return f"zeroconf {version('zeroconf')}: a DNS-SD record written and read back"


def _update_trust_root() -> str:
    from tuf.api.metadata import Metadata, Root

    from messenger.client.services.updater import TRUST_ROOT

    # By name, as the updater imports it on its first check: tufup's package imports its
    # repository tools too, and those import setuptools.
    importlib.import_module("tufup.client")

    # Without it the program can never verify an update, so a build without one is no build.
    if not TRUST_ROOT.exists():
        raise CheckFailed(f"no {TRUST_ROOT.name} in this build: build it with build/build.py --trust-root "
                          "REPO/metadata/root.json (see updates/README.md)")
    try:
        root = Metadata[Root].from_bytes(TRUST_ROOT.read_bytes())
        root.verify_delegate(Root.type, root)  # self-signed by its own threshold of root keys
    except Exception as exc:  # noqa: BLE001 - any parse or signature error means a broken root
        raise CheckFailed(f"{TRUST_ROOT.name} does not load: {exc}") from None
    if not isinstance(root.signed, Root):
        raise CheckFailed(f"{TRUST_ROOT.name} is {root.signed.type} metadata, not root")
    return f"{TRUST_ROOT.name} version {root.signed.version}, expires {root.signed.expires:%Y-%m-%d}; tufup client loads"


def _database_driver() -> str:
    import sqlite3

    connection = sqlite3.connect(":memory:")
    try:
        connection.execute("CREATE VIRTUAL TABLE t USING fts5(x)")
        connection.execute("INSERT INTO t VALUES ('office messenger')")
        hits = connection.execute("SELECT count(*) FROM t WHERE t MATCH 'messenger'").fetchone()[0]
    except sqlite3.OperationalError as exc:
        raise CheckFailed(f"SQLite {sqlite3.sqlite_version} without FTS5: {exc}") from None
    finally:
        connection.close()
    if hits != 1:
        raise CheckFailed(f"an FTS5 query found {hits} rows, not 1")
    # PostgreSQL: the dialect SQLAlchemy loads by name, and psycopg's compiled implementation.
    importlib.import_module("sqlalchemy.dialects.postgresql.psycopg")
    import psycopg

    if psycopg.pq.__impl__ not in ("binary", "c"):
        raise CheckFailed(f"psycopg {psycopg.__version__} without its compiled implementation ({psycopg.pq.__impl__})")
    return f"sqlite3 {sqlite3.sqlite_version} with FTS5; psycopg {psycopg.__version__} ({psycopg.pq.__impl__})"



def _message_queue() -> str:
    # python-socketio imports the Redis client inside a try: a program without it would start
    # and only fail when a server on a queue (MESSENGER_MESSAGE_QUEUE) first sends.
    from socketio import redis_manager

    if redis_manager.redis is None:
        raise CheckFailed("the redis client is missing: python-socketio cannot use a Redis message queue")
    client = redis_manager.redis.Redis.from_url("redis://127.0.0.1:6379/0")  # makes no connection
    client.register_script("return 1")
    return f"redis {redis_manager.redis.__version__}"

def _migrations() -> str:
    from alembic.script import ScriptDirectory
    from sqlalchemy import inspect

    from messenger.server.db import MIGRATIONS, Database

    missing = [name for name in ("env.py", "script.py.mako") if not (MIGRATIONS / name).is_file()]
    if missing:
        raise CheckFailed(f"missing {', '.join(missing)} in {MIGRATIONS}")
    scripts = ScriptDirectory(str(MIGRATIONS))
    revisions = list(scripts.walk_revisions())
    if not revisions:
        raise CheckFailed(f"no migration in {MIGRATIONS / 'versions'}")
    # Apply them for real: the migration files import what the bundle must also carry.
    with tempfile.TemporaryDirectory() as scratch:
        database = Database()
        database.open(f"sqlite:///{Path(scratch) / 'self-test.db'}")
        try:
            database.migrate()
            tables = set(inspect(database.engine).get_table_names())
        finally:
            database.close()
    if not {"users", "messages"} <= tables:
        raise CheckFailed(f"the migrations made tables {sorted(tables)}, without users and messages")
    return f"{len(revisions)} revisions to head {scripts.get_current_head()}, applied to a scratch database"


def _api_description() -> str:
    import json

    from messenger.server.http.system import API_DESCRIPTION

    if not API_DESCRIPTION.is_file():
        raise CheckFailed(f"missing {API_DESCRIPTION}")
    document = json.loads(API_DESCRIPTION.read_text(encoding="utf-8"))
    return f"OpenAPI {document['openapi']}, {len(document['paths'])} paths"


def _e2e() -> str:
    from messenger.core.e2e import (
        DeviceKeys,
        RoomKeyring,
        decrypt_envelope,
        encrypt_envelope,
        new_room_key,
        open_sealed,
        seal_to_device,
    )
    from messenger.core.e2e.identity import IdentityKeys, device_signed_by
    from messenger.core.e2e.signed import SenderDevice, SignedEnvelope, seal_message

    plaintext = "self-test 안녕하세요"
    for room_key, fmt in ((new_room_key(), "v3"), ("legacy room key", "v2")):
        envelope = encrypt_envelope(plaintext, room_key, fmt)
        if not envelope.startswith(f"{fmt}:") or decrypt_envelope(envelope, room_key) != plaintext:
            raise CheckFailed(f"a {fmt} envelope did not round-trip")
    sender, recipient = DeviceKeys.generate(), DeviceKeys.generate()
    sealed = seal_to_device(b"room key", recipient.public_key, sender.signing)
    if open_sealed(sealed, recipient.exchange, sender.signing_public_key) != b"room key":
        raise CheckFailed("a package sealed to a device did not open")
    # v5 reads verify with the bundled libsodium (PyNaCl), which nothing else here loads.
    identity, keys = IdentityKeys.generate(), (sender.public_key, sender.signing_public_key)
    device = SenderDevice(1, 1, *keys, identity.sign_device(1, 1, *keys))
    keyring = RoomKeyring([new_room_key()])
    signed = SignedEnvelope.read(seal_message(keyring, 7, device, sender.signing, plaintext, 1), 7)
    if not device_signed_by(identity.public_key, signed.sender.identity_signature, 1, 1, *keys):
        raise CheckFailed("a device signed by an identity did not verify")
    if signed.open(keyring).text != plaintext:
        raise CheckFailed("a v5 envelope did not round-trip")
    return ("v5 (signed, libsodium) and v3 (AES-256-GCM) and v2 envelopes round-trip; "
            "X25519 + Ed25519 sealing opens")


def _password_hashing() -> str:
    from argon2.low_level import Type, hash_secret_raw

    # The smallest cost: this checks the bundled argon2 library, not the server's parameters.
    digest = hash_secret_raw(b"password", b"self-test salt", time_cost=1, memory_cost=8, parallelism=1,
                             hash_len=16, type=Type.ID)
    if len(digest) != 16:
        raise CheckFailed("argon2id returned a digest of the wrong length")
    import bcrypt

    # Accounts imported from v4 sign in with its bcrypt hashes once (the smallest cost here).
    if not bcrypt.checkpw(b"password", bcrypt.hashpw(b"password", bcrypt.gensalt(4))):
        raise CheckFailed("bcrypt does not verify its own hash")
    return "argon2id, bcrypt"


def _windows_toasts() -> str:
    if sys.platform != "win32":
        return "not Windows"
    from messenger.client.services.desktop_notifications import DesktopNotifications
    from messenger.client.services.notification_doctor import SystemDesktop

    # By name: the WinRT projections are loaded from C, where PyInstaller cannot see them.
    importlib.import_module("windows_toasts")
    if not SystemDesktop(tray_available=True).shortcut_has_app_id():
        return "windows-toasts loads; none shown: no Start-menu shortcut carries the AppUserModelID (not installed)"
    notifications = DesktopNotifications(lambda room_id: None, lambda room_id: None)
    notifications.start()
    if not notifications.show(0, "Messenger", "Self-test"):
        raise CheckFailed(f"Windows took no toast ({notifications.service or 'windows-toasts unusable'})")
    return "a toast shown, its link the test notification's room"


CHECKS: list[tuple[str, Callable[[], str]]] = [
    ("build", _build),
    ("qt platform plugins", _qt_platform_plugins),
    ("qt gui", _qt_gui_starts),
    ("keyring", _keyring),
    ("async driver", _async_driver),
    ("websocket-client", _websocket_client),
    ("mdns", _mdns),
    ("update trust root", _update_trust_root),
    ("database driver", _database_driver),
    ("message queue", _message_queue),
    ("migrations", _migrations),
    ("api description", _api_description),
    ("e2e primitives", _e2e),
    ("password hashing", _password_hashing),
    ("windows toasts", _windows_toasts),
]
