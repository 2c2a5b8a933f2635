"""Helpers for the client services tests: a keyring in memory, a TCP relay that can cut
or refuse connections, an event recorder, and accounts on the real test server."""

from __future__ import annotations

import socket
import threading
import time
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


def group(owner: E2EKeys, *members: E2EKeys) -> int:
    room_id = owner.api.create_room([], name="keys")["room_id"]
    others = sorted({m.api.user["id"] for m in members} - {owner.api.user["id"]})
    if others:
        owner.api.add_members(room_id, others)
    return room_id


def read(keys: E2EKeys, room_id: int, envelope: str):
    return read_content(keys, room_id, envelope, encrypted=True)
