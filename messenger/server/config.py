"""Server configuration: one typed object built from four layers.

Precedence, lowest first: built-in defaults < config file (`config.toml` in the
data dir, or `--config FILE`) < environment variables < command-line flags.
"""

from __future__ import annotations

import logging
import os
import tomllib
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from types import UnionType
from typing import Any, Callable, Mapping, get_args, get_origin, get_type_hints

import platformdirs

log = logging.getLogger(__name__)

APP_NAME = "messenger"
SERVER_APP_NAME = "messenger-server"  # the server's own folder name where it shares the user's folders
DATABASE_FILE = "messenger.db"
TRUE_WORDS = {"1", "true", "yes", "on"}

# Environment variable -> config field.
ENV_FIELDS = {
    "MESSENGER_ENV": "env",
    "MESSENGER_DATA_DIR": "data_dir",
    "MESSENGER_DATABASE_URL": "database_url",
    "MESSENGER_MESSAGE_QUEUE": "message_queue",
    "MESSENGER_TRUSTED_PROXIES": "trusted_proxies",
    "USE_HTTPS": "use_https",
    "DESKTOP_ONLY_MODE": "desktop_only_mode",
    "MESSENGER_HOST": "host",
    "MESSENGER_PORT": "port",
    "MESSENGER_ASYNC_MODE": "async_mode",
    "MESSENGER_DISCOVERY": "discovery",
}


def default_data_dir() -> Path:
    """Where a server keeps its data when nothing else is said: per machine on Windows
    (ProgramData), else the user's data folder under a name of its own, apart from the
    desktop client's ("messenger"). A server that already keeps its data in that shared
    folder (the default before they were apart) stays there: `load_config` says so."""
    if os.name == "nt":
        return Path(platformdirs.site_data_dir(APP_NAME, appauthor=False))
    own = Path(platformdirs.user_data_dir(SERVER_APP_NAME, appauthor=False))
    shared = _shared_data_dir()
    if not own.exists() and any((shared / name).is_file() for name in (DATABASE_FILE, "secret_key")):
        return shared
    return own


def _shared_data_dir() -> Path:
    return Path(platformdirs.user_data_dir(APP_NAME, appauthor=False))


@dataclass(frozen=True)
class ServerConfig:
    env: str = "dev"  # "prod" turns HTTPS on unless USE_HTTPS says otherwise
    data_dir: Path = field(default_factory=default_data_dir)
    database_url: str | None = None  # None: SQLite file in the data dir
    # A redis:// URL: several server processes on one database share sockets, presence and
    # throttles through it (README "Office grows"). None: one process, all in memory.
    message_queue: str | None = None
    # How many proxies in front set X-Forwarded-For/-Proto (the front of deploy/nginx.conf: 1);
    # 0 trusts no such header, as a desk could forge it.
    trusted_proxies: int = 0
    host: str = "127.0.0.1"
    port: int = 5000
    use_https: bool | None = None  # None: on in prod, off otherwise
    cert_file: Path | None = None
    key_file: Path | None = None
    desktop_only_mode: bool | None = None  # None: the mode stored by `admin set-mode`
    # Announce on the office network (DNS-SD); None: on unless env is dev. The `discovery`
    # admin setting can still turn it off.
    discovery: bool | None = None
    async_mode: str = "gevent"  # "threading" exists for measurement only
    allowed_origins: tuple[str, ...] = ()
    max_request_bytes: int = 1 * 1024 * 1024
    max_image_bytes: int = 5 * 1024 * 1024
    # FULL: an acknowledged message is on disk before the ack, even across a power cut.
    sqlite_synchronous: str = "FULL"
    wal_checkpoint_seconds: float = 5.0
    maintenance_interval_seconds: float = 600.0  # purges and retention (messenger/server/jobs.py)
    # How soon a socket whose sign-in ended elsewhere (e.g. `messenger admin` revoked it) is closed.
    socket_sweep_seconds: float = 2.0
    login_throttle_per_account: int = 10  # failures per (account, address) in the window
    login_throttle_per_address: int = 50  # failures per address in the window
    login_throttle_window_seconds: int = 15 * 60
    typing_throttle_seconds: float = 2.0
    testing: bool = False
    max_upload_bytes: int = 16 * 1024 * 1024  # one file sent in a room (POST /api/upload)
    user_quota_bytes: int = 1024 * 1024 * 1024  # all of one user's stored uploads together
    upload_token_seconds: int = 5 * 60  # an upload must be sent in a message within this time
    search_per_minute: int = 30  # searches one user may run in any minute

    @property
    def https(self) -> bool:
        return self.use_https if self.use_https is not None else self.env == "prod"

    @property
    def sqlalchemy_url(self) -> str:
        return self.database_url or f"sqlite:///{Path(self.data_dir) / DATABASE_FILE}"


def _parse_bool(raw: str) -> bool:
    return raw.strip().lower() in TRUE_WORDS


def _parse_list(raw: str) -> tuple[str, ...]:
    """A comma-separated list, as an environment variable holds one."""
    return tuple(part.strip() for part in raw.split(",") if part.strip())


# How a setting given as text (an environment variable, a flag, a TOML string) becomes its type.
PARSERS: dict[type, Callable[[str], Any]] = {
    bool: _parse_bool,
    int: int,
    float: float,
    str: str,
    Path: lambda raw: Path(raw).expanduser(),
    tuple: _parse_list,
}


def _field_type(name: str) -> type:
    """The type of a ServerConfig field, without its `| None` (`tuple[str, ...]`: tuple)."""
    hint: Any = get_type_hints(ServerConfig)[name]
    if isinstance(hint, UnionType):
        hint = next(arg for arg in get_args(hint) if arg is not type(None))
    kind: type = get_origin(hint) or hint
    return kind


def _coerce(name: str, raw: Any) -> Any:
    kind = _field_type(name)
    if isinstance(raw, str):
        return PARSERS[kind](raw)
    if kind is tuple and isinstance(raw, list):
        return tuple(raw)
    return raw


def data_dir_for(overrides: dict[str, Any] | None = None, environ: Mapping[str, str] | None = None) -> Path:
    """The data folder a config will use (flag, else MESSENGER_DATA_DIR, else the default),
    known before its config.toml is read."""
    env = os.environ if environ is None else environ
    chosen = (overrides or {}).get("data_dir") or env.get("MESSENGER_DATA_DIR", "")
    return Path(chosen).expanduser() if chosen else default_data_dir()


def load_config(
    overrides: dict[str, Any] | None = None,
    config_file: Path | None = None,
    environ: Mapping[str, str] | None = None,
) -> ServerConfig:
    """Build the config from file, environment and `overrides` (flags), in that order."""
    env = os.environ if environ is None else environ
    overrides = {k: v for k, v in (overrides or {}).items() if v is not None}
    known = {f.name for f in fields(ServerConfig)}

    env_values = {name: env[var] for var, name in ENV_FIELDS.items() if env.get(var, "") != ""}
    data_dir = data_dir_for(overrides, env)
    chosen = overrides.get("data_dir") or env_values.get("data_dir")
    if not chosen and os.name != "nt" and data_dir == _shared_data_dir():
        log.warning(
            "the server's data is in %s, the desktop client's folder; servers now keep theirs in %s. "
            "To part them, stop the server and move %s*, secret_key, config.toml, first-run-admin.txt, "
            "tls/, uploads/ and profile_images/ there (or keep this folder: --data-dir %s)",
            data_dir, platformdirs.user_data_dir(SERVER_APP_NAME, appauthor=False), DATABASE_FILE, data_dir)
    config_file = config_file or Path(data_dir) / "config.toml"
    file_values = {}
    if Path(config_file).is_file():
        with open(config_file, "rb") as fh:
            file_values = tomllib.load(fh)
        unknown = set(file_values) - known
        if unknown:
            raise ValueError(f"unknown settings in {config_file}: {', '.join(sorted(unknown))}")

    merged = {**file_values, **env_values, **overrides}
    config = replace(ServerConfig(), **{k: _coerce(k, v) for k, v in merged.items()})
    if config.message_queue and not config.message_queue.startswith(("redis://", "rediss://")):
        # Only the scheme is said: the URL may hold the queue's password.
        scheme = config.message_queue.partition("://")[0]
        raise ValueError(f"message_queue must be a redis:// or rediss:// URL, not {scheme}://...")
    return config
