"""Session store: tokens in the OS keyring, or in a private fallback file without one."""

import json
import os
import stat
import sys

import keyring
import pytest
from client_kit import MemoryKeyring
from keyring.backends import chainer, fail, null
from keyring.errors import KeyringError

from messenger.client.services.dirs import platform_dirs
from messenger.client.services.session_store import Account, SessionStore, keyring_service, usable_keyring

SERVER = "https://chat.office:5000"
TOKEN = "tok-" + "x" * 40


def file_mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def test_with_a_keyring_the_token_goes_there_and_never_to_a_file(tmp_path, memory_keyring):
    store = SessionStore(tmp_path)
    store.save_token(SERVER, "kim", TOKEN)
    assert memory_keyring.secrets == {(f"messenger https://chat.office:5000 [{tmp_path.resolve()}]", "kim"): TOKEN}
    assert store.load_token(SERVER, "kim") == TOKEN
    assert not (tmp_path / "device-tokens.json").exists()
    assert store.describe_backend() == "keyring client_kit.MemoryKeyring"
    store.forget_token(SERVER, "kim")
    assert store.load_token(SERVER, "kim") is None
    assert memory_keyring.secrets == {}


def test_same_server_and_user_spelled_differently_find_the_same_token(tmp_path, memory_keyring):
    store = SessionStore(tmp_path)
    store.save_token("HTTPS://Chat.Office:5000/", "Kim", TOKEN)
    assert store.load_token(SERVER, "kim") == TOKEN
    assert store.load_token(SERVER, "lee") is None
    assert store.load_token("https://other.office:5000", "kim") is None


def test_each_client_home_has_its_own_keyring_entries(tmp_path, memory_keyring):
    """One account signed in from two homes of one machine: two devices, two tokens."""
    desk, script = SessionStore(tmp_path / "desk"), SessionStore(tmp_path / "script")
    desk.save_token(SERVER, "kim", TOKEN)
    assert script.load_token(SERVER, "kim") is None
    script.save_token(SERVER, "kim", "script-token")
    assert desk.load_token(SERVER, "kim") == TOKEN and script.load_token(SERVER, "kim") == "script-token"
    script.forget_token(SERVER, "kim")
    assert desk.load_token(SERVER, "kim") == TOKEN


def test_the_desktop_apps_default_home_keeps_the_entry_name_it_always_had(platform_home, memory_keyring):
    """An existing desktop install stays signed in; `messenger chat`'s own folders get their own name."""
    SessionStore().save_token(SERVER, "kim", TOKEN)
    chat_data = platform_dirs("chat").data
    SessionStore(chat_data).save_token(SERVER, "kim", "chat-token")
    assert memory_keyring.secrets == {("messenger https://chat.office:5000", "kim"): TOKEN,
                                      (f"messenger https://chat.office:5000 [{chat_data.resolve()}]", "kim"): "chat-token"}


@pytest.mark.parametrize("backend", [fail.Keyring(), null.Keyring(), chainer.ChainerBackend()],
                         ids=["fail", "null", "empty-chain"])
def test_without_a_usable_keyring_tokens_go_to_a_private_file(tmp_path, backend, monkeypatch):
    monkeypatch.setattr(chainer.ChainerBackend, "backends", [])
    assert not usable_keyring(backend)
    store = SessionStore(tmp_path / "data", backend=backend)
    assert "fail" not in store.describe_backend()
    assert store.describe_backend().startswith(f"file {tmp_path / 'data' / 'device-tokens.json'}")
    store.save_token(SERVER, "kim", TOKEN)
    store.save_token(SERVER, "lee", "other-token")
    path = tmp_path / "data" / "device-tokens.json"
    assert file_mode(path) == 0o600
    assert file_mode(tmp_path / "data") == 0o700
    assert SessionStore(tmp_path / "data", backend=backend).load_token(SERVER, "kim") == TOKEN
    store.forget_token(SERVER, "kim")
    assert store.load_token(SERVER, "kim") is None
    assert store.load_token(SERVER, "lee") == "other-token"


def test_this_machine_default_keyring_is_used_unless_it_is_the_fail_backend(tmp_path):
    store = SessionStore(tmp_path)
    if isinstance(keyring.get_keyring(), fail.Keyring):
        assert store.keyring is None and store.describe_backend().startswith("file ")
    else:
        assert store.keyring is keyring.get_keyring()


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX file modes")
def test_fallback_file_readable_by_others_is_tightened_before_use(tmp_path):
    store = SessionStore(tmp_path, backend=fail.Keyring())
    store.save_token(SERVER, "kim", TOKEN)
    path = tmp_path / "device-tokens.json"
    os.chmod(path, 0o644)
    assert store.load_token(SERVER, "kim") == TOKEN
    assert file_mode(path) == 0o600


@pytest.mark.parametrize("content", ["{broken", "[]", '{"tokens": 5}', '{"tokens": {"x": 1}}'])
def test_damaged_fallback_file_reads_as_empty_and_is_replaced(tmp_path, content):
    path = tmp_path / "device-tokens.json"
    path.write_text(content)
    store = SessionStore(tmp_path, backend=fail.Keyring())
    assert store.load_token(SERVER, "kim") is None
    store.save_token(SERVER, "kim", TOKEN)
    assert store.load_token(SERVER, "kim") == TOKEN


class LockedKeyring(MemoryKeyring):
    """A keyring that refuses while "locked" (a Secret Service nobody unlocked)."""

    locked = True

    def get_password(self, service, username):
        if self.locked:
            raise KeyringError("locked")
        return super().get_password(service, username)

    def set_password(self, service, username, password):
        if self.locked:
            raise KeyringError("locked")
        super().set_password(service, username, password)


def test_a_keyring_that_fails_falls_back_to_the_file_and_the_token_moves_back_later(tmp_path):
    backend = LockedKeyring()
    store = SessionStore(tmp_path, backend=backend)
    store.save_token(SERVER, "kim", TOKEN)
    assert store.load_token(SERVER, "kim") == TOKEN  # from the file
    assert file_mode(tmp_path / "device-tokens.json") == 0o600
    backend.locked = False
    store.save_token(SERVER, "kim", "rotated")
    assert backend.secrets[(keyring_service(SERVER, tmp_path), "kim")] == "rotated"
    assert json.loads((tmp_path / "device-tokens.json").read_text())["tokens"] == {}
    assert store.load_token(SERVER, "kim") == "rotated"


def test_forget_removes_the_token_from_keyring_and_file(tmp_path):
    backend = LockedKeyring()
    store = SessionStore(tmp_path, backend=backend)
    store.save_token(SERVER, "kim", TOKEN)  # lands in the file
    backend.locked = False
    store.forget_token(SERVER, "kim")
    assert store.load_token(SERVER, "kim") is None
    store.forget_token(SERVER, "nobody")  # forgetting nothing is fine


def test_last_account_round_trip_holds_no_secret(tmp_path, memory_keyring):
    store = SessionStore(tmp_path)
    assert store.last_account() is None
    store.set_last_account("https://Chat.Office:5000/", "kim")
    store.save_token(SERVER, "kim", TOKEN)
    assert SessionStore(tmp_path).last_account() == Account(SERVER, "kim")
    assert TOKEN not in (tmp_path / "last-account.json").read_text()
    store.clear_last_account()
    assert store.last_account() is None


@pytest.mark.parametrize("content", ["nope", "{}", '{"server_url": 3, "username": "kim"}', "[]"])
def test_damaged_last_account_file_means_no_last_account(tmp_path, content):
    (tmp_path / "last-account.json").write_text(content)
    assert SessionStore(tmp_path).last_account() is None


def test_client_home_env_moves_the_store(client_home):
    store = SessionStore(backend=fail.Keyring())
    store.save_token(SERVER, "kim", TOKEN)
    assert (client_home / "data" / "device-tokens.json").exists()


@pytest.mark.skipif(sys.platform != "win32", reason="DPAPI is Windows only")
def test_windows_fallback_file_holds_dpapi_blobs_not_tokens(tmp_path):
    store = SessionStore(tmp_path, backend=fail.Keyring())
    store.save_token(SERVER, "kim", TOKEN)
    assert "DPAPI" in store.describe_backend()
    assert TOKEN not in (tmp_path / "device-tokens.json").read_text()
    assert SessionStore(tmp_path, backend=fail.Keyring()).load_token(SERVER, "kim") == TOKEN

