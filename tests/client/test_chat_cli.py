"""`messenger chat` as a user runs it: real processes against a real server, in the
platform's default folders of a HOME of the test's own."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from file_keyring import PATH_ENV, FileKeyring
from harness import PASSWORD, Cli, register_and_login
from messenger.client.services.api import ApiClient
from messenger.client.services.dirs import platform_dirs
from messenger.client.services.session_store import SessionStore

TESTS = Path(__file__).resolve().parents[1]


@pytest.fixture
def shared_keyring(tmp_path, platform_home):
    """One keyring for the `messenger chat` processes and this test's desktop session store,
    as the OS keyring is one per user."""
    path = tmp_path / "keyring.json"
    env = {"PYTHONPATH": str(TESTS), "PYTHON_KEYRING_BACKEND": "file_keyring.FileKeyring", PATH_ENV: str(path)}
    return FileKeyring(path), env


def test_chat_without_home_keeps_its_own_folders_and_keyring_entries_apart_from_the_desktop_app(
        server, shared_keyring):
    """Signing `messenger chat` in (as someone else, then as the desktop's own account) leaves
    the desktop app's next start signed in as before, on its own device."""
    keyring, env = shared_keyring
    kim = register_and_login(server).user["username"]
    alerts = register_and_login(server).user["username"]
    desk = ApiClient(server.url, SessionStore(backend=keyring))
    desk.sign_in(kim, PASSWORD, device_name="desk")
    desk_token = desk.token
    cli = Cli(server, None, env=env)

    cli.login(alerts)
    assert SessionStore(backend=keyring).last_account().username == kim
    cli.login(kim)
    cli.ok("rooms")

    desktop = SessionStore(backend=keyring)
    assert desktop.last_account().username == kim
    assert desktop.load_token(server.url, kim) == desk_token
    chat = SessionStore(platform_dirs("chat").data, backend=keyring)
    assert chat.last_account().username == kim
    assert chat.load_token(server.url, kim) not in (None, desk_token)
    assert json.loads((platform_dirs("chat").config / "settings.json").read_text())["server_url"] == server.url
    assert not (platform_dirs().config / "settings.json").exists()

    restarted = ApiClient(server.url, desktop)
    assert restarted.restore()["username"] == kim  # the desktop's device, still signed in
    names = {row["device_name"] for row in restarted.device_sessions()}
    assert {"desk"} < names and any("command line" in name for name in names)
