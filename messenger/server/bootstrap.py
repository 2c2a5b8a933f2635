"""First run: a fresh server gets an administrator, so there is a way in without editing files."""

from __future__ import annotations

import hmac
import logging
import secrets
from pathlib import Path

from sqlalchemy import func, select

from messenger.server.actions.accounts import do_create_user
from messenger.core.files import write_atomic
from messenger.server.config import ServerConfig
from messenger.server.db.models import User
from messenger.server.extensions import database

log = logging.getLogger("messenger.server")
FIRST_ADMIN = "admin"
PASSWORD_FILE = "first-run-admin.txt"


def ensure_first_admin(config: ServerConfig) -> str | None:
    """If there are no users yet, create `admin` with a random password; return that password.

    The password is printed once and kept in `first-run-admin.txt` (owner-only) in the data dir;
    the file is removed when that admin changes the password.
    """
    if database.session.scalar(select(func.count()).select_from(User)):
        return None
    password = secrets.token_urlsafe(12)
    do_create_user(FIRST_ADMIN, password, "Administrator", is_admin=True)
    write_atomic(config.data_dir / PASSWORD_FILE,
                       f"username: {FIRST_ADMIN}\npassword: {password}\n".encode())
    print(f"first run: created administrator '{FIRST_ADMIN}'; its password is in "
          f"{config.data_dir / PASSWORD_FILE}", flush=True)
    return password


def is_first_run_password(data_dir: Path, username: str, password: str) -> bool:
    """Whether `username` is the first-run admin signing in with the generated password (the
    file is deleted when that password is changed, so a changed one never matches)."""
    try:
        text = (Path(data_dir) / PASSWORD_FILE).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return False
    fields = dict(line.split(": ", 1) for line in text.splitlines() if ": " in line)
    return fields.get("username") == username and hmac.compare_digest(
        fields.get("password", "").encode(), password.encode())
