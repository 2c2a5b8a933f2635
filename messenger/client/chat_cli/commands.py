"""The commands of `messenger chat` (history and tail: reading.py), and the table run_chat dispatches on."""

from __future__ import annotations

import getpass
import json
import sys
import time
import uuid

from messenger.client.chat_cli import EXIT_OK, UsageError
from messenger.client.chat_cli.reading import cmd_history, cmd_tail
from messenger.client.chat_cli.session import CliSession, resolve_room, resolve_user

SEND_TIMEOUT_SECONDS = 30.0


def cmd_discover(args) -> int:
    """The servers announced on this network (DNS-SD), one line each: name, address, version and
    the certificate's fingerprint (a hint: the certificate is checked when the desk connects)."""
    from messenger.client.services.discovery import browse
    from messenger.core.certificates import readable

    found = browse()
    for server in found:
        fingerprint = f"\tSHA-256 {readable(server.fingerprint)}" if server.fingerprint else ""
        print(f"{server.name}\t{server.url}\t{server.version}{fingerprint}")
    return _done(f"{len(found)} server(s) found")


def cmd_login(session: CliSession, args) -> int:
    from messenger.client.services.api import ServerRefused, ServerUnreachable

    username = args.username or input("Username: ").strip()
    if args.password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = getpass.getpass("Password: ")
    if not username or not password:
        raise UsageError("a username and a password are needed")
    _sign_out_previous(session, username)
    session.api = session.new_client()
    device_name = args.device_name or f"{session.settings.device_name} (command line)"[:100]
    user = session.api.sign_in(username, password, device_name=device_name)
    session.settings.server_url = session.api.server_url
    try:
        keys = session.start_keys(login_password=password)
    except (ServerRefused, ServerUnreachable):
        session.api.sign_out()  # a device without keys could read nothing: do not leave it behind
        raise
    print(f"signed in as {user['username']} on {session.api.server_url} (device {keys.device_session_id})",
          file=sys.stderr)
    return _done(f"device key fingerprint: {keys.fingerprint}")


def _sign_out_previous(session: CliSession, username: str) -> None:
    """Signing in again in the same folder replaces its device: the old one is signed out."""
    from messenger.client.services.api import ServerRefused, ServerUnreachable
    from messenger.client.services.session_store import normalize_server_url

    account = session.store.last_account()
    if account is None or account.username.lower() != username.lower():
        return
    if account.server_url != normalize_server_url(session.server_url()):
        return
    try:
        session.open()
    except (ServerRefused, ServerUnreachable):
        return
    session.keys.forget()  # the identity stays: the new sign-in here approves itself with it
    session.api.sign_out()
    session.close()
    session.api = session.keys = None


def cmd_logout(session: CliSession, args) -> int:
    from messenger.client.services.local_db import forget_local_data_key
    from messenger.client.services.outbox import forget_outbox, outbox_path

    api = session.open()
    username = api.user["username"]
    session.keys.forget(identity=True)
    told = api.sign_out()
    # What the desktop app keeps of the account, in a home it shares with this one (--home): its
    # outbox goes, and its local data key, without which its sealed search index opens no more.
    forget_outbox(outbox_path(session.dirs.data, api.server_url, username))
    forget_local_data_key(session.store, api.server_url, username)
    return _done("signed out" if told else "signed out here (the server could not be told)")


def cmd_rooms(session: CliSession, args) -> int:
    api = session.open()
    for room in api.rooms():
        partner = room.get("partner") or {}
        name = room.get("name") or partner.get("nickname") or f"room {room['id']}"
        if args.json:
            print(json.dumps({"id": room["id"], "name": name, "type": room["type"],
                              "partner": partner.get("username"), "member_count": room["member_count"],
                              "unread_count": room["unread_count"]}, ensure_ascii=False))
        else:
            print(f"{room['id']}\t{room['type']}\t{name}\t{room['member_count']} members\t"
                  f"{room['unread_count']} unread")
    return EXIT_OK


class PatientSender:
    """Sends on the live connection, again with the same client_msg_id after a lost answer or
    a dropped connection (the server never stores it twice), until a deadline."""

    def __init__(self, realtime, timeout: float = SEND_TIMEOUT_SECONDS):
        self.realtime = realtime
        self.timeout = timeout

    def send_message(self, room_id: int, content: str, **fields) -> dict:
        from messenger.client.services.api import ServerUnreachable

        deadline = time.monotonic() + self.timeout
        while True:
            try:
                return self.realtime.send_message(room_id, content, **fields)
            except ServerUnreachable:
                if time.monotonic() > deadline:
                    raise
                self.realtime.wait_connected(max(0.1, deadline - time.monotonic()))


def cmd_send(session: CliSession, args) -> int:
    from messenger.client.services.messages import send_text

    api = session.open()
    room_id = resolve_room(api, args.room)
    text = sys.stdin.read().rstrip("\n") if args.text == "-" else args.text
    session.live()
    session.connect()
    ack = send_text(session.keys, PatientSender(session.realtime), room_id, text, client_msg_id=uuid.uuid4().hex)
    print(ack["message_id"])
    return EXIT_OK


def cmd_send_file(session: CliSession, args) -> int:
    from messenger.client.services.messages import share_file

    try:
        data = args.path.read_bytes()
    except OSError as exc:
        raise UsageError(f"cannot read {args.path}: {exc.strerror}") from None
    api = session.open()
    room_id = resolve_room(api, args.room)
    session.live()
    session.connect()
    ack = share_file(session.keys, api, PatientSender(session.realtime), room_id, data, args.path.name,
                     client_msg_id=uuid.uuid4().hex)
    print(ack["message_id"])
    return EXIT_OK


def _read_passphrase(args, confirm: bool) -> str:
    """The backup passphrase, or with --recovery-key-stdin the recovery key."""
    if args.recovery_key_stdin:
        return _read_recovery_key(args)
    if args.passphrase_stdin:
        passphrase = sys.stdin.readline().rstrip("\r\n")
    else:
        passphrase = getpass.getpass("Key backup passphrase: ")
        if confirm and getpass.getpass("Again: ") != passphrase:
            raise UsageError("the passphrases differ")
    if not passphrase:
        raise UsageError("the passphrase is empty")
    return passphrase


def cmd_backup_keys(session: CliSession, args) -> int:
    passphrase = _read_passphrase(args, confirm=True)
    api = session.open()
    for room in api.rooms():  # open whatever was sealed to this device meanwhile
        session.keys.sync_room(room["id"])
    version = session.keys.write_backup(passphrase, start_over=args.start_over)
    return _done(f"key backup version {version}")


def cmd_restore_keys(session: CliSession, args) -> int:
    passphrase = _read_passphrase(args, confirm=False)
    gained = session.open_keys().restore_backup(passphrase)
    return _done(f"restored {gained} room keys")


def cmd_devices(session: CliSession, args) -> int:
    for device in session.open_keys().own_devices():
        state = "verified" if device["verified"] else "unverified"
        if args.json:
            print(json.dumps({key: device[key] for key in ("device_session_id", "device_name", "verified", "current",
                                                           "fingerprint", "published_at")}, ensure_ascii=False))
        else:
            current = "\tthis device" if device["current"] else ""
            print(f"{device['device_session_id']}\t{state}\t{device['device_name']}\t{device['fingerprint']}{current}")
    return EXIT_OK


def cmd_approve(session: CliSession, args) -> int:
    session.open_keys().approve_device(args.device_id, args.code)
    return _done(f"approved device {args.device_id}")


def _read_recovery_key(args) -> str:
    from messenger.core.e2e.identity import is_recovery_key

    if args.recovery_key_stdin:
        recovery_key = sys.stdin.readline().strip()
    else:
        recovery_key = getpass.getpass("Recovery key: ").strip()
    if not is_recovery_key(recovery_key):
        raise UsageError("a recovery key is 8 groups of 4 characters A-Z and 2-7")
    return recovery_key


def cmd_recover(session: CliSession, args) -> int:
    recovery_key = _read_recovery_key(args)
    restored = session.open_keys().recover(recovery_key)
    return _done(f"this device is approved: it holds your identity again; restored {restored} room keys")


def cmd_reset_identity(session: CliSession, args) -> int:
    recovery_key = session.open_keys().reset_identity()
    return _done(f"a new identity approves this device; your new recovery key (shown only now): {recovery_key}")


def cmd_safety_number(session: CliSession, args) -> int:
    api = session.open()
    user_id = resolve_user(api, args.user)
    session.keys.look_at_identity(user_id)
    # After a change, the number of the identity now shown: the one to compare before `trust`.
    print(session.keys.safety_number(user_id, changed=True))
    return EXIT_OK


def cmd_trust(session: CliSession, args) -> int:
    api = session.open()
    user_id = resolve_user(api, args.user)
    session.keys.trust_identity(user_id)
    print(session.keys.safety_number(user_id))
    return EXIT_OK


def _done(status: str) -> int:
    """A command's last status line: on standard error, as standard output carries only data."""
    print(status, file=sys.stderr)
    return EXIT_OK


COMMANDS = {
    "login": cmd_login, "logout": cmd_logout, "rooms": cmd_rooms, "send": cmd_send, "send-file": cmd_send_file,
    "history": cmd_history, "tail": cmd_tail, "backup-keys": cmd_backup_keys, "restore-keys": cmd_restore_keys,
    "devices": cmd_devices, "approve": cmd_approve, "recover": cmd_recover, "safety-number": cmd_safety_number,
    "trust": cmd_trust, "reset-identity": cmd_reset_identity,
}
