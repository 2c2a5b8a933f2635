"""Fixtures for the client services: a private client home, keyrings, a TCP relay,
signed-in `ApiClient`s against the real test server, and a private D-Bus session bus."""

from __future__ import annotations

import keyring
import pytest
from client_kit import MemoryKeyring, Relay, new_account, private_session_bus, signed_in
from keyring.backends import fail

from messenger.client.services.api import ApiClient
from messenger.client.services.realtime import Realtime
from messenger.client.services.session_store import SessionStore


@pytest.fixture
def session_bus(monkeypatch):
    """A private session bus; DBUS_SESSION_BUS_ADDRESS points at it."""
    with private_session_bus() as address:
        monkeypatch.setenv("DBUS_SESSION_BUS_ADDRESS", address)
        yield address


@pytest.fixture
def memory_keyring():
    """`keyring` resolves to an in-memory backend for the test, then to what it was."""
    before = keyring.get_keyring()
    backend = MemoryKeyring()
    keyring.set_keyring(backend)
    yield backend
    keyring.set_keyring(before)


@pytest.fixture
def client_home(tmp_path, monkeypatch):
    """MESSENGER_CLIENT_HOME points at a fresh folder for the test."""
    home = tmp_path / "client-home"
    monkeypatch.setenv("MESSENGER_CLIENT_HOME", str(home))
    return home


@pytest.fixture
def file_store(tmp_path):
    """A session store on the fallback file, whatever keyring this machine has (integration
    tests must not write into a developer's real keychain)."""
    return SessionStore(tmp_path / "client-data", backend=fail.Keyring())


@pytest.fixture
def clients(server):
    """A factory of signed-in `ApiClient`s: a new user (or `username`) of `on` (default: the
    shared server), talking to `url` (default: that server's; e.g. a relay's); all closed
    afterwards."""
    made = []

    def make(username: str | None = None, *, on=None, url: str | None = None, store: SessionStore | None = None,
             **kwargs):
        on = on or server
        api = signed_in(url or on.url, username or new_account(on), store, **kwargs)
        made.append(api)
        return api

    yield make
    for api in made:
        api.close()


@pytest.fixture
def realtimes():
    """A factory of `Realtime`s with fast reconnects (not started: register the callbacks
    first); all stopped afterwards."""
    made = []

    def make(api: ApiClient, **kwargs) -> Realtime:
        options = {"reconnect_delay": 0.1, "reconnect_delay_max": 1.0, **kwargs}
        live = Realtime(api, **options)
        made.append(live)
        return live

    yield make
    for live in made:
        live.stop()


@pytest.fixture
def relay():
    """`relay(target_url)` makes a Relay; all are closed at the end of the test."""
    made = []

    def make(target_url: str) -> Relay:
        made.append(Relay(target_url))
        return made[-1]

    yield make
    for item in made:
        item.close()


