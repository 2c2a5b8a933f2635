"""The services one `messenger chat` command works with, and how a command line names rooms and users."""

from __future__ import annotations

import functools
import logging
import sys
import time
from datetime import datetime

from messenger.client.chat_cli import UsageError

CONNECT_TIMEOUT_SECONDS = 15.0
# A saved token is used as it is (see script_client_class) unless it expires sooner than this.
REFRESH_WITHIN_SECONDS = 7 * 86_400

log = logging.getLogger(__name__)


class CliSession:
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
        from messenger.client.services.api import ServerRefused
        from messenger.core.errors import localized

        self.api = self.new_client()
        resumed = self.api.resume()
        if resumed is None:
            raise ServerRefused("AUTH_REQUIRED", 401, localized("AUTH_REQUIRED", self.language), "no saved session")
        self.start_keys(resumed["device_session_id"])
        return self.api

    def open_keys(self):
        """`open()` for the commands that need only this device's keys."""
        self.open()
        return self.keys

    def start_keys(self, device_session_id: int | None = None, *, login_password: str | None = None):
        """This device's keys, started. `login_password` (at sign-in): its check goes into the
        key cache with the cache's first write, before anything could accept a backup passphrase."""
        from messenger.client.services.keys import E2EKeys

        self.keys = E2EKeys(self.api, self.store, self.dirs.data)
        if login_password is not None:
            self.keys.remember_login_password(login_password)  # a backup passphrase equal to it is refused
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

    def warn_unvouched_members(self) -> None:
        """A line for each room whose member list shows users no member's device added (no keys go to them)."""
        ghosts = self.keys.unvouched_members() if self.keys is not None and self.keys.user_id else {}
        if not ghosts:
            return
        names = {user["id"]: user["username"] for user in self.api.users()}
        for room_id, user_ids in sorted(ghosts.items()):
            listed = ", ".join(f"{names.get(user_id, user_id)} (id {user_id})" for user_id in user_ids)
            self.warn("E2E_MEMBER_UNVOUCHED", f"room {room_id}: {listed}")

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
        from messenger.client.services.api import ServerRefused, ServerUnreachable

        try:
            if self.realtime is None:
                self.live()
                self.connect()
            self.realtime.mark_read(room_id, message_id)
        except ServerRefused as exc:
            print(f"warning: not marked as read: {exc.code}: {exc.message_localized}", file=sys.stderr)
        except ServerUnreachable as exc:
            print(f"warning: not marked as read: SERVER_UNREACHABLE ({exc})", file=sys.stderr)

    def close(self) -> None:
        if self.realtime is not None:
            self.realtime.stop()
        try:
            self.warn_identity_changes()
            self.warn_unvouched_members()
        except Exception as exc:  # noqa: BLE001 - the command's own outcome matters more than these warnings
            log.info("identity changes or unvouched members could not be listed (%s)", exc)
        if self.keys is not None:
            self.keys.close()
        if self.api is not None:
            self.api.close()


@functools.cache
def script_client_class():
    """The ApiClient subclass below, made on first use: the parser must load fast, for
    every `messenger` command, without the client services."""
    from messenger.client.services.api import ApiClient, ServerRefused

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
            except ServerRefused as exc:
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


def resolve_room(api, spec: str) -> int:
    """A room id from ROOM: an id, an exact room name, or @username (direct room, made if needed)."""
    from messenger.client.services.api import ServerRefused
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
            raise ServerRefused("USER_NOT_FOUND", 404, localized("USER_NOT_FOUND", api.language), spec)
        return api.create_room([user["id"]])["room_id"]
    named = [room["id"] for room in rooms if room.get("name") == spec]
    if len(named) > 1:
        raise UsageError(f"{len(named)} rooms are named {spec!r}: use the room id ({', '.join(map(str, named))})")
    if not named:
        raise ServerRefused("ROOM_NOT_FOUND", 404, localized("ROOM_NOT_FOUND", api.language), spec)
    return named[0]


def resolve_user(api, spec: str) -> int:
    """A user id from USER: an id or @username."""
    from messenger.client.services.api import ServerRefused
    from messenger.core.errors import localized

    if spec.isdigit():
        return int(spec)
    username = spec.removeprefix("@").lower()
    user = next((u for u in api.users() if u["username"].lower() == username), None)
    if user is None:
        raise ServerRefused("USER_NOT_FOUND", 404, localized("USER_NOT_FOUND", api.language), spec)
    return user["id"]
