"""`messenger chat ...`: the scriptable command-line client, on the desktop app's services.

    messenger chat --server https://chat.office:5000 login alice --password-stdin
    messenger chat rooms
    messenger chat send ROOM "text"            (TEXT "-": read it from standard input)
    messenger chat send-file ROOM PATH
    messenger chat history ROOM --limit 20
    messenger chat tail ROOM --count 1 --timeout 60
    messenger chat backup-keys --passphrase-stdin / restore-keys --passphrase-stdin
    messenger chat devices                     (your devices: verified or waiting for approval)
    messenger chat approve DEVICE_ID --code "12345 67890 12345"
    messenger chat recover --recovery-key-stdin (approve this device with your recovery key)
    messenger chat safety-number @username / trust @username
    messenger chat reset-identity --yes        (every device and the recovery key lost)
    messenger chat logout

ROOM is a room id, a room's exact name, or `@username` for the direct room with that person
(made if there is none yet). Everything is end-to-end encrypted as in the desktop app: this
is a device of its own, with its own keys. Its state (token and device keys in the OS keyring
or the protected fallback file, the sealed room-key cache, settings) lives in --home DIR,
$MESSENGER_CLIENT_HOME, or its own platform folders (a `chat` folder in the desktop app's),
so that it never shares a sign-in with the desktop app.

Output: messages on standard output (one line each; --json: one JSON object per line), status
lines on standard error. What `history` and `tail` print counts as read (--keep-unread: not).
Exit codes: 0 done, 1 failed (standard error names the stable error code: `error: CODE: text`),
2 usage. Warnings that do not stop a command are standard error lines `warning: CODE: text`
(E2E_DEVICE_UNVERIFIED, E2E_IDENTITY_CHANGED).

Verified devices: each user has an identity key, made on their first device, that signs their
devices. A new device of yours gets no keys until one of your devices that holds the identity
approves it (`devices` there shows it, `approve` with the code the new device prints), or until
you enter the recovery key on it (`recover`); the recovery key is printed once, when the
identity is made. Other people's identities are pinned on first use; a changed one is refused
and warned about until you compare the safety number and `trust` it.
"""

from __future__ import annotations

import argparse
import functools
import getpass
import json
import logging
import sys
import threading
import time
import uuid
from datetime import datetime
from pathlib import Path

EXIT_OK, EXIT_ERROR, EXIT_USAGE = 0, 1, 2
CONNECT_TIMEOUT_SECONDS = 15.0
SEND_TIMEOUT_SECONDS = 30.0
# A saved token is used as it is (see script_client_class) unless it expires sooner than this.
REFRESH_WITHIN_SECONDS = 7 * 86_400

log = logging.getLogger(__name__)


class UsageError(Exception):
    """The command line itself is wrong: exit 2."""


def add_chat_commands(commands) -> None:
    """The `chat` subcommand and its own subcommands (kept light: services load on use)."""
    chat = commands.add_parser("chat", help="command-line client: end-to-end encrypted messages for scripts",
                               description="The command-line client. ROOM: a room id, its exact name, or @username.")
    chat.add_argument("--server", help="server address, e.g. https://chat.office:5000 (default: the last one)")
    chat.add_argument("--home", type=Path,
                      help="this client's folder (default: $MESSENGER_CLIENT_HOME, else its own platform "
                           "folders, apart from the desktop app's)")
    chat.add_argument("--lang", choices=["ko-KR", "en-US"], help="language of error texts (default: the setting)")
    chat.add_argument("--ca-bundle", help="CA certificate file for a server with its own certificate")
    chat.add_argument("--trust", metavar="FINGERPRINT",
                      help="the SHA-256 fingerprint the administrator gave for a server this folder has not "
                           "trusted yet (messenger admin show-fingerprint); else it asks on a terminal")
    chat.add_argument("--discover", action="store_true",
                      help="list the messenger servers announced on the local network, then exit")
    chat.add_argument("--verbose", action="store_true", help="log what the client does on standard error")
    sub = chat.add_subparsers(dest="chat_command", metavar="COMMAND")
    output = argparse.ArgumentParser(add_help=False)
    output.add_argument("--json", action="store_true", help="one JSON object per line")

    login = sub.add_parser("login", help="sign in: this folder becomes a new device with its own keys")
    login.add_argument("username", nargs="?")
    login.add_argument("--password-stdin", action="store_true", help="read the password from standard input")
    login.add_argument("--device-name", help="how this device shows in the session list")
    sub.add_parser("logout", help="sign this device out and forget its keys")
    sub.add_parser("rooms", help="list your rooms", parents=[output])
    send = sub.add_parser("send", help="send an encrypted text message; prints its id")
    send.add_argument("room")
    send.add_argument("text", help='the message ("-": read it from standard input)')
    send_file = sub.add_parser("send-file", help="encrypt a file, send it (an image if it is one); prints its id")
    send_file.add_argument("room")
    send_file.add_argument("path", type=Path)
    history = sub.add_parser("history", help="print a room's latest messages, decrypted, oldest first",
                             parents=[output])
    history.add_argument("room")
    history.add_argument("--limit", type=int, default=50, help="how many messages (default 50)")
    history.add_argument("--wait-keys", type=float, default=5.0, metavar="SECONDS",
                         help="wait this long for missing keys to arrive (default 5)")
    history.add_argument("--save-files", type=Path, metavar="DIR", help="download and decrypt files into DIR")
    history.add_argument("--keep-unread", action="store_true",
                         help="leave your read mark where it is (default: what is printed counts as read)")
    tail = sub.add_parser("tail", help="print messages as they arrive, decrypted (Ctrl+C stops)", parents=[output])
    tail.add_argument("room")
    tail.add_argument("--count", type=int, help="stop after this many messages (exit 1 if --timeout comes first)")
    tail.add_argument("--timeout", type=float, metavar="SECONDS", help="stop after this long")
    tail.add_argument("--wait-keys", type=float, default=10.0, metavar="SECONDS",
                      help="hold a message waiting for its key this long before printing it as waiting (default 10)")
    tail.add_argument("--save-files", type=Path, metavar="DIR", help="download and decrypt files into DIR")
    tail.add_argument("--keep-unread", action="store_true",
                      help="leave your read mark where it is (default: what is printed counts as read)")
    backup = sub.add_parser("backup-keys", help="store this device's room keys in your encrypted key backup")
    backup.add_argument("--passphrase-stdin", action="store_true", help="read the passphrase from standard input")
    backup.add_argument("--recovery-key-stdin", action="store_true",
                        help="encrypt it under your recovery key (read from standard input) instead of a passphrase")
    backup.add_argument("--start-over", action="store_true",
                        help="replace a backup whose passphrase is lost with this device's keys")
    restore = sub.add_parser("restore-keys", help="take the room keys of your key backup")
    restore.add_argument("--passphrase-stdin", action="store_true", help="read the passphrase from standard input")
    restore.add_argument("--recovery-key-stdin", action="store_true",
                         help="the backup was written under your recovery key: read it from standard input")
    sub.add_parser("devices", help="your devices: verified, or waiting for approval (with this device's code)",
                   parents=[output])
    approve = sub.add_parser("approve", help="approve another of your devices after comparing its code")
    approve.add_argument("device_id", type=int)
    approve.add_argument("--code", required=True, help="the code the new device shows (spaces do not matter)")
    recover = sub.add_parser("recover", help="approve this device with your recovery key")
    recover.add_argument("--recovery-key-stdin", action="store_true", help="read the recovery key from standard input")
    safety = sub.add_parser("safety-number", help="the number you and USER compare to know your keys are real")
    safety.add_argument("user", help="@username or a user id")
    reset = sub.add_parser("reset-identity", help="make a new identity when every device and the recovery key are lost")
    reset.add_argument("--yes", action="store_true", required=True,
                       help="confirm: your contacts are warned, and what only the old identity's devices could read is lost")
    trust = sub.add_parser("trust", help="accept USER's changed identity (after comparing the safety number)")
    trust.add_argument("user", help="@username or a user id")


def run_chat(args) -> int:
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, stream=sys.stderr,
                        format="%(levelname)s %(name)s: %(message)s")
    from messenger.client.services.api import ApiError, ServerUnreachable
    from messenger.client.services.keys import E2EError
    from messenger.client.services.trust import ServerTrustError
    from messenger.core.e2e import EnvelopeError
    from messenger.core.errors import localized

    session = ChatSession(args)
    try:
        if args.discover:
            return cmd_discover(args)
        if args.chat_command is None:
            raise UsageError("say what to do: a COMMAND, or --discover")
        session.ensure_trusted()
        return COMMANDS[args.chat_command](session, args)
    except UsageError as exc:
        print(f"messenger chat: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except ApiError as exc:
        signed_out = exc.code in ("AUTH_REQUIRED", "AUTH_TOKEN_INVALID_OR_EXPIRED")
        hint = "  (sign in: messenger chat login)" if signed_out else ""
        return _failed(exc.code, exc.message_localized, exc.message, hint)
    except (E2EError, EnvelopeError) as exc:
        return _failed(exc.code, localized(exc.code, session.language), str(exc))
    except ServerUnreachable as exc:
        return _failed("SERVER_UNREACHABLE", localized("SERVER_UNREACHABLE", session.language), str(exc))
    except ServerTrustError as exc:
        return _failed(exc.code, localized(exc.code, session.language), str(exc))
    except KeyboardInterrupt:
        return EXIT_OK
    finally:
        session.close()


def _failed(code: str, text: str, detail: str = "", hint: str = "") -> int:
    detail = f" ({detail})" if detail and detail not in (code, text) else ""
    print(f"error: {code}: {text}{detail}{hint}", file=sys.stderr)
    return EXIT_ERROR


class ChatSession:
    """The services of one command: the API client, this device's keys, the live connection."""

    def __init__(self, args):
        from messenger.client.services.dirs import client_dirs
        from messenger.client.services.session_store import SessionStore
        from messenger.client.services.settings import ClientSettings
        from messenger.client.services.trust import ServerPins

        self.args = args
        self.dirs = client_dirs(args.home, role="chat")
        for problem in self.dirs.make_private():
            log.warning("cannot make private: %s", problem)
        self.settings = ClientSettings(self.dirs.config / ClientSettings.FILE_NAME)
        self.store = SessionStore(self.dirs.data)
        self.language = args.lang or self.settings.effective_language
        self.pins = ServerPins(self.dirs.data)
        self.api = None
        self.keys = None
        self.realtime = None

    def server_url(self) -> str:
        account = self.store.last_account()
        url = self.args.server or self.settings.server_url or (account.server_url if account else "")
        if not url:
            raise UsageError("no server yet: pass --server URL (e.g. --server https://chat.office:5000)")
        return url

    def new_client(self):
        from messenger.client.services.trust import ServerTrust

        url = self.server_url()
        return script_client_class()(url, self.store, language=self.language,
                                     trust=ServerTrust(url, self.pins, self.args.ca_bundle))

    def ensure_trusted(self) -> None:
        """Meet the server before anything is sent: a certificate this folder has not trusted
        yet is pinned if it matches --trust, or if the person at the terminal says yes; a
        pinned server that presents another certificate is refused (ServerTrustError)."""
        from messenger.client.services.trust import UNTRUSTED, ServerTrustError
        from messenger.core.certificates import parse_fingerprint, readable

        given = None
        if self.args.trust is not None:
            given = parse_fingerprint(self.args.trust)
            if given is None:
                raise UsageError("--trust: a SHA-256 fingerprint is 64 hex digits (spaces and colons are fine)")
        with self.new_client() as probe:
            try:
                probe.health()
                return
            except ServerTrustError as exc:
                if exc.code != UNTRUSTED:
                    raise
                refused = exc
        shown = readable(refused.fingerprint)
        if given is not None:
            if given != refused.fingerprint:
                raise ServerTrustError(UNTRUSTED, refused.server, refused.fingerprint,
                                       detail=f"the server presents SHA-256 {shown}, not the fingerprint "
                                              "given with --trust")
        elif sys.stdin.isatty() and sys.stderr.isatty():
            print(f"{refused.server} presents a certificate this folder has not trusted yet.\n"
                  f"SHA-256 {shown}\n"
                  "Trust it only if it is the fingerprint your administrator gave (messenger admin show-fingerprint).",
                  file=sys.stderr)
            # The question goes to standard error: standard output is for what scripts read.
            print("Trust this server? [y/N] ", end="", file=sys.stderr, flush=True)
            if sys.stdin.readline().strip().lower() not in ("y", "yes"):
                raise refused
        else:
            raise ServerTrustError(UNTRUSTED, refused.server, refused.fingerprint,
                                   detail=f"{refused} (not on a terminal: pass --trust FINGERPRINT)")
        self.pins.trust(self.server_url(), refused.fingerprint)
        print(f"trusted {refused.server} (SHA-256 {shown})", file=sys.stderr)

    def open(self):
        """The saved session of this folder, with its device keys started; AUTH_REQUIRED if none."""
        from messenger.client.services.api import ApiError
        from messenger.core.errors import localized

        self.api = self.new_client()
        resumed = self.api.resume()
        if resumed is None:
            raise ApiError("AUTH_REQUIRED", 401, localized("AUTH_REQUIRED", self.language), "no saved session")
        self.start_keys(resumed["device_session_id"])
        return self.api

    def start_keys(self, device_session_id: int | None = None):
        from messenger.client.services.keys import E2EKeys

        self.keys = E2EKeys(self.api, self.store, self.dirs.data)
        self.keys.start(device_session_id)
        recovery_key = self.keys.take_new_recovery_key()
        if recovery_key:
            print(f"your recovery key (write it down and keep it safe; it is shown only now): {recovery_key}",
                  file=sys.stderr)
            print("without it, losing all your devices means losing the history they could read", file=sys.stderr)
        if not self.keys.verified:
            self.warn("E2E_DEVICE_UNVERIFIED", f"device {self.keys.device_session_id}, code "
                      f"{self.keys.verification_code()}: on another of your devices run "
                      f"`messenger chat approve {self.keys.device_session_id} --code \"{self.keys.verification_code()}\"`,"
                      f" or here `messenger chat recover`")
        return self.keys

    def warn(self, code: str, detail: str) -> None:
        from messenger.core.errors import localized

        print(f"warning: {code}: {localized(code, self.language)} ({detail})", file=sys.stderr, flush=True)

    def warn_identity_changes(self) -> None:
        """A line for each contact (or this user) the server shows with another identity than pinned."""
        changes = self.keys.identity_changes() if self.keys is not None and self.keys.user_id else {}
        if not changes:
            return
        names = {user["id"]: user["username"] for user in self.api.users()}
        for user_id in sorted(changes):
            self.warn("E2E_IDENTITY_CHANGED", f"user {names.get(user_id, user_id)} (id {user_id}): compare the "
                      f"safety number, then `messenger chat trust @{names.get(user_id, user_id)}`")

    def live(self, *, catch_up: bool = False):
        """A Realtime following this device's key events (not started: add callbacks, then `connect`)."""
        from messenger.client.services.realtime import Realtime

        self.realtime = Realtime(self.api)
        self.keys.attach(self.realtime, catch_up=catch_up)
        return self.realtime

    def connect(self) -> None:
        from messenger.client.services.api import ServerUnreachable

        self.realtime.start()
        if not self.realtime.wait_synced(CONNECT_TIMEOUT_SECONDS):
            raise ServerUnreachable(f"no live connection within {CONNECT_TIMEOUT_SECONDS:.0f}s")

    def mark_read(self, room_id: int, message_id: int) -> None:
        """Move this account's read mark in the room up to `message_id`, as the desktop app does
        for what it shows (the senders see it read). A failure is a warning: what was printed
        stays printed."""
        from messenger.client.services.api import ApiError, ServerUnreachable

        try:
            if self.realtime is None:
                self.live()
                self.connect()
            self.realtime.mark_read(room_id, message_id)
        except ApiError as exc:
            print(f"warning: not marked as read: {exc.code}: {exc.message_localized}", file=sys.stderr)
        except ServerUnreachable as exc:
            print(f"warning: not marked as read: SERVER_UNREACHABLE ({exc})", file=sys.stderr)

    def close(self) -> None:
        if self.realtime is not None:
            self.realtime.stop()
        try:
            self.warn_identity_changes()
        except Exception as exc:  # noqa: BLE001 - the command's own outcome matters more than this warning
            log.info("identity changes could not be listed (%s)", exc)
        if self.keys is not None:
            self.keys.close()
        if self.api is not None:
            self.api.close()


@functools.cache
def script_client_class():
    """The ApiClient subclass below, made on first use: the parser must load fast, for
    every `messenger` command, without the client services."""
    from messenger.client.services.api import ApiClient, ApiError

    class _ScriptClient(ApiClient):
        """An ApiClient that resumes the saved token as it is, instead of rotating it: several
        scripts of one account may run at once (a `tail` next to `send`s from cron), and a
        rotation at each start would sign the others out. The token is rotated only when it
        nears expiry."""

        def resume(self) -> dict | None:
            """`{user, device_session_id}` of the saved session, or None (nothing saved, or dead)."""
            if not self.take_saved_token():
                return None
            try:
                user = self.me()
                current = next(row for row in self.device_sessions() if row["is_current"])
            except ApiError as exc:
                if not exc.session_ended:
                    raise
                self.session_over()
                return None
            expires = datetime.fromisoformat(current["expires_at"]).timestamp()
            if expires - time.time() < REFRESH_WITHIN_SECONDS:
                user = self.refresh()
            else:
                self.learn_next_certificate()
            return {"user": user, "device_session_id": current["id"]}

    return _ScriptClient


# -- commands ----------------------------------------------------------------------------------------

def cmd_discover(args) -> int:
    """The servers announced on this network (DNS-SD), one line each: name, address, version and
    the certificate's fingerprint (a hint: the certificate is checked when the desk connects)."""
    from messenger.client.services.discovery import browse
    from messenger.core.certificates import readable

    found = browse()
    for server in found:
        fingerprint = f"\tSHA-256 {readable(server.fingerprint)}" if server.fingerprint else ""
        print(f"{server.name}\t{server.url}\t{server.version}{fingerprint}")
    print(f"{len(found)} server(s) found", file=sys.stderr)
    return EXIT_OK


def cmd_login(session: ChatSession, args) -> int:
    from messenger.client.services.api import ApiError, ServerUnreachable

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
        keys = session.start_keys()
    except (ApiError, ServerUnreachable):
        session.api.sign_out()  # a device without keys could read nothing: do not leave it behind
        raise
    print(f"signed in as {user['username']} on {session.api.server_url} (device {keys.device_session_id})",
          file=sys.stderr)
    print(f"device key fingerprint: {keys.fingerprint}", file=sys.stderr)
    return EXIT_OK


def _sign_out_previous(session: ChatSession, username: str) -> None:
    """Signing in again in the same folder replaces its device: the old one is signed out."""
    from messenger.client.services.api import ApiError, ServerUnreachable
    from messenger.client.services.session_store import normalize_server_url

    account = session.store.last_account()
    if account is None or account.username.lower() != username.lower():
        return
    if account.server_url != normalize_server_url(session.server_url()):
        return
    try:
        session.open()
    except (ApiError, ServerUnreachable):
        return
    session.keys.forget()  # the identity stays: the new sign-in here approves itself with it
    session.api.sign_out()
    session.close()
    session.api = session.keys = None


def cmd_logout(session: ChatSession, args) -> int:
    session.open()
    session.keys.forget(identity=True)
    told = session.api.sign_out()
    print("signed out" if told else "signed out here (the server could not be told)", file=sys.stderr)
    return EXIT_OK


def cmd_rooms(session: ChatSession, args) -> int:
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


def resolve_room(api, spec: str) -> int:
    """A room id from ROOM: an id, an exact room name, or @username (direct room, made if needed)."""
    from messenger.client.services.api import ApiError
    from messenger.core.errors import localized

    if spec.isdigit():
        return int(spec)
    rooms = api.rooms()
    if spec.startswith("@"):
        username = spec[1:].lower()
        for room in rooms:
            if room["type"] == "direct" and (room.get("partner") or {}).get("username", "").lower() == username:
                return room["id"]
        user = next((u for u in api.users() if u["username"].lower() == username), None)
        if user is None:
            raise ApiError("USER_NOT_FOUND", 404, localized("USER_NOT_FOUND", api.language), spec)
        return api.create_room([user["id"]])["room_id"]
    named = [room["id"] for room in rooms if room.get("name") == spec]
    if len(named) > 1:
        raise UsageError(f"{len(named)} rooms are named {spec!r}: use the room id ({', '.join(map(str, named))})")
    if not named:
        raise ApiError("ROOM_NOT_FOUND", 404, localized("ROOM_NOT_FOUND", api.language), spec)
    return named[0]


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


def cmd_send(session: ChatSession, args) -> int:
    from messenger.client.services.messages import send_text

    api = session.open()
    room_id = resolve_room(api, args.room)
    text = sys.stdin.read().rstrip("\n") if args.text == "-" else args.text
    session.live()
    session.connect()
    ack = send_text(session.keys, PatientSender(session.realtime), room_id, text, client_msg_id=uuid.uuid4().hex)
    print(ack["message_id"])
    return EXIT_OK


def cmd_send_file(session: ChatSession, args) -> int:
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


class MessagePrinter:
    """Prints messages as text lines or JSON objects, saving their files if asked."""

    def __init__(self, session: ChatSession, as_json: bool, save_dir: Path | None):
        self.session = session
        self.as_json = as_json
        self.save_dir = save_dir
        self.last_id: int | None = None  # the message printed last

    def read(self, message: dict):
        from messenger.client.services.messages import read_message

        return read_message(self.session.keys, message)

    def print(self, message: dict, readable=None) -> None:
        from messenger.client.services.keys import E2EError
        from messenger.client.services.messages import fetch_file

        readable = readable or self.read(message)
        saved, image_type, file_error = None, None, None
        if self.save_dir is not None and readable.shown and readable.file is not None and not message.get("deleted"):
            try:
                received = fetch_file(self.session.api, message, readable)
                saved, image_type = self._save(received), received.image_type
            except E2EError as exc:
                file_error = exc.code
        if self.as_json:
            line = json.dumps(self._record(message, readable, saved, image_type, file_error), ensure_ascii=False)
        else:
            line = self._line(message, readable, saved, image_type, file_error)
        print(line, flush=True)
        self.last_id = message["id"]

    def _record(self, message, readable, saved, image_type, file_error) -> dict:
        shared = readable.file
        return {
            "id": message["id"], "room_id": message["room_id"], "sender_id": message.get("sender_id"),
            "sender_name": message.get("sender_name"), "created_at": message.get("created_at"),
            "type": message.get("message_type"), "deleted": bool(message.get("deleted")),
            "state": readable.state.value, "end_to_end": readable.end_to_end, "error_code": readable.error_code,
            "text": readable.text if readable.shown and shared is None else None,
            "file": None if shared is None else {
                "name": shared.name, "size": shared.size, "mime": shared.mime, "image_type": image_type,
                "saved_to": str(saved) if saved else None, "error_code": file_error},
        }

    def _line(self, message, readable, saved, image_type, file_error) -> str:
        from messenger.core.errors import localized

        when = datetime.fromisoformat(message["created_at"]).astimezone().strftime("%Y-%m-%d %H:%M:%S")
        head = f"#{message['id']} {when} {message.get('sender_name') or '?'}:"
        if message.get("deleted"):
            return f"{head} [{localized('MESSAGE_DELETED', self.session.language)}]"
        if not readable.shown:
            return f"{head} [{readable.error_code}] {readable.display(self.session.language)}"
        body = readable.display(self.session.language)
        if readable.file is not None:
            kind = message.get("message_type") or "file"
            if saved is not None and kind == "image":
                kind = f"image {image_type}" if image_type else "file, not an image"
            body = f"[{kind}] {body} ({readable.file.size} bytes)"
            if saved is not None:
                body += f" -> {saved}"
            if file_error:
                body += f" [{file_error}]"
        if not readable.end_to_end:
            # The server could have written this (or changed an encrypted message into it).
            body = f"[{readable.error_code}] {body}"
        return f"{head} {body}"

    def _save(self, received) -> Path:
        self.save_dir.mkdir(parents=True, exist_ok=True)
        name = safe_file_name(received.name)
        path = self.save_dir / name
        stem, dot, extension = name.rpartition(".")
        if not dot:
            stem, extension = name, ""
        number = 1
        while path.exists():
            path = self.save_dir / f"{stem} ({number}){dot}{extension}"
            number += 1
        path.write_bytes(received.data)
        return path


def safe_file_name(name: str) -> str:
    """A name from a message (any member writes it) that stays inside the folder it is saved in."""
    name = name.replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(ch for ch in name if ch.isprintable()).strip().lstrip(".")
    return name[:200] or "file"


def cmd_history(session: ChatSession, args) -> int:
    if not 1 <= args.limit <= 10_000:
        raise UsageError("--limit must be 1-10000")
    api = session.open()
    room_id = resolve_room(api, args.room)
    keys = session.keys
    keys.sync_room(room_id)
    messages = _latest_messages(api, room_id, args.limit)
    printer = MessagePrinter(session, args.json, args.save_files)
    if args.wait_keys > 0 and _any_waiting(printer, messages):
        # Keys asked for by the sync above may come from another device in a moment.
        session.live()
        session.connect()
        deadline = time.monotonic() + args.wait_keys
        generation = keys.generation
        while _any_waiting(printer, messages) and time.monotonic() < deadline:
            generation = keys.wait_for_change(generation, min(2.0, deadline - time.monotonic()))
            if _any_waiting(printer, messages):
                keys.sync_room(room_id)  # in case an event was missed
    for message in messages:
        printer.print(message)
    if printer.last_id is not None and not args.keep_unread:
        session.mark_read(room_id, printer.last_id)
    return EXIT_OK


def _any_waiting(printer: MessagePrinter, messages: list[dict]) -> bool:
    from messenger.client.services.messages import ContentState

    return any(printer.read(m).state is ContentState.WAITING_FOR_KEYS for m in messages)


def _latest_messages(api, room_id: int, limit: int) -> list[dict]:
    from messenger.core import protocol

    messages: list[dict] = []
    before_id = None
    while len(messages) < limit:
        page = api.messages(room_id, before_id=before_id, limit=min(protocol.HISTORY_MAX_LIMIT, limit - len(messages)))
        messages = page["messages"] + messages
        if not page.get("has_more") or not page["messages"]:
            break
        before_id = page["messages"][0]["id"]
    return messages[-limit:]


def cmd_tail(session: ChatSession, args) -> int:
    from messenger.client.services.messages import ContentState
    from messenger.core.errors import localized

    if args.count is not None and args.count < 1:
        raise UsageError("--count must be 1 or more")
    api = session.open()
    room_id = resolve_room(api, args.room)
    keys = session.keys
    arrived: list[tuple[float, dict]] = []
    wake = threading.Event()
    lock = threading.Lock()

    def on_new_message(message: dict) -> None:
        if message.get("room_id") == room_id:
            with lock:
                arrived.append((time.monotonic(), message))
            wake.set()

    realtime = session.live(catch_up=True)  # an online device: it answers other devices' key requests
    realtime.on("new_message", on_new_message)
    keys.add_listener(lambda changed_room: wake.set())
    keys.sync_room(room_id)
    session.connect()
    print(f"listening to room {room_id}", file=sys.stderr, flush=True)
    printer = MessagePrinter(session, args.json, args.save_files)
    deadline = time.monotonic() + args.timeout if args.timeout is not None else None
    printed, marked = 0, None

    def mark_printed() -> None:
        nonlocal marked
        if printer.last_id != marked and not args.keep_unread:
            marked = printer.last_id
            session.mark_read(room_id, marked)

    while args.count is None or printed < args.count:
        now = time.monotonic()
        if deadline is not None and now >= deadline:
            break
        wake.wait(0.5 if deadline is None else max(0.0, min(0.5, deadline - now)))
        wake.clear()
        printed += _print_ready(printer, arrived, lock, args.wait_keys, args.count, printed, ContentState)
        mark_printed()
    if args.count is not None and printed < args.count:
        # What still waits for keys is shown as waiting: a script sees every message.
        printed += _print_ready(printer, arrived, lock, 0.0, args.count, printed, ContentState)
        mark_printed()
        if printed < args.count:
            print(f"error: TIMED_OUT: {localized('TIMED_OUT', session.language)} ({printed} of {args.count} messages)",
                  file=sys.stderr)
            return EXIT_ERROR
    return EXIT_OK


def _print_ready(printer: MessagePrinter, arrived: list, lock: threading.Lock, hold: float, count: int | None,
                 printed: int, states) -> int:
    """Print arrived messages in order while the oldest is readable (or held past `hold`)."""
    done = 0
    while count is None or printed + done < count:
        with lock:
            if not arrived:
                return done
            since, message = arrived[0]
        readable = printer.read(message)
        if readable.state is states.WAITING_FOR_KEYS and time.monotonic() - since < hold:
            return done
        printer.print(message, readable)
        with lock:
            arrived.pop(0)
        done += 1
    return done


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


def cmd_backup_keys(session: ChatSession, args) -> int:
    passphrase = _read_passphrase(args, confirm=True)
    api = session.open()
    for room in api.rooms():  # open whatever was sealed to this device meanwhile
        session.keys.sync_room(room["id"])
    version = session.keys.write_backup(passphrase, start_over=args.start_over)
    print(f"key backup version {version}", file=sys.stderr)
    return EXIT_OK


def cmd_restore_keys(session: ChatSession, args) -> int:
    passphrase = _read_passphrase(args, confirm=False)
    session.open()
    gained = session.keys.restore_backup(passphrase)
    print(f"restored {gained} room keys", file=sys.stderr)
    return EXIT_OK


def cmd_devices(session: ChatSession, args) -> int:
    session.open()
    for device in session.keys.own_devices():
        state = "verified" if device["verified"] else "unverified"
        if args.json:
            print(json.dumps({key: device[key] for key in ("device_session_id", "device_name", "verified", "current",
                                                           "fingerprint", "published_at")}, ensure_ascii=False))
        else:
            current = "\tthis device" if device["current"] else ""
            print(f"{device['device_session_id']}\t{state}\t{device['device_name']}\t{device['fingerprint']}{current}")
    return EXIT_OK


def cmd_approve(session: ChatSession, args) -> int:
    session.open()
    session.keys.approve_device(args.device_id, args.code)
    print(f"approved device {args.device_id}", file=sys.stderr)
    return EXIT_OK


def _read_recovery_key(args) -> str:
    from messenger.core.e2e.identity import is_recovery_key

    if args.recovery_key_stdin:
        recovery_key = sys.stdin.readline().strip()
    else:
        recovery_key = getpass.getpass("Recovery key: ").strip()
    if not is_recovery_key(recovery_key):
        raise UsageError("a recovery key is 8 groups of 4 characters A-Z and 2-7")
    return recovery_key


def cmd_recover(session: ChatSession, args) -> int:
    recovery_key = _read_recovery_key(args)
    session.open()
    restored = session.keys.recover(recovery_key)
    print(f"this device is approved: it holds your identity again; restored {restored} room keys", file=sys.stderr)
    return EXIT_OK


def cmd_reset_identity(session: ChatSession, args) -> int:
    session.open()
    recovery_key = session.keys.reset_identity()
    print(f"a new identity approves this device; your new recovery key (shown only now): {recovery_key}",
          file=sys.stderr)
    return EXIT_OK


def resolve_user(api, spec: str) -> int:
    """A user id from USER: an id or @username."""
    from messenger.client.services.api import ApiError
    from messenger.core.errors import localized

    if spec.isdigit():
        return int(spec)
    username = spec.removeprefix("@").lower()
    user = next((u for u in api.users() if u["username"].lower() == username), None)
    if user is None:
        raise ApiError("USER_NOT_FOUND", 404, localized("USER_NOT_FOUND", api.language), spec)
    return user["id"]


def cmd_safety_number(session: ChatSession, args) -> int:
    api = session.open()
    user_id = resolve_user(api, args.user)
    session.keys.look_at_identity(user_id)
    # After a change, the number of the identity now shown: the one to compare before `trust`.
    print(session.keys.safety_number(user_id, changed=True))
    return EXIT_OK


def cmd_trust(session: ChatSession, args) -> int:
    api = session.open()
    user_id = resolve_user(api, args.user)
    session.keys.trust_identity(user_id)
    print(session.keys.safety_number(user_id))
    return EXIT_OK


COMMANDS = {
    "login": cmd_login, "logout": cmd_logout, "rooms": cmd_rooms, "send": cmd_send, "send-file": cmd_send_file,
    "history": cmd_history, "tail": cmd_tail, "backup-keys": cmd_backup_keys, "restore-keys": cmd_restore_keys,
    "devices": cmd_devices, "approve": cmd_approve, "recover": cmd_recover, "safety-number": cmd_safety_number,
    "trust": cmd_trust, "reset-identity": cmd_reset_identity,
}
