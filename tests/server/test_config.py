"""Config layers: defaults < config file < environment < flags."""

import dataclasses
import logging
from pathlib import Path

import pytest

from messenger.client.services.dirs import platform_dirs
from messenger.server.config import default_data_dir, load_config


def test_each_layer_overrides_the_one_before(tmp_path):
    (tmp_path / "config.toml").write_text('port = 6001\nhost = "0.0.0.0"\nenv = "prod"\n')
    env = {"MESSENGER_DATA_DIR": str(tmp_path), "MESSENGER_PORT": "6002"}
    config = load_config({"port": 6003}, environ=env)
    assert config.port == 6003  # flag beats env
    assert load_config(environ=env).port == 6002  # env beats file
    assert config.host == "0.0.0.0"  # file beats default
    assert config.data_dir == Path(tmp_path)


def test_https_defaults_on_in_prod_and_env_can_turn_it_off(tmp_path):
    base = {"MESSENGER_DATA_DIR": str(tmp_path)}
    assert load_config(environ=base).https is False
    assert load_config(environ={**base, "MESSENGER_ENV": "prod"}).https is True
    assert load_config(environ={**base, "MESSENGER_ENV": "prod", "USE_HTTPS": "0"}).https is False


def test_desktop_only_env_is_a_bool_override(tmp_path):
    base = {"MESSENGER_DATA_DIR": str(tmp_path)}
    assert load_config(environ=base).desktop_only_mode is None
    assert load_config(environ={**base, "DESKTOP_ONLY_MODE": "true"}).desktop_only_mode is True
    assert load_config(environ={**base, "DESKTOP_ONLY_MODE": "0"}).desktop_only_mode is False


def test_unknown_setting_in_file_is_an_error(tmp_path):
    (tmp_path / "config.toml").write_text("prot = 1\n")
    with pytest.raises(ValueError, match="prot"):
        load_config(environ={"MESSENGER_DATA_DIR": str(tmp_path)})


def test_sqlite_in_data_dir_is_the_default_database(tmp_path):
    config = load_config(environ={"MESSENGER_DATA_DIR": str(tmp_path)})
    assert config.sqlalchemy_url == f"sqlite:///{tmp_path / 'messenger.db'}"


def test_the_servers_default_folder_is_apart_from_every_client_folder(platform_home):
    server = default_data_dir()
    assert server.is_relative_to(platform_home)
    for role in ("desktop", "chat"):
        for folder in dataclasses.astuple(platform_dirs(role)):
            assert not server.is_relative_to(folder) and not folder.is_relative_to(server), (role, folder)


def test_a_server_whose_data_is_in_the_old_shared_folder_stays_there_and_says_how_to_move(platform_home, caplog):
    shared = platform_dirs().data
    shared.mkdir(parents=True)
    (shared / "device-tokens.json").write_text("{}")  # the desktop client's own files are no server's
    assert default_data_dir() != shared
    (shared / "messenger.db").write_bytes(b"")
    with caplog.at_level(logging.WARNING, logger="messenger.server.config"):
        assert load_config(environ={}).data_dir == shared
    [warning] = caplog.messages
    assert str(shared) in warning and str(platform_home / ".local/share/messenger-server") in warning
    caplog.clear()
    (platform_home / ".local/share/messenger-server").mkdir()  # moved: the server's own folder wins
    assert load_config(environ={}).data_dir == platform_home / ".local/share/messenger-server"
    assert load_config({"data_dir": shared}, environ={}).data_dir == shared
    assert not caplog.messages
