"""`messenger chat` as a user runs it: real processes against a real server, in the
platform's default folders of a HOME of the test's own."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from keyring.backends import fail

from file_keyring import PATH_ENV, FileKeyring
from harness import PASSWORD, Cli, register_and_login
from messenger.client.chat_cli import EXIT_ERROR
from messenger.client.services.api import ApiClient
from messenger.client.services.dirs import platform_dirs
from messenger.client.services.local_db import local_data_key
from messenger.client.services.outbox import Outbox, outbox_path
from messenger.client.services.realtime import Realtime
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


def unread_of(cli: Cli, room_id: int) -> int:
    return next(r["unread_count"] for r in map(json.loads, cli.ok("rooms", "--json").splitlines())
                if r["id"] == room_id)


def read_counts(api, room_id: int) -> dict[int, int]:
    """What the sender sees beside each message: how many others have read it."""
    return {m["id"]: m["read_count"] for m in api.get(f"/api/rooms/{room_id}/messages").json()["messages"]}


@pytest.fixture
def pair(server, tmp_path):
    """A sender and a reader, each `messenger chat` in a home of its own, and the sender's HTTP view."""
    sender, reader = register_and_login(server), register_and_login(server)
    clis = {}
    for api in (sender, reader):
        clis[api.user["username"]] = cli = Cli(server, tmp_path / api.user["username"])
        cli.login(api.user["username"])
    return sender, clis[sender.user["username"]], reader.user["username"], clis[reader.user["username"]]


def test_history_marks_what_it_printed_as_read_unless_told_to_keep_it_unread(pair):
    sender, sender_cli, reader_name, reader = pair
    first = int(sender_cli.ok("send", f"@{reader_name}", "first"))
    second = int(sender_cli.ok("send", f"@{reader_name}", "second"))
    room_id = next(r["id"] for r in sender.get("/api/rooms").json()["rooms"])

    kept = reader.history(room_id, "--keep-unread")
    assert [m["text"] for m in kept] == ["first", "second"]
    assert unread_of(reader, room_id) == 2
    assert read_counts(sender, room_id) == {first: 0, second: 0}

    assert [m["id"] for m in reader.history(room_id, "--limit", "1")] == [second]
    assert unread_of(reader, room_id) == 0
    assert read_counts(sender, room_id) == {first: 1, second: 1}


def test_tail_marks_each_message_read_as_it_prints_it_unless_told_to_keep_it_unread(pair):
    sender, sender_cli, reader_name, reader = pair
    first = int(sender_cli.ok("send", f"@{reader_name}", "before"))
    room_id = next(r["id"] for r in sender.get("/api/rooms").json()["rooms"])

    keeping = reader.start("tail", room_id, "--count", "1", "--timeout", "60", "--keep-unread")
    keeping.wait_for_stderr("listening to room")
    second = int(sender_cli.ok("send", room_id, "kept unread"))
    assert keeping.finish() == 0 and f"#{second} " in "".join(keeping.stdout)
    assert read_counts(sender, room_id) == {first: 0, second: 0}

    tail = reader.start("tail", room_id, "--count", "1", "--timeout", "60")
    tail.wait_for_stderr("listening to room")
    third = int(sender_cli.ok("send", room_id, "read now"))
    assert tail.finish() == 0 and f"#{third} " in "".join(tail.stdout)
    assert read_counts(sender, room_id) == {first: 1, second: 1, third: 1}
    assert unread_of(reader, room_id) == 0


def test_the_client_home_is_made_private(server, tmp_path):
    """What the CLI keeps (settings, the sealed key cache, the token fallback) is this account's
    alone, even in a home made with looser modes."""
    home = tmp_path / "home"
    (home / "data" / "e2e").mkdir(parents=True)
    (home / "data" / "e2e" / "left.json").write_text("{}")
    for path, mode in ((home, 0o755), (home / "data", 0o777), (home / "data" / "e2e" / "left.json", 0o644)):
        path.chmod(mode)
    user = register_and_login(server)
    Cli(server, home).login(user.user["username"])
    loose = [str(path) for path in home.rglob("*") if path.stat().st_mode & 0o077]
    assert loose == []


def test_a_backup_passphrase_equal_to_the_login_password_is_refused_and_logout_wipes_the_accounts_outbox(
        server, tmp_path):
    """The login password's check is in place from the sign-in on; signing out takes the account's
    outbox (the desktop app's, in a home they share) and its local data key off this computer."""
    user = register_and_login(server)
    username = user.user["username"]
    home = tmp_path / "home"
    cli = Cli(server, home)
    cli.login(username)

    refused = cli.run("backup-keys", "--passphrase-stdin", stdin=PASSWORD + "\n")
    assert refused.returncode == EXIT_ERROR and "error: E2E_BACKUP_PASSPHRASE_IS_PASSWORD:" in refused.stderr
    assert user.get("/api/keys/backup").status_code == 404  # nothing was written

    store = SessionStore(home / "data", backend=fail.Keyring())  # the CLI's fallback file, as the CLI sees it
    with ApiClient(server.url) as api:
        outbox = Outbox(outbox_path(home / "data", server.url, username), Realtime(api),
                        sealing_key=local_data_key(store, server.url, username))
    outbox.register_type("file", lambda message: {})
    outbox.enqueue_file(1, "draft.txt", b"waiting")
    outbox.stop()
    cli.ok("logout")
    assert not outbox.path.exists() and not outbox.files.exists()
    assert store.load_token(server.url, f"{username}#local-data-key") is None
