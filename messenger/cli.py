"""The one entry point: `messenger` (tray client), `messenger-cli --serve`, `messenger-cli admin|chat|local|update ...`
(see messenger/programs.py: on Windows only messenger-cli.exe takes commands)."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from messenger import __version__, build_signature
from messenger.client.services.windows_shell import linked_room
from messenger.programs import is_windowed, refuse_console_command


def build_parser() -> argparse.ArgumentParser:
    # Raw text: --version's second line (the build's signature) stays a line of its own.
    parser = argparse.ArgumentParser(prog="messenger", description="Office messenger: server and desktop client.",
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    signature = build_signature()
    parser.add_argument("--version", action="version",
                        version=f"messenger {__version__}" + (f"\n{signature}" if signature else ""))
    parser.add_argument("--serve", action="store_true", help="run the server")
    parser.add_argument("--workers", type=int, default=1, metavar="N",
                        help="with --serve: run N server processes, on ports --port to --port+N-1 "
                             "(needs a message queue and PostgreSQL; README, \"Office grows\")")
    parser.add_argument("--self-test", action="store_true",
                        help="check that this build has everything it needs, then exit (0: all ok)")
    parser.add_argument("--host", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, help="port to listen on (default 5000; 0 picks a free one)")
    parser.add_argument("--data-dir", type=Path, help="server data folder (default: the platform's data dir)")
    parser.add_argument("--config", type=Path, help="config file (default: DATA_DIR/config.toml)")
    commands = parser.add_subparsers(dest="command")

    add_admin_commands(commands)
    local = commands.add_parser("local", help="run a server on this machine and the desktop client signed in to it "
                                              "(the server stops when the client quits)")
    local.add_argument("--data-dir", type=Path, dest="admin_data_dir", help="server data folder")
    local.add_argument("--port", type=int, dest="local_port", default=5000, help="server port (default 5000)")
    # Imported here, not at the top: `--serve` must monkey-patch before threading is imported.
    from messenger.client.chat_cli import add_chat_commands
    from messenger.client.update_cli import add_update_commands

    from messenger.server.windows_service import add_service_commands

    add_chat_commands(commands)
    add_update_commands(commands)
    add_service_commands(commands)
    return parser


def add_admin_commands(commands) -> None:
    """`messenger admin ...`: one command per admin API call, plus backup and restore.
    USER is a username or a numeric user id."""
    admin = commands.add_parser("admin", help="administer a server's data dir (running or stopped)")
    admin.add_argument("--data-dir", type=Path, dest="admin_data_dir", help="server data folder")
    admin_commands = admin.add_subparsers(dest="admin_command", required=True)
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--json", action="store_true", help="print JSON for scripts")

    def command(name, help_text):
        return admin_commands.add_parser(name, help=help_text, parents=[common])

    users = command("list-users", "list accounts with their status")
    users.add_argument("--status", choices=["active", "disabled", "deleted"])
    create = command("create-user", "create an account")
    create.add_argument("username")
    create.add_argument("--nickname")
    create.add_argument("--admin", action="store_true", help="make it a platform administrator")
    create.add_argument("--password-stdin", action="store_true", help="read the password from standard input")
    command("disable", "disable an account: revoke its devices, close its sockets").add_argument("user")
    command("enable", "let a disabled account sign in again").add_argument("user")
    reset = command("reset-password", "set a new password (generated and printed once unless --password-stdin)")
    reset.add_argument("user")
    reset.add_argument("--password-stdin", action="store_true", help="read the new password from standard input")
    delete = command("delete-user", "delete an account (messages are kept, anonymised)")
    delete.add_argument("user")
    delete.add_argument("--yes", action="store_true", help="confirm the deletion")
    devices = command("list-devices", "list live device sessions")
    devices.add_argument("--user")
    devices.add_argument("--include-expired", action="store_true")
    command("revoke-device", "sign a device session out").add_argument("session_id", type=int)
    rooms = command("list-rooms", "list rooms with member and message counts")
    rooms.add_argument("--limit", type=int, default=200)
    rooms.add_argument("--offset", type=int, default=0)
    setting = command("settings", "show or change run-time settings")
    setting_commands = setting.add_subparsers(dest="settings_command", required=True)
    setting_commands.add_parser("show", help="print every setting", parents=[common])
    setting_set = setting_commands.add_parser("set", help="change one setting; VALUE is JSON (or a bare word)",
                                              parents=[common])
    setting_set.add_argument("key")
    setting_set.add_argument("value")
    command("set-mode", "switch the cutover mode").add_argument("mode", choices=["hybrid", "desktop-only"])
    release = command("set-release", "set one update channel's release policy (replaces that channel's)")
    release.add_argument("channel", choices=["stable", "canary"])
    release.add_argument("--minimum", required=True, help="clients older than this must update")
    release.add_argument("--latest", help="the newest version (default: the server's own)")
    release.add_argument("--download-url")
    release.add_argument("--notes-url")
    audit = command("audit", "read the security log, newest first")
    audit.add_argument("--user")
    audit.add_argument("--action", help="one action or several, comma-separated")
    audit.add_argument("--since", help="ISO-8601 time (UTC if no offset)")
    audit.add_argument("--until", help="ISO-8601 time (UTC if no offset)")
    audit.add_argument("--limit", type=int, default=50)
    audit.add_argument("--offset", type=int, default=0)
    command("backup", "write a backup archive of the data dir (safe while the server runs)").add_argument(
        "file", type=Path)
    restore = command("restore", "restore a backup archive into an empty or new data dir")
    restore.add_argument("file", type=Path)
    restore.add_argument("--data-dir", type=Path, dest="admin_data_dir", default=argparse.SUPPRESS,
                         help="the folder to restore into (must be empty or not exist)")
    restore.add_argument("--database-url", help="a PostgreSQL backup: the new, empty database to restore it into "
                                                "(default: MESSENGER_DATABASE_URL)")
    move_to = command("move-to", "move the office from its SQLite file into a new, empty PostgreSQL database "
                                 "(stop the server first)")
    move_to.add_argument("--database-url", required=True, help="postgresql+psycopg://USER:PASSWORD@HOST:PORT/DATABASE")
    command("run-maintenance", "run the maintenance jobs (purges, retention) once, now")
    move = command("import-v4", "import a v4 server's database, uploads and encrypted history into a new data dir")
    move.add_argument("--db", type=Path, required=True, help="v4's messenger.db")
    move.add_argument("--uploads", type=Path, required=True, help="v4's upload folder")
    move.add_argument("--master-key", type=Path, required=True, help="v4's .master_key (never stored)")
    move.add_argument("--escrow-key-file", type=Path, default=Path("v4-legacy-escrow.key"),
                      help="where to write the key that opens the escrowed legacy room keys (outside the data dir; "
                           "default ./v4-legacy-escrow.key): keep it offline until release-legacy-keys")
    move.add_argument("--admin", action="append", default=[], metavar="USERNAME",
                      help="make this v4 user a platform administrator (repeatable)")
    move.add_argument("--v4-timezone", default="UTC",
                      help="the v4 machine's local time zone, in which v4 wrote poll times (default UTC)")
    release = command("release-legacy-keys", "seal the imported legacy room keys to the members' devices")
    release.add_argument("--escrow-key-file", type=Path, required=True, help="the file import-v4 wrote")
    command("purge-legacy-keys", "delete the escrowed legacy room keys for good").add_argument(
        "--yes", action="store_true", help="confirm: members without the keys then get them only from other devices")
    command("show-fingerprint", "print the SHA-256 fingerprint of the certificate the server presents")
    renewal = command("prepare-certificate-renewal",
                      "make the next certificate now; pinned desks learn it and move over when the server switches")
    renewal.add_argument("--switch-after-days", type=int, default=14,
                         help="the server switches at its first start after this many days (default 14)")


def server_config(args):
    from messenger.server.config import load_config

    data_dir = getattr(args, "admin_data_dir", None) or args.data_dir
    return load_config({"host": args.host, "port": args.port, "data_dir": data_dir}, args.config)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    room_link = linked_room(argv) is not None  # a toast's click (Windows): for the tray client
    if argv and is_windowed() and not room_link:
        # messenger.exe has no console to print to or serve from: messenger-cli.exe does that.
        return refuse_console_command()
    if getattr(sys, "frozen", False):
        # Every process of an install marks it in use, so an update never swaps files under it.
        from messenger import install_use

        install_use.hold(Path(sys.executable).parent)
    if "--serve" in argv and os.environ.get("MESSENGER_ASYNC_MODE", "gevent") == "gevent":
        # Must come before anything imports threading, ssl or socket.
        from gevent import monkey

        monkey.patch_all()
    if room_link:
        from messenger.client.launch import run

        return run(argv)
    args = build_parser().parse_args(argv)
    if os.name == "posix" and (args.serve or args.command == "admin"):
        # The server's files (the database with its -wal/-shm, secrets, uploads, backups) are
        # for its own account: created 0600, folders 0700.
        os.umask(0o077)
    if args.self_test:
        from messenger import selftest

        return selftest.run()
    if args.serve:
        import logging

        from messenger.server.config import data_dir_for
        from messenger.server.data_dir_security import EXIT_INSECURE, InsecureDataDir, secure_data_dir
        from messenger.server.serve import serve

        try:
            # Before its config.toml is read: a folder others can write could hold theirs.
            secure_data_dir(data_dir_for({"data_dir": args.data_dir}))
        except InsecureDataDir as exc:
            print(f"error {exc.code}: {exc}", file=sys.stderr)
            return EXIT_INSECURE

        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
        # Alembic logs each plugin it loads and each migration step at INFO: noise at every start.
        logging.getLogger("alembic").setLevel(logging.WARNING)
        try:
            config = server_config(args)
        except ValueError as exc:  # a setting the server cannot run with
            print(f"error CONFIG_INVALID: {exc}", file=sys.stderr)
            return 2
        if args.workers > 1:
            from messenger.server.workers import WorkersRefused, run_workers

            try:
                return run_workers(config, args.workers, args.config)
            except WorkersRefused as exc:
                print(f"error {exc.code}: {exc}", file=sys.stderr)
                return 2
        return serve(config)
    if args.command == "admin":
        from messenger.server.admin_cli import run_admin

        return run_admin(args, server_config(args))
    if args.command == "local":
        from messenger.local_run import run_local

        return run_local(server_config(args).data_dir, args.local_port)
    if args.command == "chat":
        from messenger.client.chat_cli import run_chat

        return run_chat(args)
    if args.command == "update":
        from messenger.client.update_cli import run_update

        return run_update(args)
    if args.command == "service":
        from messenger.server.windows_service import run_service

        return run_service(args)
    from messenger.client.launch import run

    return run()
