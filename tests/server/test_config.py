"""Config layers: defaults < config file < environment < flags."""

from pathlib import Path

import pytest

from messenger.server.config import load_config


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
