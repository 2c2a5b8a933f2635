"""`messenger admin ...`: the same actions as the admin API, run on a server's data dir.

Works beside a running server: the database is shared, settings take effect on the
server's next request, and the server closes the sockets a command ends (revoked
devices, disabled accounts) within `socket_sweep_seconds`.

Each command prints readable text, or with `--json` the admin API's JSON. A refusal
prints `error: CODE: text` on stderr (with `--json`, `{"ok": false, "error_code", ...}`
on stdout) and exits 1.
"""

from __future__ import annotations

import argparse
import getpass
import json
import re
import sys
import unicodedata
from pathlib import Path
from typing import Any

from messenger.core.certificates import readable
from messenger.core.errors import localized
from messenger.server import jobs, settings, tls
from messenger.server.actions import admin
from messenger.server.actions.accounts import USERNAME_PATTERN, do_create_user, remove_profile_file
from messenger.server.actions.legacy_keys import do_purge_legacy_keys, do_release_legacy_keys, escrow_rooms
from messenger.server.app import command_app
from messenger.server.backup import BackupError, create_backup, restore_backup
from messenger.server.config import DATABASE_FILE, ServerConfig
from messenger.server.db import database_of
from messenger.server.db.models import User
from messenger.server.db.move import move_to_postgresql, moved_note
from messenger.server.errors import ApiError, Refused
from messenger.server.import_v4 import import_v4, read_escrow_file
from messenger.server.passwords import MIN_PASSWORD_LENGTH


class CommandFailed(Refused):
    """A refusal outside the API's errors (backup, restore), with its own code."""


def read_password(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    first = getpass.getpass("password: ")
    if first != getpass.getpass("again: "):
        raise SystemExit("the passwords differ")
    return first


def run_admin(args: argparse.Namespace, config: ServerConfig) -> int:
    try:
        data, text = _run(args, config)
    except ApiError as exc:
        return _fail(args, exc.code, exc.detail or localized(exc.code, "en-US"))
    except Refused as exc:
        return _fail(args, exc.code, exc.text)
    if getattr(args, "json", False):
        print(json.dumps(data, ensure_ascii=False, indent=2))
    else:
        print(text)
    return 0


def _fail(args: argparse.Namespace, code: str, text: str) -> int:
    if getattr(args, "json", False):
        print(json.dumps({"ok": False, "error_code": code, "error": text}, ensure_ascii=False))
    print(f"error: {code}: {text}", file=sys.stderr)
    return 1


def _run(args: argparse.Namespace, config: ServerConfig) -> tuple[object, str]:
    command = args.admin_command
    try:
        if command == "restore":
            return _restore(args, config)
        if command == "backup":
            return _backup(args, config)
        if command == "import-v4":
            return _import_v4(args, config)
        if command == "move-to":
            return _move_to(args, config)
        if command in CERTIFICATE_COMMANDS:
            return CERTIFICATE_COMMANDS[command](args, config)
    except BackupError as exc:
        raise CommandFailed("BACKUP_FAILED" if command == "backup" else "RESTORE_REFUSED", str(exc)) from None
    if config.database_url is None and moved_note(config.data_dir) is not None:
        raise CommandFailed("DATABASE_MOVED", f"{moved_note(config.data_dir)}: set MESSENGER_DATABASE_URL")
    if command != "create-user" and config.database_url is None:
        database_file = Path(config.data_dir) / DATABASE_FILE
        if not database_file.is_file():
            raise CommandFailed("NO_DATABASE", f"there is no server database in {config.data_dir}")

    app = command_app(config)
    try:
        with app.app_context():
            return COMMANDS[command](args)
    finally:
        database_of(app).close()


# --- backup and restore: no app, so nothing touches the live database's schema ------------

def _backup(args: argparse.Namespace, config: ServerConfig) -> tuple[object, str]:
    manifest = create_backup(config, args.file)
    size = Path(args.file).stat().st_size
    return ({"file": str(Path(args.file).resolve()), "size": size, **manifest},
            f"backup written to {args.file} ({len(manifest['files'])} files, {size / 1e6:.1f} MB, "
            f"schema {manifest['schema_revision']})")


def _restore(args: argparse.Namespace, config: ServerConfig) -> tuple[object, str]:
    target = getattr(args, "admin_data_dir", None)
    if target is None:
        raise CommandFailed("RESTORE_REFUSED", "say where to restore: restore FILE --data-dir DIR")
    database_url = args.database_url or config.database_url
    manifest = restore_backup(args.file, target, database_url)
    before, after = manifest["schema_revision"], manifest["restored_schema_revision"]
    schema = f"schema {before}" if before == after else f"schema {before} upgraded to {after}"
    database = " and MESSENGER_DATABASE_URL set to that database" if database_url else ""
    return ({"data_dir": str(Path(target).resolve()), **manifest},
            f"restored {len(manifest['files'])} files into {target} ({schema}); start the server on it with "
            f"--data-dir {target}{database}")


def _import_v4(args: argparse.Namespace, config: ServerConfig) -> tuple[object, str]:
    summary = import_v4(config, args.db, args.uploads, args.master_key, args.escrow_key_file,
                        tuple(args.admin), args.v4_timezone)
    lines = [f"imported into {config.data_dir} in {summary.seconds:.1f} s:"]
    lines += [f"  {name.replace('_', ' ')}: {count}" for name, count in summary.counts.items()]
    lines += [f"missing upload (its message is kept, without the file): {name}" for name in summary.missing_files]
    if summary.counts.get("legacy_room_keys"):
        lines.append(f"the legacy room keys are escrowed under the key in {summary.escrow_key_file}: keep that file "
                     "offline (not in the data dir); once members have signed in, run release-legacy-keys with it")
    if not args.admin:
        lines.append("v4 had no platform administrators: make one with create-user --admin (or import with --admin)")
    return summary.as_dict(), "\n".join(lines)
def _move_to(args: argparse.Namespace, config: ServerConfig) -> tuple[object, str]:
    if config.database_url is not None:
        raise CommandFailed("MOVE_REFUSED", "this server already runs on a database URL, not its SQLite file")
    summary = move_to_postgresql(Path(config.data_dir), Path(config.data_dir) / DATABASE_FILE, args.database_url)
    lines = [f"moved into {summary.target} in {summary.seconds:.1f} s:"]
    lines += [f"  {table}: {count}" for table, count in summary.rows.items() if count]
    lines.append(f"start the server with MESSENGER_DATABASE_URL set to that database and --data-dir {config.data_dir} "
                 "(its files stay there)")
    return {"target": summary.target, "seconds": summary.seconds, "rows": summary.rows}, "\n".join(lines)


# --- the server's certificate: files only ---------------------------------------------------

def show_fingerprint(args: argparse.Namespace, config: ServerConfig) -> tuple[object, str]:
    cert = tls.presented_certificate(config)
    digits = tls.certificate_fingerprint(cert)
    text = f"SHA-256 {readable(digits)}"
    if not config.https:
        text += f"\n(HTTPS is off in this server's configuration: it serves plain HTTP, not {cert})"
    return {"fingerprint": digits, "readable": readable(digits), "certificate": str(cert), "https": config.https}, text


def prepare_certificate_renewal(args: argparse.Namespace, config: ServerConfig) -> tuple[object, str]:
    if config.cert_file:
        raise CommandFailed("OWN_CERTIFICATE", f"the server presents {config.cert_file}, not a certificate it made: "
                                               "renew that one where it came from")
    if not 0 <= args.switch_after_days <= 365:
        raise CommandFailed("VALIDATION_ERROR", "--switch-after-days: 0 to 365")
    current = tls.certificate_fingerprint(tls.ensure_certificate(Path(config.data_dir))[0])
    plan = tls.prepare_renewal(Path(config.data_dir), args.switch_after_days)
    return ({"current": current, "next": plan["fingerprint"], "switch_at": plan["switch_at"]},
            f"next certificate: SHA-256 {readable(plan['fingerprint'])}\n"
            f"published now, signed by the current one (SHA-256 {readable(current)});\n"
            f"the server switches to it at its first start after {plan['switch_at']}")


CERTIFICATE_COMMANDS = {"show-fingerprint": show_fingerprint,
                        "prepare-certificate-renewal": prepare_certificate_renewal}


# --- commands that run in an app context --------------------------------------------------

def _actor() -> admin.Actor:
    return admin.Actor.command_line()


def _user(name_or_id: str) -> User:
    return admin.find_user(admin.find_user_by_name_or_id(name_or_id).id)


def _table(rows: list[dict[str, Any]], columns: list[str]) -> str:
    if not rows:
        return "(none)"
    cells = [[("" if row.get(c) is None else str(row.get(c))) for c in columns] for row in rows]
    widths = [max(display_width(c), *(display_width(r[i]) for r in cells)) for i, c in enumerate(columns)]

    def line(values: list[str]) -> str:
        return "  ".join(v + " " * (w - display_width(v)) for v, w in zip(values, widths)).rstrip()

    return "\n".join([line(columns), *map(line, cells)])


def display_width(text: str) -> int:
    """Columns `text` takes in a terminal: wide characters (Hangul, CJK) take two, combining
    marks none."""
    return sum(0 if unicodedata.combining(ch) else 2 if unicodedata.east_asian_width(ch) in "WF" else 1
               for ch in text)


def create_user(args: argparse.Namespace) -> tuple[object, str]:
    if not re.fullmatch(USERNAME_PATTERN, args.username):
        raise ApiError("VALIDATION_ERROR", detail="username: 3-20 letters, digits or _")
    password = read_password(args.password_stdin)
    if len(password) < MIN_PASSWORD_LENGTH:
        raise ApiError("PASSWORD_TOO_WEAK")
    user = do_create_user(args.username, password, args.nickname or args.username, is_admin=args.admin)
    return (admin.admin_user(user),
            f"created user {user.username} (id {user.id}{', platform admin' if user.is_admin else ''})")


def list_users(args: argparse.Namespace) -> tuple[object, str]:
    rows = admin.list_users(args.status)
    for row in rows:
        row["admin"] = "yes" if row["is_admin"] else ""
    return rows, _table(rows, ["id", "username", "nickname", "status", "admin", "last_login", "live_devices"])


def disable(args: argparse.Namespace) -> tuple[object, str]:
    user = _user(args.user)
    changed = admin.do_disable_user(user, _actor())
    return ({"success": True, "changed": changed, "user_id": user.id},
            f"{user.username} (id {user.id}) is disabled" + ("" if changed else " (it already was)"))


def enable(args: argparse.Namespace) -> tuple[object, str]:
    user = _user(args.user)
    changed = admin.do_enable_user(user, _actor())
    return ({"success": True, "changed": changed, "user_id": user.id},
            f"{user.username} (id {user.id}) is enabled" + ("" if changed else " (it already was)"))


def reset_password(args: argparse.Namespace) -> tuple[object, str]:
    user = _user(args.user)
    password = read_password(True) if args.password_stdin else None
    generated = admin.do_reset_password(user, password, _actor())
    data: dict[str, Any] = {"success": True, "user_id": user.id}
    text = f"password of {user.username} (id {user.id}) changed; its devices are signed out"
    if generated:
        data["generated_password"] = generated
        text += f"\nnew password (shown once): {generated}"
    return data, text


def delete_user(args: argparse.Namespace) -> tuple[object, str]:
    if not args.yes:
        raise ApiError("VALIDATION_ERROR", detail="deleting an account cannot be undone: add --yes to confirm")
    user = _user(args.user)
    name = user.username
    remove_profile_file(admin.do_delete_user(user, _actor()))
    return {"success": True, "user_id": user.id}, f"{name} (id {user.id}) is deleted"


def list_devices(args: argparse.Namespace) -> tuple[object, str]:
    user_id = _user(args.user).id if args.user else None
    rows = admin.list_device_sessions(user_id, args.include_expired)
    return rows, _table(rows, ["id", "user_id", "username", "device_name", "last_used_at", "expires_at", "ip"])


def revoke_device(args: argparse.Namespace) -> tuple[object, str]:
    device = admin.find_live_device_session(args.session_id)
    admin.do_revoke_device(device, _actor())
    return ({"success": True, "revoked": True, "session_id": device.id},
            f"device session {device.id} ({device.device_name}) is revoked")


def list_rooms(args: argparse.Namespace) -> tuple[object, str]:
    if not 1 <= args.limit <= 1000 or args.offset < 0:
        raise ApiError("VALIDATION_ERROR", detail="limit: 1-1000, offset: 0 or more")
    data = admin.list_rooms(args.limit, args.offset)
    text = _table(data["rooms"], ["id", "type", "name", "member_count", "message_count", "last_message_at"])
    return data, f"{text}\n({len(data['rooms'])} of {data['total']} rooms)"


def _store_settings(changes: dict[str, Any]) -> dict[str, Any]:
    try:
        checked = {key: settings.validate(key, value) for key, value in changes.items()}
    except settings.SettingInvalid as exc:
        raise ApiError("VALIDATION_ERROR", detail=str(exc)) from None
    return admin.do_update_settings(checked, _actor())


def _settings_text(view: dict[str, Any]) -> str:
    lines = [f"{key} = {json.dumps(value, ensure_ascii=False)}" for key, value in view["settings"].items()]
    forced = " (forced by DESKTOP_ONLY_MODE)" if view["mode_forced_by_environment"] else ""
    lines.append(f"mode in force: {'desktop-only' if view['desktop_only_mode'] else 'hybrid'}{forced}")
    return "\n".join(lines)


def settings_command(args: argparse.Namespace) -> tuple[object, str]:
    if args.settings_command == "show":
        view = admin.settings_view()
        return view, _settings_text(view)
    try:
        value = json.loads(args.value)
    except ValueError:
        value = args.value  # a bare word: hybrid, required, ...
    view = _store_settings({args.key: value})
    return view, _settings_text(view)


def set_mode(args: argparse.Namespace) -> tuple[object, str]:
    view = _store_settings({"mode": args.mode})
    return view, _settings_text(view)


def set_release(args: argparse.Namespace) -> tuple[object, str]:
    policy = settings.get("release_policy")
    policy[args.channel] = {"minimum_version": args.minimum, "latest_version": args.latest,
                            "download_url": args.download_url, "release_notes_url": args.notes_url}
    view = _store_settings({"release_policy": policy})
    return view, _settings_text(view)


def audit(args: argparse.Namespace) -> tuple[object, str]:
    try:
        since = admin.parse_time("since", args.since) if args.since else None
        until = admin.parse_time("until", args.until) if args.until else None
    except ValueError as exc:
        raise ApiError("VALIDATION_ERROR", detail=str(exc)) from None
    if not 1 <= args.limit <= 1000 or args.offset < 0:
        raise ApiError("VALIDATION_ERROR", detail="limit: 1-1000, offset: 0 or more")
    actions = [a.strip() for a in (args.action or "").split(",") if a.strip()]
    user_id = _user_any(args.user) if args.user else None
    data = admin.audit_entries(user_id, actions, since, until, args.limit, args.offset)
    return data, _table(data["entries"], ["id", "created_at", "action", "username", "actor_id", "ip_address"])


def _user_any(name_or_id: str) -> int:
    """Deleted users too: their log stays readable."""

    return admin.find_user_by_name_or_id(name_or_id).id


def run_maintenance(args: argparse.Namespace) -> tuple[object, str]:
    results = jobs.run_maintenance()
    failed = [name for name, count in results.items() if count is None]
    text = "\n".join(f"{name}: {'FAILED (see the log)' if count is None else count}" for name, count in results.items())
    if failed:
        raise CommandFailed("MAINTENANCE_FAILED", f"{', '.join(failed)} failed:\n{text}")
    return results, text


def release_legacy_keys(args: argparse.Namespace) -> tuple[object, str]:
    release = do_release_legacy_keys(read_escrow_file(args.escrow_key_file))
    lines = [f"legacy keys of {release.rooms} rooms sealed in {release.packages} packages to members' devices"]
    if release.escrow_purged:
        lines.append(f"every member holds them in rooms {', '.join(map(str, release.escrow_purged))}: "
                     "their escrow is deleted")
    lines += [f"room {room}: waiting for the first sign-in of {', '.join(names)} (run this again later)"
              for room, names in release.waiting.items()]
    if not release.waiting:
        lines.append("nothing is escrowed any more: destroy the escrow key file")
    return release.as_dict(), "\n".join(lines)


def purge_legacy_keys(args: argparse.Namespace) -> tuple[object, str]:
    if not args.yes:
        waiting = escrow_rooms()
        raise ApiError("VALIDATION_ERROR", detail=f"the legacy keys of {len(waiting)} rooms are still escrowed; "
                                                  "purging cannot be undone: add --yes to confirm")
    removed = do_purge_legacy_keys()
    return ({"success": True, "escrow_purged_rooms": removed},
            f"deleted the escrowed legacy keys of {removed} rooms; destroy the escrow key file too")


COMMANDS = {
    "create-user": create_user,
    "list-users": list_users,
    "disable": disable,
    "enable": enable,
    "reset-password": reset_password,
    "delete-user": delete_user,
    "list-devices": list_devices,
    "revoke-device": revoke_device,
    "list-rooms": list_rooms,
    "settings": settings_command,
    "set-mode": set_mode,
    "set-release": set_release,
    "audit": audit,
    "run-maintenance": run_maintenance,
    "release-legacy-keys": release_legacy_keys,
    "purge-legacy-keys": purge_legacy_keys,
}
