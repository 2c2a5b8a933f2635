"""`messenger update check|download|apply`: the installed program updates itself, for admins and scripts.

    messenger update check    --server https://chat.office:5000 [--channel stable|canary]
    messenger update download --server https://chat.office:5000 [--channel stable|canary]
    messenger update apply

The tray client's own updater (messenger/client/services/updater.py) on the folder this program
runs from: `download` verifies and stages the release, `apply` swaps it in (the next start runs
it). One line of output each, e.g. "update 1.1.0 available (patch 12.7 MB)", "staged 1.1.0",
"applied 1.1.0"; a failure prints "update check failed: reason" on standard error and exits 1.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path

EXIT_OK, EXIT_ERROR, EXIT_USAGE = 0, 1, 2
MB = 1_000_000


def add_update_commands(commands) -> None:
    """The `update` subcommand (kept light: the updater loads on use)."""
    update = commands.add_parser("update", help="check for, download or apply an update of this installed program",
                                 description="Update the installed program this command runs from.")
    update.add_argument("update_command", choices=["check", "download", "apply"],
                        help="check: is there a newer release; download: verify and stage it; apply: swap it in")
    update.add_argument("--server", help="server address (default: the client's server setting)")
    update.add_argument("--channel", choices=["stable", "canary"],
                        help="canary also takes pre-releases (default: the client's update_channel setting)")
    update.add_argument("--data-dir", type=Path, dest="update_data_dir", metavar="DIR",
                        help="where update metadata and downloads are kept (default: the client's data folder)")
    update.add_argument("--verbose", action="store_true", help="log what the updater does on standard error")


def run_update(args) -> int:
    logging.basicConfig(level=logging.INFO if args.verbose else logging.CRITICAL, stream=sys.stderr,
                        format="%(levelname)s %(name)s: %(message)s")
    if not getattr(sys, "frozen", False):
        # From sources sys.executable is Python itself: its folder is no install to swap files in.
        print("messenger update: only the installed program updates itself; this is Python on the sources "
              f"({sys.executable})", file=sys.stderr)
        return EXIT_USAGE
    from messenger.client.services.dirs import client_dirs
    from messenger.client.services.settings import ClientSettings
    from messenger.client.services.trust import ServerPins
    from messenger.client.services.updater import Updater

    dirs = client_dirs()
    settings = ClientSettings(dirs.config / ClientSettings.FILE_NAME)
    server = args.server or settings.server_url
    if args.update_command != "apply" and not server:
        print("messenger update: --server URL is needed (the client has no server set)", file=sys.stderr)
        return EXIT_USAGE
    updater = Updater(Path(sys.executable).parent, args.update_data_dir or dirs.data, server or "",
                      channel=args.channel or settings.update_channel, pins=ServerPins(dirs.data))
    if args.update_command == "apply":
        state = updater.apply_staged()
        if state.status == "applied":
            from messenger.client.services.windows_shell import record_installed_version

            record_installed_version(updater.install_dir, state.version)  # Apps & features
        return _report(state, "applied", f"no update staged; messenger {updater.current_version} stays")
    state = updater.check()
    if state.status == "available":
        if args.update_command == "check":
            print(f"update {state.version} available ({_download_size(updater)})")
            return EXIT_OK
        state = updater.download()
    return _report(state, "staged", f"messenger {updater.current_version} is up to date")


def _report(state, done: str, nothing: str) -> int:
    """One line for the final state: `done` + version, the updater's own message, or `nothing`."""
    if state.status == "failed":
        print(state.message, file=sys.stderr)
        return EXIT_ERROR
    if state.status == done:
        print(f"{done} {state.version}")
    else:
        print(state.message if state.status in ("ask_it", "waiting") else nothing)
    return EXIT_OK


def _download_size(updater) -> str:
    # What check() chose to fetch: tufup picks the patches or, when they are missing or too big,
    # the full archive.
    targets = updater._client.new_targets
    kind = "patch" if all(meta.is_patch for meta in targets) else "full archive"
    return f"{kind} {sum(target.length for target in targets.values()) / MB:.1f} MB"
