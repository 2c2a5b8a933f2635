"""The REST side of the server (contract sections 1-4), for one device on one server.

Every call returns the server's JSON (lists unwrapped where the answer is one list) or
raises: `ServerRefused` for a refusal (its stable code, the HTTP status and the server's text
in the user's language), `ServerUnreachable` when no answer came. Thread-safe: the tray
app's worker threads, the outbox and the realtime catch-up share one client.

The device token is rotated by `refresh()` and saved through the session store as soon as
it arrives. A call that raced a rotation (sent with the token just replaced) is sent
again with the new token instead of failing as "signed out". Any call may raise an
ServerRefused whose `session_ended` is true (revoked elsewhere, expired): the app then calls
`session_over()` and asks the user to sign in.
"""

from __future__ import annotations

import logging
import os
import platform
import ssl
import tempfile
import threading
from pathlib import Path
from typing import Any, BinaryIO, Callable

import httpx

from messenger import __version__
from messenger.client.services.session_store import SessionStore, normalize_server_url
from messenger.client.services.trust import ServerTrust
from messenger.core.errors import DEFAULT_LOCALE, localized

log = logging.getLogger(__name__)

USER_AGENT = f"messenger-desktop/{__version__} ({platform.system()} {platform.release()})"
# The session itself is over: signing in again is the only way on.
SESSION_ENDED_CODES = frozenset({"AUTH_TOKEN_INVALID_OR_EXPIRED", "AUTH_REQUIRED", "AUTH_ACCOUNT_DISABLED"})
# A call refused because its token was rotated meanwhile is sent again this often at most.
ROTATION_RETRIES = 3
# Gateways answer these when the messenger server behind them is down.
GATEWAY_STATUSES = frozenset({502, 503, 504})
# How an answer without the messenger's JSON (a proxy's page, an old server) is named;
# the server's own errors always carry their code.
STATUS_CODES = {400: "VALIDATION_ERROR", 401: "AUTH_REQUIRED", 403: "FORBIDDEN", 404: "NOT_FOUND",
                405: "METHOD_NOT_ALLOWED", 413: "PAYLOAD_TOO_LARGE", 429: "RATE_LIMITED"}


class ServerRefused(Exception):
    """The server refused: `code` is stable (messenger.core.errors), `message_localized`
    is for the user, `message` is the server's detail in English."""

    def __init__(self, code: str, status: int | None, message_localized: str, message: str = ""):
        super().__init__(f"{code}: {message or message_localized}")
        self.code = code
        self.status = status
        self.message_localized = message_localized
        self.message = message

    @classmethod
    def from_http(cls, response: httpx.Response, locale: str) -> "ServerRefused":
        try:
            body = response.json()
        except ValueError:
            body = None
        if isinstance(body, dict) and isinstance(body.get("error_code"), str):
            code = body["error_code"]
            return cls(code, response.status_code, body.get("error_localized") or localized(code, locale),
                       body.get("error") or "")
        code = STATUS_CODES.get(response.status_code, "INTERNAL_ERROR")
        return cls(code, response.status_code, localized(code, locale), f"HTTP {response.status_code}")

    @classmethod
    def from_socket(cls, answer: dict, locale: str) -> "ServerRefused":
        """From a socket `{ok: false, ...}` ack or `error` event (no HTTP status there)."""
        code = answer.get("error_code") or answer.get("message_code") or "INTERNAL_ERROR"
        return cls(code, None, answer.get("message_localized") or localized(code, locale),
                   answer.get("error") or answer.get("message") or "")

    @property
    def session_ended(self) -> bool:
        return self.code in SESSION_ENDED_CODES


class ServerUnreachable(Exception):
    """No answer from the server (down, unreachable, timed out, TLS failure)."""


# Where `messenger --serve` listens by default: a server started on this computer (the README's first command).
LOCAL_SERVER_URL = "http://127.0.0.1:5000"
LOCAL_SERVER_TIMEOUT = 1.0


def local_server(url: str = LOCAL_SERVER_URL, timeout: float = LOCAL_SERVER_TIMEOUT) -> str | None:
    """`url` (normalized) if a messenger server answers its health check there within
    `timeout` seconds, else None."""
    with ApiClient(url, timeout=timeout) as client:
        try:
            health = client.health()
        except (ServerRefused, ServerUnreachable, ValueError):  # ValueError: an answer that is not JSON
            return None
        return client.server_url if isinstance(health, dict) and health.get("status") == "ok" else None


class ApiClient:
    """One device's REST client for `server_url`."""

    def __init__(self, server_url: str, session_store: SessionStore | None = None, *,
                 language: str = DEFAULT_LOCALE, timeout: float = 15.0, trust: ServerTrust | None = None):
        """`session_store` keeps the token across runs (None: memory only); `language` is sent
        as X-App-Language; `trust`: the server's pinned certificate or CAs (None: the system's
        CAs, with no pinning). A certificate the desk does not trust raises ServerTrustError."""
        self.server_url = normalize_server_url(server_url)
        self.session_store = session_store
        self.language = language
        self.trust = trust
        # One TLS setting for every connection to this server (REST, transfers, the socket).
        self.verify: ssl.SSLContext | bool = trust.ssl_context() if trust is not None and trust.https else True
        self._http = httpx.Client(base_url=self.server_url, timeout=timeout, verify=self.verify,
                                  headers={"User-Agent": USER_AGENT})
        self._token: str | None = None
        self._user: dict | None = None
        # The last sign-in used the password printed at the server's first start (its first admin).
        self.password_is_initial = False
        # Refresh, sign-in and sign-out replace the token: one at a time.
        self._session_lock = threading.RLock()

    # -- the device session ---------------------------------------------------------------

    @property
    def token(self) -> str | None:
        """The current device token (the realtime client connects with it)."""
        return self._token

    @property
    def user(self) -> dict | None:
        """The signed-in user as the server last described it."""
        return self._user

    @property
    def signed_in(self) -> bool:
        return self._token is not None

    def sign_in(self, username: str, password: str, *, device_name: str = "desktop", remember: bool = True) -> dict:
        """Create a device session; returns the user. With `remember` the token (30 days)
        is saved for the next start; without, it lives in memory only (1 day)."""
        body = self._call("POST", "/api/device-sessions", json={
            "username": username, "password": password, "device_name": device_name, "remember": remember},
            auth=False)
        with self._session_lock:
            self._adopt(body["device_token"], body["user"], body["remember"])
            self.password_is_initial = body.get("password_is_initial") is True
            if self.session_store is not None:
                self.session_store.set_last_account(self.server_url, body["user"]["username"])
        self.learn_next_certificate()
        return body["user"]

    def refresh(self) -> dict:
        """Rotate the device token (the old one dies at once) and save the new one; returns
        the user. Raises ServerRefused (`session_ended`) if the token is no longer valid."""
        with self._session_lock:
            token = self._require_token()
            try:
                body = self._call("POST", "/api/device-sessions/refresh", token=token)
            except ServerRefused as exc:
                if exc.session_ended:
                    self._forget_session()
                raise
            self._adopt(body["device_token_rotated"], body["user"], body["remember"])
        self.learn_next_certificate()
        return body["user"]

    def take_saved_token(self) -> bool:
        """Use the last account's saved token for this server, if there is one (not checked)."""
        if self.session_store is None:
            return False
        account = self.session_store.last_account()
        if account is None or account.server_url != self.server_url:
            return False
        token = self.session_store.load_token(account.server_url, account.username)
        if not token:
            return False
        with self._session_lock:
            self._token, self._user = token, {"username": account.username}
        return True

    def restore(self) -> dict | None:
        """Resume the last account's session from the saved token: refresh (rotation) and
        return the user, or None when there is nothing to resume or the token is dead (it
        is forgotten then). ServerUnreachable leaves the saved token in place."""
        with self._session_lock:
            if not self.take_saved_token():
                return None
            try:
                return self.refresh()
            except ServerRefused as exc:
                if not exc.session_ended:
                    raise
                log.info("restore: the saved session is over (%s); signing in is needed", exc.code)
                return None
            except ServerUnreachable:
                self._token, self._user = None, None
                raise

    def learn_next_certificate(self) -> bool:
        """Ask a pinned server for the certificate it moves to next (trust.py); True if a new
        one was learned. Nothing to learn, or no answer, is not an error."""
        pins = self.trust.pins if self.trust is not None else None
        if pins is None or pins.get(self.server_url) is None:
            return False
        try:
            announced = self._call("GET", "/api/system/next-certificate", auth=False)
        except (ServerRefused, ServerUnreachable) as exc:
            log.debug("no next certificate from %s (%s)", self.server_url, exc)
            return False
        return pins.learn_next(self.server_url, announced)

    def sign_out(self) -> bool:
        """Revoke this device on the server, then forget the token here in any case.
        Returns False if the server could not be told (its copy then dies at expiry)."""
        with self._session_lock:
            if self._token is None:
                return True
            try:
                self._call("DELETE", "/api/device-sessions/current")
                told = True
            except ServerRefused as exc:
                told = exc.session_ended  # already dead is as good as revoked
                if not told:
                    log.warning("sign out: the server refused (%s); the token is forgotten here only", exc.code)
            except ServerUnreachable:
                log.warning("sign out: the server is unreachable; the token is forgotten here only")
                told = False
            self._forget_session()
            return told

    def session_over(self) -> None:
        """The server ended this session (`session_revoked`, a refused token): forget it."""
        with self._session_lock:
            self._forget_session()

    def _adopt(self, token: str, user: dict, remember: bool) -> None:
        self._token, self._user = token, user
        if self.session_store is None:
            return
        if remember:
            self.session_store.save_token(self.server_url, user["username"], token)
        else:
            # A session kept in memory only: no older saved token may come back at restore.
            self.session_store.forget_token(self.server_url, user["username"])

    def _forget_session(self) -> None:
        if self.session_store is not None and self._user and self._user.get("username"):
            self.session_store.forget_token(self.server_url, self._user["username"])
        self._token, self._user = None, None

    def _require_token(self) -> str:
        token = self._token
        if token is None:
            raise ServerRefused("AUTH_REQUIRED", 401, localized("AUTH_REQUIRED", self.language), "not signed in")
        return token

    # -- accounts and users -----------------------------------------------------------------

    def register(self, username: str, password: str, nickname: str | None = None) -> dict:
        body = {"username": username, "password": password}
        if nickname is not None:
            body["nickname"] = nickname
        return self._call("POST", "/api/register", json=body, auth=False)["user"]

    def me(self) -> dict:
        user = self._call("GET", "/api/me")["user"]
        self._user = user
        return user

    def users(self) -> list[dict]:
        return self._call("GET", "/api/users")["users"]

    def online_users(self) -> list[dict]:
        return self._call("GET", "/api/users/online")["users"]

    def profile(self) -> dict:
        return self._call("GET", "/api/profile")["user"]

    def update_profile(self, *, nickname: str | None = None, status_message: str | None = None) -> dict:
        body = {k: v for k, v in (("nickname", nickname), ("status_message", status_message)) if v is not None}
        return self._call("PUT", "/api/profile", json=body)["user"]

    def change_password(self, current_password: str, new_password: str) -> None:
        """Change the password. The server then ends every device session, this one too:
        the token is forgotten and the user signs in again with the new password."""
        self._call("PUT", "/api/me/password", json={"current_password": current_password,
                                                     "new_password": new_password})
        with self._session_lock:
            self._forget_session()

    def device_sessions(self, *, include_expired: bool = False) -> list[dict]:
        params = {"include_expired": "1"} if include_expired else None
        return self._call("GET", "/api/device-sessions", params=params)["sessions"]

    def revoke_device_session(self, session_id: int) -> bool:
        """Sign one of the user's devices out; True if it was this one (then forgotten here)."""
        current = self._call("DELETE", f"/api/device-sessions/{session_id}")["current_revoked"]
        if current:
            with self._session_lock:
                self._forget_session()
        return current

    # -- rooms --------------------------------------------------------------------------------

    def rooms(self, *, include_members: bool = False) -> list[dict]:
        params = {"include_members": "1"} if include_members else None
        return self._call("GET", "/api/rooms", params=params)["rooms"]

    def create_room(self, member_ids: list[int], name: str | None = None) -> dict:
        """A direct room for one other person (the existing one if there is), else a group.
        Returns `{room, room_id, created}`."""
        body: dict[str, Any] = {"member_ids": list(member_ids)}
        if name is not None:
            body["name"] = name
        return self._call("POST", "/api/rooms", json=body)

    def room_info(self, room_id: int) -> dict:
        return self._call("GET", f"/api/rooms/{room_id}/info")["room"]

    def add_members(self, room_id: int, user_ids: list[int]) -> dict:
        """Returns `{added, members}`."""
        return self._call("POST", f"/api/rooms/{room_id}/members", json={"user_ids": list(user_ids)})

    def leave_room(self, room_id: int) -> None:
        self._call("POST", f"/api/rooms/{room_id}/leave")

    def kick(self, room_id: int, user_id: int) -> None:
        self._call("DELETE", f"/api/rooms/{room_id}/members/{user_id}")

    def rename_room(self, room_id: int, name: str) -> None:
        self._call("PUT", f"/api/rooms/{room_id}/name", json={"name": name})

    def pin_room(self, room_id: int, pinned: bool) -> dict:
        return self._call("POST", f"/api/rooms/{room_id}/pin", json={"pinned": pinned})["room"]

    def mute_room(self, room_id: int, muted: bool) -> dict:
        return self._call("POST", f"/api/rooms/{room_id}/mute", json={"muted": muted})["room"]

    def room_admins(self, room_id: int) -> list[dict]:
        return self._call("GET", f"/api/rooms/{room_id}/admins")["admins"]

    def set_room_admin(self, room_id: int, user_id: int, is_admin: bool) -> bool:
        """Grant or take back the room-admin role; True if it changed."""
        body = {"user_id": user_id, "is_admin": is_admin}
        return self._call("POST", f"/api/rooms/{room_id}/admins", json=body)["changed"]

    def is_room_admin(self, room_id: int) -> bool:
        return self._call("GET", f"/api/rooms/{room_id}/admin-check")["is_admin"]

    def notices(self, room_id: int) -> list[dict]:
        return self._call("GET", f"/api/rooms/{room_id}/pins")["pins"]

    def add_notice(self, room_id: int, *, message_id: int | None = None, content: str | None = None) -> dict:
        """Pin a message of the room, or a text, as a notice; returns the notice."""
        body = {"message_id": message_id} if message_id is not None else {"content": content}
        return self._call("POST", f"/api/rooms/{room_id}/pins", json=body)["pin"]

    def remove_notice(self, room_id: int, notice_id: int) -> None:
        self._call("DELETE", f"/api/rooms/{room_id}/pins/{notice_id}")

    # -- polls ----------------------------------------------------------------------------------

    def polls(self, room_id: int, *, before_id: int | None = None, limit: int | None = None) -> list[dict]:
        """The room's polls, newest first."""
        params = {k: v for k, v in (("before_id", before_id), ("limit", limit)) if v is not None}
        return self._call("GET", f"/api/rooms/{room_id}/polls", params=params or None)["polls"]

    def create_poll(self, room_id: int, question: str, options: list[str], *, multiple_choice: bool = False,
                    anonymous: bool = False, ends_at: str | None = None) -> dict:
        """`ends_at`: an ISO 8601 time, or None for a poll that stays open until closed."""
        body: dict[str, Any] = {"question": question, "options": list(options),
                                "multiple_choice": multiple_choice, "anonymous": anonymous}
        if ends_at is not None:
            body["ends_at"] = ends_at
        return self._call("POST", f"/api/rooms/{room_id}/polls", json=body)["poll"]

    def vote(self, poll_id: int, option_ids: list[int]) -> dict:
        """Replace this user's vote; returns the poll as this user sees it."""
        return self._call("POST", f"/api/polls/{poll_id}/vote", json={"option_ids": list(option_ids)})["poll"]

    def close_poll(self, poll_id: int) -> dict:
        return self._call("POST", f"/api/polls/{poll_id}/close")["poll"]

    # -- files ----------------------------------------------------------------------------------

    def upload(self, room_id: int, path: str | os.PathLike, *, file_type: str | None = None, encrypted: bool = False,
               progress: Callable[[int, int], None] | None = None) -> dict:
        """Store a file for sending in a room (POST /api/upload); returns `{upload_token,
        file_name, file_type, file_size, encrypted, expires_at}`. `progress(sent, total)`
        is called from this thread as the bytes go out."""
        path = Path(path)
        total = path.stat().st_size
        form = {"room_id": str(room_id), "encrypted": "true" if encrypted else "false"}
        if file_type is not None:
            form["type"] = file_type
        with path.open("rb") as stream:
            reader = _CountingReader(stream, total, progress)
            response = self._send_form("POST", "/api/upload", form, {"file": (path.name, reader)})
        return self._answer("POST", "/api/upload", response)

    def room_files(self, room_id: int, *, file_type: str | None = None, before_id: int | None = None) -> list[dict]:
        """The room's files, newest first."""
        params = {k: v for k, v in (("type", file_type), ("before_id", before_id)) if v is not None}
        return self._call("GET", f"/api/rooms/{room_id}/files", params=params or None)["files"]

    def download_bytes(self, path: str) -> bytes:
        """A room file as stored (`/uploads/<id>`, a message's `file_url`: an encrypted blob, most
        often), in memory, on this session's connection: for what is shown, never saved."""
        response = self._send("GET", path, None, None, self._require_token())
        if not response.is_success:
            self._answer("GET", path, response)
        return response.content

    def download(self, file_id: int, destination: str | os.PathLike,
                 progress: Callable[[int, int], None] | None = None) -> Path:
        """Save a room file at `destination`, whole or not at all (a temporary file beside
        it, fsynced, then moved into place); returns the path."""
        destination = Path(destination)
        headers = {"X-App-Language": self.language, "Authorization": f"Bearer {self._require_token()}"}
        handle, temporary = tempfile.mkstemp(prefix=".download-", dir=destination.parent)
        try:
            with os.fdopen(handle, "wb") as out:
                try:
                    with self._http.stream("GET", f"/uploads/{file_id}", headers=headers) as response:
                        if not response.is_success:
                            response.read()
                            self._answer("GET", f"/uploads/{file_id}", response)
                        total, done = int(response.headers.get("content-length") or 0), 0
                        for chunk in response.iter_bytes():
                            out.write(chunk)
                            done += len(chunk)
                            if progress is not None:
                                progress(done, total)
                except httpx.TransportError as exc:
                    raise ServerUnreachable(f"GET /uploads/{file_id}: {type(exc).__name__}: {exc}") from exc
                out.flush()
                os.fsync(out.fileno())
            os.replace(temporary, destination)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise
        return destination

    # -- messages -------------------------------------------------------------------------------

    def messages(self, room_id: int, *, before_id: int | None = None, after_id: int | None = None,
                 limit: int | None = None, include_members: bool = False) -> dict:
        """A page of history, oldest first: `{messages, has_more, members?}`. No cursor: the
        newest page; `before_id`: scrolling back; `after_id`: filling a gap forward."""
        params = {k: v for k, v in (("before_id", before_id), ("after_id", after_id), ("limit", limit))
                  if v is not None}
        if include_members:
            params["include_members"] = "1"
        return self._call("GET", f"/api/rooms/{room_id}/messages", params=params)

    def edit_message(self, message_id: int, content: str, *, encrypted: bool) -> dict:
        return self._call("PUT", f"/api/messages/{message_id}", json={"content": content, "encrypted": encrypted})

    def delete_message(self, message_id: int) -> None:
        self._call("DELETE", f"/api/messages/{message_id}")

    def reactions(self, message_id: int) -> list[dict]:
        return self._call("GET", f"/api/messages/{message_id}/reactions")["reactions"]

    def toggle_reaction(self, message_id: int, emoji: str) -> dict:
        """Add the emoji, or take it back if it was there: `{added, reactions}`."""
        return self._call("POST", f"/api/messages/{message_id}/reactions", json={"emoji": emoji})

    # -- catch-up -------------------------------------------------------------------------------

    def events(self, after: int, *, limit: int | None = None) -> dict:
        """Canonical events after the cursor, oldest first: `{events: [{id, event, data,
        room_id, created_at}], next_after, has_more}`."""
        params = {"after": after} if limit is None else {"after": after, "limit": limit}
        return self._call("GET", "/api/events", params=params)

    def events_cursor(self) -> int:
        """The newest event id: where a client with no history of its own starts."""
        return self._call("GET", "/api/events/cursor")["cursor"]

    def health(self) -> dict:
        return self._call("GET", "/api/system/health", auth=False)

    # -- profile image --------------------------------------------------------------------------

    def upload_profile_image(self, path: str | os.PathLike) -> dict:
        """Make the image at `path` (png/jpg/gif/webp, the server checks its bytes) this
        user's picture; returns the user."""
        path = Path(path)
        with path.open("rb") as stream:
            response = self._send_form("POST", "/api/profile/image", {}, {"file": (path.name, stream)})
        return self._answer("POST", "/api/profile/image", response)["user"]

    def remove_profile_image(self) -> dict:
        return self._call("DELETE", "/api/profile/image")["user"]

    def profile_image(self, user_id: int) -> bytes:
        """The bytes of a user's picture (NOT_FOUND when there is none)."""
        path = f"/api/users/{user_id}/profile-image"
        response = self._send("GET", path, None, None, self._require_token())
        if not response.is_success:
            self._answer("GET", path, response)  # raises
        return response.content

    # -- transport --------------------------------------------------------------------------------

    def _call(self, method: str, path: str, *, json: Any = None, params: dict | None = None,
              auth: bool = True, token: str | None = None) -> Any:
        """One request; the answer's JSON, or ServerRefused / ServerUnreachable."""
        sent_with = token or (self._require_token() if auth else None)
        response = self._send(method, path, json, params, sent_with)
        for _ in range(ROTATION_RETRIES):
            if response.status_code != 401 or not auth or token is not None:
                break
            # A refresh on another thread may have replaced the token while this call was
            # out: wait for it to finish, then try again with the new one.
            with self._session_lock:
                current = self._token
            if not current or current == sent_with:
                break
            sent_with = current
            response = self._send(method, path, json, params, sent_with)
        return self._answer(method, path, response)

    def _answer(self, method: str, path: str, response: httpx.Response) -> Any:
        """A response's JSON, or the ServerRefused / ServerUnreachable it means."""
        if response.is_success:
            return response.json() if response.content else {}
        if response.status_code in GATEWAY_STATUSES and "error_code" not in response.text:
            raise ServerUnreachable(f"{method} {path}: the gateway answered {response.status_code}")
        raise ServerRefused.from_http(response, self.language)

    def _send_form(self, method: str, path: str, form: dict, files: dict) -> httpx.Response:
        """A multipart request with this session's token (a file body cannot be replayed,
        so no retry after a token rotation: the caller tries again)."""
        headers = {"X-App-Language": self.language, "Authorization": f"Bearer {self._require_token()}"}
        try:
            return self._http.request(method, path, data=form, files=files, headers=headers)
        except httpx.TransportError as exc:
            raise self._transport_failed(method, path, exc) from exc

    def _send(self, method: str, path: str, json: Any, params: dict | None, token: str | None) -> httpx.Response:
        headers = {"X-App-Language": self.language}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        try:
            return self._http.request(method, path, json=json, params=params, headers=headers)
        except httpx.TransportError as exc:
            raise self._transport_failed(method, path, exc) from exc

    def _transport_failed(self, method: str, path: str, exc: httpx.TransportError) -> Exception:
        """ServerTrustError when the certificate was the reason, else ServerUnreachable."""
        refused = self.trust.explain(exc) if self.trust is not None else None
        return refused or ServerUnreachable(f"{method} {path}: {type(exc).__name__}: {exc}")

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> "ApiClient":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class _CountingReader:
    """A file being uploaded that reports how much of it has been read."""

    def __init__(self, stream: BinaryIO, total: int, progress: Callable[[int, int], None] | None):
        self._stream = stream
        self._total = total
        self._progress = progress
        self._done = 0

    def read(self, size: int = -1) -> bytes:
        chunk = self._stream.read(size)
        self._done += len(chunk)
        if self._progress is not None:
            self._progress(self._done, self._total)
        return chunk

    def __getattr__(self, name: str):
        return getattr(self._stream, name)
