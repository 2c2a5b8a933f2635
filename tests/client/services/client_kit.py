"""Helpers for the client services tests: a keyring in memory, a TCP relay that can cut
or refuse connections, an event recorder, accounts on the real test server, a private D-Bus
session bus with a desktop notification service on it, and HKCU as a dict."""

from __future__ import annotations

import contextlib
import queue
import socket
import subprocess
import threading
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

from keyring.backend import KeyringBackend
from keyring.errors import PasswordDeleteError

from harness import PASSWORD, unique_name
from messenger.client.services.api import ApiClient
from messenger.client.services.keys import E2EKeys
from messenger.client.services.messages import read_content
from messenger.client.services.session_store import SessionStore
from messenger.core.e2e import BackupCost

CHEAP_BACKUP = BackupCost(memory_kib=1024, time_cost=1, parallelism=1)


class MemoryKeyring(KeyringBackend):
    """A real keyring backend that keeps its secrets in a dict (unit tests only)."""

    priority = 1

    def __init__(self):
        super().__init__()
        self.secrets: dict[tuple[str, str], str] = {}

    def get_password(self, service, username):
        return self.secrets.get((service, username))

    def set_password(self, service, username, password):
        self.secrets[(service, username)] = password

    def delete_password(self, service, username):
        if self.secrets.pop((service, username), None) is None:
            raise PasswordDeleteError("not stored")


def new_account(server) -> str:
    """Register a user through the public API; returns the username (password: PASSWORD)."""
    name = unique_name()
    reply = server.api().post("/api/register", json={"username": name, "password": PASSWORD, "nickname": name})
    assert reply.status_code == 201, reply.text
    return name


def signed_in(url: str, username: str, store: SessionStore | None = None, **kwargs) -> ApiClient:
    api = ApiClient(url, store, **kwargs)
    api.sign_in(username, PASSWORD, device_name="client services test")
    return api


class Relay:
    """A TCP relay in front of a server: a test can cut the live connections, refuse new
    ones (the server looks down), or follow a restarted server to its new port."""

    def __init__(self, target_url: str):
        self.scheme = urlsplit(target_url).scheme
        self.retarget(target_url)
        self.accepting = True
        self._pairs: set[socket.socket] = set()
        self._lock = threading.Lock()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"{self.scheme}://127.0.0.1:{self._listener.getsockname()[1]}"
        self._closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    def retarget(self, target_url: str) -> None:
        parts = urlsplit(target_url)
        self.target = (parts.hostname, parts.port)

    def cut(self) -> None:
        """Close every live connection abruptly, as a dropped network would."""
        with self._lock:
            pairs, self._pairs = self._pairs, set()
        for sock in pairs:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            sock.close()

    def down(self) -> None:
        """Refuse new connections and cut the live ones."""
        self.accepting = False
        self.cut()

    def up(self) -> None:
        self.accepting = True

    def close(self) -> None:
        self._closed = True
        self.down()
        self._listener.close()

    def _accept(self) -> None:
        while not self._closed:
            try:
                inbound, _ = self._listener.accept()
            except OSError:
                return
            if not self.accepting:
                inbound.close()
                continue
            try:
                outbound = socket.create_connection(self.target, timeout=5)
                outbound.settimeout(None)
            except OSError:
                inbound.close()
                continue
            with self._lock:
                self._pairs.update((inbound, outbound))
            for source, sink in ((inbound, outbound), (outbound, inbound)):
                threading.Thread(target=self._pump, args=(source, sink), daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        for sock in (source, sink):
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


class Recorder:
    """A callback that keeps what it is called with and lets a test wait for it."""

    def __init__(self):
        self.calls: list = []
        self._changed = threading.Condition()

    def __call__(self, *args):
        with self._changed:
            self.calls.append(args[0] if len(args) == 1 else args)
            self._changed.notify_all()

    def wait_for(self, predicate, timeout: float = 15.0) -> list:
        """Wait until `predicate(calls)` holds; returns a copy of the calls."""
        with self._changed:
            if not self._changed.wait_for(lambda: predicate(self.calls), timeout):
                raise TimeoutError(f"not seen within {timeout}s; calls: {self.calls!r}")
            return list(self.calls)


def wait_until(condition, timeout: float = 15.0, step: float = 0.02):
    """Poll `condition()` until it is truthy (for state kept by a background thread)."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"condition not met within {timeout}s")
        time.sleep(step)


class FakeRegistry(dict):
    """windows_shell.CurrentUserRegistry's values in a dict: {(key, value name): value}."""

    def get(self, key, name):
        return super().get((key, name))

    def set(self, key, name, value):
        self[(key, name)] = value


@dataclass
class FakeDesktop:
    """What the system says about notifications (notification_doctor.DesktopState): everything lets
    them through, unless a test says otherwise."""

    platform: str = "win32"
    focus: int | None = 0
    shell: int | None = 5  # QUNS_ACCEPTS_NOTIFICATIONS
    toasts: bool | None = True
    app_switch: bool | None = True
    shortcut: bool | None = True
    service: str | None = "dunst 1.9 (knopwob)"
    tray: bool = True

    def focus_assist(self):
        return self.focus

    def user_notification_state(self):
        return self.shell

    def windows_toasts_enabled(self):
        return self.toasts

    def windows_app_enabled(self):
        return self.app_switch

    def shortcut_has_app_id(self):
        return self.shortcut

    def notification_service(self):
        return self.service

    def tray_available(self):
        return self.tray


@contextlib.contextmanager
def private_session_bus():
    """A dbus-daemon of the test's own: yields its address."""
    daemon = subprocess.Popen(["dbus-daemon", "--session", "--nofork", "--print-address=1"],
                              stdout=subprocess.PIPE, text=True)
    try:
        yield daemon.stdout.readline().strip()
    finally:
        daemon.terminate()
        daemon.wait(10)


class NotificationService:
    """A desktop's notification service (org.freedesktop.Notifications) on a session bus, on a
    thread: answers as the spec says, keeps what it was asked to show (`shown`: id, summary,
    body, actions) and sends ActionInvoked when `click` says so, as a desktop does when a person
    clicks a notification (`inhibited`: do not disturb is on)."""

    NAME = "org.freedesktop.Notifications"

    def __init__(self, address: str, *, inhibited: bool = False):
        self.address, self.inhibited = address, inhibited
        self.shown: list[tuple[int, str, str, list[str]]] = []
        self._clicks: queue.Queue = queue.Queue()
        self._ready, self._stop = threading.Event(), threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)

    def __enter__(self) -> "NotificationService":
        self._thread.start()
        assert self._ready.wait(10), "the notification service did not start"
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(5)

    def click(self, notification_id: int, action: str = "default") -> None:
        self._clicks.put((notification_id, action))

    def _serve(self) -> None:
        from jeepney import DBusAddress, HeaderFields, MessageType, new_error, new_method_return, new_signal
        from jeepney.bus_messages import message_bus
        from jeepney.io.blocking import open_dbus_connection

        emitter = DBusAddress("/org/freedesktop/Notifications", interface=self.NAME)
        with open_dbus_connection(bus=self.address) as connection:
            connection.send_and_get_reply(message_bus.RequestName(self.NAME))
            self._ready.set()
            while not self._stop.is_set():
                while not self._clicks.empty():
                    connection.send(new_signal(emitter, "ActionInvoked", "us", self._clicks.get()))
                try:
                    message = connection.receive(timeout=0.05)
                except TimeoutError:
                    continue
                if message.header.message_type is not MessageType.method_call:
                    continue
                member = message.header.fields.get(HeaderFields.member)
                if member == "GetServerInformation":
                    reply = new_method_return(message, "ssss", ("test-notifier", "office", "1.0", "1.2"))
                elif member == "GetCapabilities":
                    reply = new_method_return(message, "as", (["actions", "body", "body-markup"],))
                elif member == "Get" and message.body == (self.NAME, "Inhibited"):
                    reply = new_method_return(message, "v", (("b", self.inhibited),))
                elif member == "Notify":
                    _app, _replaces, _icon, summary, body, actions, _hints, _timeout = message.body
                    self.shown.append((len(self.shown) + 1, summary, body, actions))
                    reply = new_method_return(message, "u", (len(self.shown),))
                else:
                    reply = new_error(message, "org.freedesktop.DBus.Error.UnknownMethod")
                connection.send(reply)


def group(owner: E2EKeys, *members: E2EKeys) -> int:
    room_id = owner.api.create_room([], name="keys")["room_id"]
    others = sorted({m.api.user["id"] for m in members} - {owner.api.user["id"]})
    if others:
        owner.api.add_members(room_id, others)
    return room_id


def read(keys: E2EKeys, room_id: int, envelope: str):
    return read_content(keys, room_id, envelope, encrypted=True)
