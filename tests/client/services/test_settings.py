"""Client settings: declared once with defaults, saved atomically, bad files never crash."""

import json
import logging
import os
import stat
from pathlib import Path

import platformdirs
import pytest

from messenger.client.services import settings as settings_module
from messenger.client.services.settings import ClientSettings
from messenger.core.files import write_atomic

EXPECTED_DEFAULTS = {
    "server_url": "",
    "language": "auto",
    "notifications": True,
    "start_at_login": False,
    "close_to_tray": True,
    "update_channel": "stable",
    "remember_me": True,
}


def test_a_new_install_reads_every_default(tmp_path):
    settings = ClientSettings(tmp_path / "settings.json")
    values = settings.as_dict()
    assert {k: v for k, v in values.items() if k != "device_name"} == EXPECTED_DEFAULTS
    assert set(values) == set(EXPECTED_DEFAULTS) | {"device_name"}
    assert values["device_name"].strip()  # the computer's name
    assert not (tmp_path / "settings.json").exists()  # reading writes nothing


def test_changes_survive_a_restart_and_only_changes_are_written(tmp_path):
    path = tmp_path / "settings.json"
    settings = ClientSettings(path)
    settings.server_url = "https://chat.office:5000"
    settings.update(language="en-US", close_to_tray=False, device_name="회계팀 PC")
    again = ClientSettings(path)
    assert again.server_url == "https://chat.office:5000"
    assert again.language == "en-US"
    assert again.close_to_tray is False
    assert again.device_name == "회계팀 PC"
    assert again.update_channel == "stable"
    assert json.loads(path.read_text(encoding="utf-8")) == {
        "server_url": "https://chat.office:5000", "language": "en-US", "close_to_tray": False,
        "device_name": "회계팀 PC"}


def test_settings_file_is_private_and_no_temporary_file_is_left(tmp_path):
    settings = ClientSettings(tmp_path / "conf" / "settings.json")
    settings.notifications = False
    settings.notifications = True
    assert stat.S_IMODE(os.stat(tmp_path / "conf" / "settings.json").st_mode) == 0o600
    assert os.listdir(tmp_path / "conf") == ["settings.json"]


@pytest.mark.parametrize("name, bad", [
    ("language", "fr-FR"),
    ("language", None),
    ("notifications", "yes"),
    ("start_at_login", 1),  # an int is not a bool
    ("update_channel", "nightly"),
    ("server_url", "ftp://chat.office"),
    ("server_url", "chat.office"),
    ("device_name", "   "),
    ("device_name", "x" * 101),
    ("remember_me", []),
])
def test_a_bad_value_in_the_file_reads_as_the_default_with_a_log_line(tmp_path, caplog, name, bad):
    path = tmp_path / "settings.json"
    path.write_text(json.dumps({name: bad, "close_to_tray": False}), encoding="utf-8")
    with caplog.at_level(logging.WARNING, logger=settings_module.__name__):
        settings = ClientSettings(path)
    assert settings.get(name) == ClientSettings.declared()[name].default()
    assert settings.close_to_tray is False  # the good values in the same file are kept
    assert any(name in record.getMessage() for record in caplog.records)


@pytest.mark.parametrize("content", ["{not json", "[1, 2]", "", "\x00\x01"])
def test_an_unreadable_file_gives_the_defaults_and_is_replaced_on_the_next_change(tmp_path, caplog, content):
    path = tmp_path / "settings.json"
    path.write_text(content, encoding="utf-8")
    with caplog.at_level(logging.WARNING, logger=settings_module.__name__):
        settings = ClientSettings(path)
    assert settings.language == "auto"
    assert caplog.records
    settings.language = "ko-KR"
    assert json.loads(path.read_text(encoding="utf-8")) == {"language": "ko-KR"}


def test_a_setting_from_a_newer_version_is_kept_untouched(tmp_path):
    path = tmp_path / "settings.json"
    path.write_text(json.dumps({"theme": {"dark": True}, "notifications": False}), encoding="utf-8")
    settings = ClientSettings(path)
    settings.update_channel = "canary"
    assert json.loads(path.read_text(encoding="utf-8")) == {
        "theme": {"dark": True}, "notifications": False, "update_channel": "canary"}
    with pytest.raises(KeyError):
        settings.get("theme")


def test_setting_a_value_it_does_not_accept_raises_and_saves_nothing(tmp_path):
    path = tmp_path / "settings.json"
    settings = ClientSettings(path)
    with pytest.raises(ValueError):
        settings.language = "de-DE"
    with pytest.raises(ValueError):
        settings.update(notifications=False, start_at_login="on")  # one bad value: neither is saved
    assert settings.notifications is True
    assert not path.exists()
    with pytest.raises(KeyError):
        settings.set("device_token", "secret")  # there is no such setting, least of all a secret


def test_reset_returns_to_the_default(tmp_path):
    settings = ClientSettings(tmp_path / "settings.json")
    settings.close_to_tray = False
    settings.reset("close_to_tray")
    assert ClientSettings(tmp_path / "settings.json").close_to_tray is True


def test_listeners_hear_real_changes_only(tmp_path):
    settings = ClientSettings(tmp_path / "settings.json")
    heard = []
    settings.add_listener(lambda name, value: heard.append((name, value)))
    settings.language = "en-US"
    settings.language = "en-US"
    settings.update(language="en-US", notifications=False)
    settings.reset("notifications")
    assert heard == [("language", "en-US"), ("notifications", False), ("notifications", True)]


def test_client_home_env_moves_the_settings(client_home):
    settings = ClientSettings()
    settings.language = "en-US"
    assert settings.path == client_home / "config" / "settings.json"
    assert settings.path.exists()


def test_default_place_is_the_roaming_user_config_folder(monkeypatch):
    monkeypatch.delenv("MESSENGER_CLIENT_HOME", raising=False)
    expected = Path(platformdirs.user_config_dir("messenger", appauthor=False, roaming=True)) / "settings.json"
    assert ClientSettings().path == expected


@pytest.mark.parametrize("system, expected", [
    ("ko_KR", "ko-KR"), ("en_US", "en-US"), ("English_United States", "en-US"), ("Korean_Korea", "ko-KR"),
    ("fr_FR", "ko-KR"), (None, "ko-KR"),
])
def test_auto_language_follows_the_system_or_korean(tmp_path, monkeypatch, system, expected):
    monkeypatch.setattr(settings_module.locale, "getlocale", lambda: (system, "UTF-8"))
    settings = ClientSettings(tmp_path / "settings.json")
    assert settings.effective_language == expected
    settings.language = "en-US"
    assert settings.effective_language == "en-US"


def test_write_atomic_replaces_content_with_the_mode_asked(tmp_path):
    path = tmp_path / "deep" / "er" / "file.bin"
    write_atomic(path, b"first")
    write_atomic(path, "두 번째", mode=0o640)
    assert path.read_text(encoding="utf-8") == "두 번째"
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o640
    assert stat.S_IMODE(os.stat(path.parent).st_mode) == 0o700
    assert os.listdir(path.parent) == ["file.bin"]


def test_write_atomic_leaves_the_old_file_whole_when_writing_fails(tmp_path, monkeypatch):
    path = tmp_path / "settings.json"
    write_atomic(path, "old")

    def broken_fsync(fd):
        raise OSError("disk full")

    monkeypatch.setattr(os, "fsync", broken_fsync)
    with pytest.raises(OSError):
        write_atomic(path, "new")
    assert path.read_text() == "old"
    assert os.listdir(tmp_path) == ["settings.json"]
