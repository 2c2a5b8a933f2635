"""The one entry point: `messenger` (tray client), `messenger --serve`, `messenger admin ...`."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from messenger import __version__


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="messenger", description="Office messenger: server and desktop client.")
    parser.add_argument("--version", action="version", version=f"messenger {__version__}")
    parser.add_argument("--serve", action="store_true", help="run the server")
    parser.add_argument("--host", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, help="port to listen on (default 5000; 0 picks a free one)")
    parser.add_argument("--data-dir", type=Path, help="server data folder (default: the platform's data dir)")
    parser.add_argument("--config", type=Path, help="config file (default: DATA_DIR/config.toml)")
    commands = parser.add_subparsers(dest="command")

    admin = commands.add_parser("admin", help="administer a server's data dir (running or stopped)")
    admin.add_argument("--data-dir", type=Path, dest="admin_data_dir", help="server data folder")
    admin_commands = admin.add_subparsers(dest="admin_command", required=True)
    create = admin_commands.add_parser("create-user", help="create an account")
    create.add_argument("username")
    create.add_argument("--nickname")
    create.add_argument("--admin", action="store_true", help="make it a platform administrator")
    create.add_argument("--password-stdin", action="store_true", help="read the password from standard input")
    return parser


def server_config(args):
    from messenger.server.config import load_config

    data_dir = getattr(args, "admin_data_dir", None) or args.data_dir
    return load_config({"host": args.host, "port": args.port, "data_dir": data_dir}, args.config)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if "--serve" in argv and os.environ.get("MESSENGER_ASYNC_MODE", "gevent") == "gevent":
        # Must come before anything imports threading, ssl or socket.
        from gevent import monkey

        monkey.patch_all()
    args = build_parser().parse_args(argv)
    if args.serve:
        import logging

        from messenger.server.serve import serve

        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
        return serve(server_config(args))
    if args.command == "admin":
        from messenger.server.admin_cli import run_admin

        return run_admin(args, server_config(args))
    print("The desktop client is not part of this build yet; run `messenger --serve` for the server.",
          file=sys.stderr)
    return 2
