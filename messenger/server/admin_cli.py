"""`messenger admin ...`: the same actions as the admin API, run on a server's data dir."""

from __future__ import annotations

import getpass
import re
import sys

from messenger.server.actions.accounts import USERNAME_PATTERN, do_create_user
from messenger.server.app import create_app
from messenger.server.config import ServerConfig
from messenger.server.errors import ApiError
from messenger.server.passwords import MIN_PASSWORD_LENGTH


def read_password(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    first = getpass.getpass("password: ")
    if first != getpass.getpass("again: "):
        raise SystemExit("the passwords differ")
    return first


def run_admin(args, config: ServerConfig) -> int:
    app, _ = create_app(config)
    with app.app_context():
        if args.admin_command == "create-user":
            if not re.fullmatch(USERNAME_PATTERN, args.username):
                print("error: a username is 3-20 letters, digits or _", file=sys.stderr)
                return 2
            password = read_password(args.password_stdin)
            if len(password) < MIN_PASSWORD_LENGTH:
                print(f"error: the password needs at least {MIN_PASSWORD_LENGTH} characters", file=sys.stderr)
                return 2
            try:
                user = do_create_user(args.username, password, args.nickname or args.username, is_admin=args.admin)
            except ApiError as exc:
                print(f"error: {exc.code}", file=sys.stderr)
                return 1
            print(f"created user {user.username} (id {user.id}{', platform admin' if user.is_admin else ''})")
    return 0
