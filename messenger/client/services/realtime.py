"""The live connection: one Socket.IO client that stays connected and misses nothing.

A supervisor thread connects (websocket transport, `auth={"token", "lang"}` with the
token current at that moment, since a refresh may have rotated it), waits while the
connection lives, and reconnects with exponential backoff when it drops. It stops for
good only on `stop()` or when the server ends the session (a refused or revoked token).

Gap fill: every kept event carries an `event_id`. After each (re)connect the client asks
`GET /api/events?after=<cursor>` for what it missed and delivers it before any live event
that arrived meanwhile; an event it already delivered (seen live, then again in the
catch-up) is dropped. So each event reaches the callbacks once, in order, across any
number of reconnects. A client with no cursor starts at the server's current one; the tray
client saves its cursor per account (`save_cursor`) so that its next run catches up from
there (the local search index then misses nothing either).

Every callback (events and connection state) runs on one dispatcher thread, in order;
a callback must be quick and must not call `send_message` and wait (the Qt layer
re-emits them as queued signals).
"""

from __future__ import annotations

import enum
import logging
import queue
import ssl
import threading
import time
from collections import deque
from pathlib import Path
from typing import Any, Callable

import engineio
import socketio

from messenger.client.services.api import SESSION_ENDED_CODES, USER_AGENT, ApiClient, ServerRefused, ServerUnreachable
from messenger.client.services.backoff import Backoff
from messenger.core import protocol
from messenger.core.files import write_atomic

log = logging.getLogger(__name__)

# Events re-read behind the cursor after a reconnect: the server emits after commit, so
# two events committed a moment apart may arrive in swapped order, and the later one may
# be the last thing seen before the connection dropped. Re-reading a few ids costs little;
# the ledger drops what was delivered already.
REPLAY_WINDOW = 100
LEDGER_SIZE = 10_000
# A connection that drops sooner than this counts as a failed attempt (backoff applies).
STABLE_CONNECTION_SECONDS = 5.0


class ConnectionState(str, enum.Enum):
    CONNECTING = "connecting"
    CONNECTED = "connected"
    DISCONNECTED = "disconnected"


class NotConnected(ServerUnreachable):
    """No live connection (yet, or any more) to send on; the request was not answered."""


class AckTimeout(ServerUnreachable):
    """The server did not acknowledge in time; the request may or may not have been applied."""


class EventLedger:
    """Which event ids were delivered: the last LEDGER_SIZE of them, plus a floor below
    which every id counts as delivered (the start cursor, or ids forgotten for space)."""

    def __init__(self, floor: int):
        self.floor = floor
        self.high = floor
        self._ids: set[int] = set()
        self._order: deque[int] = deque()

    def is_new(self, event_id: int) -> bool:
        return event_id > self.floor and event_id not in self._ids

    def record(self, event_id: int) -> None:
        self._ids.add(event_id)
        self._order.append(event_id)
        self.high = max(self.high, event_id)
        if len(self._order) > LEDGER_SIZE:
            oldest = self._order.popleft()
            self._ids.discard(oldest)
            self.floor = max(self.floor, oldest)

    def catch_up_from(self) -> int:
        return max(self.floor, self.high - REPLAY_WINDOW)


class _InOrderEngineIO(engineio.Client):
    """engineio's client runs each incoming message's handler on a thread of its own, so
    two events sent in order can reach the application swapped. Here each message still
    gets its thread (a handler may block without stalling the reader) but waits for the
    previous message's handler to finish first: events arrive in the order sent."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._turn = threading.Condition()
        self._tickets = 0  # taken by the one reader thread only
        self._serving = 0

    def _trigger_event(self, event, *args, **kwargs):
        if event != "message" or not kwargs.get("run_async") or event not in self.handlers:
            return super()._trigger_event(event, *args, **kwargs)
        ticket, self._tickets = self._tickets, self._tickets + 1
        return self.start_background_task(self._in_turn, ticket, self.handlers[event], *args)

    def _in_turn(self, ticket: int, handler, *args) -> None:
        with self._turn:
            self._turn.wait_for(lambda: self._serving == ticket)
        try:
            handler(*args)
        except Exception:
            log.exception("socket message handler failed")
        finally:
            with self._turn:
                self._serving += 1
                self._turn.notify_all()


class _InOrderSocketIO(socketio.Client):
    def _engineio_client_class(self):
        return _InOrderEngineIO


class _Ack:
    """Waits for one ack; a dropped connection wakes it at once instead of at the timeout."""

    def __init__(self):
        self.done = threading.Event()
        self.answer: Any = None
        self.dropped = False

    def arrive(self, *args) -> None:
        self.answer = args[0] if len(args) == 1 else list(args) if args else None
        self.done.set()

    def drop(self) -> None:
        self.dropped = True
        self.done.set()


class Realtime:
    """The live connection for the session held by `api`."""

    def __init__(self, api: ApiClient, *, cursor: int | None = None, reconnect_delay: float = 0.5,
                 reconnect_delay_max: float = 30.0, connect_timeout: float = 10.0, ack_timeout: float = 10.0):
        """`cursor`: the last event id this client applied (a saved `cursor` from a previous
        run); None starts at the server's current cursor."""
        self.api = api
        self.backoff = Backoff(reconnect_delay, reconnect_delay_max)
        self.connect_timeout = connect_timeout
        self.ack_timeout = ack_timeout
        self._ledger = EventLedger(cursor) if cursor is not None else None
        self._callbacks: dict[str, list[Callable[[Any], None]]] = {}
        self._any_callbacks: list[Callable[[str, Any], None]] = []
        self._state_callbacks: list[Callable[[ConnectionState, str | None], None]] = []
        self._state = ConnectionState.DISCONNECTED
        self._state_changed = threading.Condition()
        self._lock = threading.Lock()
        self._emit_lock = threading.Lock()  # socketio's emit is not thread-safe
        self._client: socketio.Client | None = None
        self._generation = 0
        self._acks: set[_Ack] = set()
        self._inbox: queue.Queue = queue.Queue()
        self._held: list[tuple[str, Any]] = []  # live events waiting for a catch-up to finish
        self._in_sync = False
        self._stopping = threading.Event()
        self._dropped = threading.Event()
        self._wake = threading.Event()
        self._session_ended = False
        self._supervisor: threading.Thread | None = None
        self._dispatcher: threading.Thread | None = None

    # -- registration ----------------------------------------------------------------------

    def on(self, event: str, callback: Callable[[Any], None]) -> None:
        """`callback(data)` for each `event` (live or caught up)."""
        self._callbacks.setdefault(event, []).append(callback)

    def on_any(self, callback: Callable[[str, Any], None]) -> None:
        """`callback(event, data)` for every event."""
        self._any_callbacks.append(callback)

    def on_state(self, callback: Callable[[ConnectionState, str | None], None]) -> None:
        """`callback(state, reason)`: reason is None, "unreachable", "connection_lost",
        "session_ended" (sign in again) or "stopped"."""
        self._state_callbacks.append(callback)

    @property
    def state(self) -> ConnectionState:
        return self._state

    @property
    def connected(self) -> bool:
        client = self._client
        return client is not None and client.connected

    @property
    def cursor(self) -> int | None:
        """The newest event id delivered (save it to resume from it next run)."""
        ledger = self._ledger
        return ledger.high if ledger is not None else None

    # -- life cycle --------------------------------------------------------------------------

    def start(self) -> None:
        """Connect in the background and keep connecting; returns at once."""
        with self._lock:
            if self._supervisor is not None and self._supervisor.is_alive():
                return
            self._stopping.clear()
            self._session_ended = False
            if self._dispatcher is None or not self._dispatcher.is_alive():
                self._dispatcher = threading.Thread(target=self._dispatch, name="realtime-dispatch", daemon=True)
                self._dispatcher.start()
            self._supervisor = threading.Thread(target=self._supervise, name="realtime-connect", daemon=True)
            self._supervisor.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Disconnect and stop reconnecting; callbacks already queued are still delivered."""
        self._stopping.set()
        self._wake.set()
        self._dropped.set()
        supervisor = self._supervisor
        if supervisor is not None and supervisor is not threading.current_thread():
            supervisor.join(timeout)
        dispatcher, self._dispatcher = self._dispatcher, None
        if dispatcher is not None:
            self._inbox.put(None)
            if dispatcher is not threading.current_thread():  # stop() called from a callback
                dispatcher.join(timeout)

    def reconnect(self) -> None:
        """Drop the connection and connect again at once (e.g. the network changed)."""
        self._wake.set()
        self._dropped.set()

    def wait_connected(self, timeout: float) -> bool:
        """True once connected, False if not within `timeout` seconds."""
        with self._state_changed:
            return self._state_changed.wait_for(lambda: self._state is ConnectionState.CONNECTED, timeout)

    def wait_synced(self, timeout: float) -> bool:
        """True once connected and caught up (every missed event delivered)."""
        with self._state_changed:
            return self._state_changed.wait_for(
                lambda: self._state is ConnectionState.CONNECTED and self._in_sync, timeout)

    # -- sending -------------------------------------------------------------------------------

    def call(self, event: str, data: dict, timeout: float | None = None) -> dict:
        """Emit `event` and wait for its ack; the ack's dict if `ok`, else ServerRefused.

        NotConnected if there is no connection or it drops before the ack; AckTimeout if
        no ack came within `timeout` (default `ack_timeout`).
        """
        client = self._client
        ack = _Ack()
        with self._lock:
            if client is None or not client.connected:
                raise NotConnected(f"{event}: not connected")
            self._acks.add(ack)
        try:
            with self._emit_lock:
                client.emit(event, data, callback=ack.arrive)
        except socketio.exceptions.BadNamespaceError as exc:
            raise NotConnected(f"{event}: not connected") from exc
        finally:
            if not ack.done.is_set() and not client.connected:
                ack.drop()
        try:
            if not ack.done.wait(self.ack_timeout if timeout is None else timeout):
                raise AckTimeout(f"{event}: no ack within the timeout")
            if ack.dropped:
                raise NotConnected(f"{event}: the connection dropped before the ack")
        finally:
            with self._lock:
                self._acks.discard(ack)
        answer = ack.answer if isinstance(ack.answer, dict) else {}
        if not answer.get("ok"):
            raise ServerRefused.from_socket(answer, self.api.language)
        return answer

    def send_message(self, room_id: int, content: str, *, encrypted: bool, client_msg_id: str,
                     message_type: str = "text", reply_to: int | None = None, upload_token: str | None = None,
                     timeout: float | None = None) -> dict:
        """Send a message; returns the ack `{ok: true, message_id, duplicate?}` once the
        server has committed it. Resending the same `client_msg_id` never makes a second
        message: the server answers the first one's id."""
        data: dict[str, Any] = {"room_id": room_id, "content": content, "type": message_type,
                                "encrypted": encrypted, "client_msg_id": client_msg_id}
        if reply_to is not None:
            data["reply_to"] = reply_to
        if upload_token is not None:
            data["upload_token"] = upload_token
        return self.call(protocol.SEND_MESSAGE, data, timeout)

    def mark_read(self, room_id: int, message_id: int) -> dict:
        return self.call(protocol.MESSAGE_READ, {"room_id": room_id, "message_id": message_id})

    def set_typing(self, room_id: int, is_typing: bool) -> dict:
        return self.call(protocol.TYPING, {"room_id": room_id, "is_typing": is_typing})

    # -- the supervisor thread -----------------------------------------------------------------

    def _supervise(self) -> None:
        retries = 0
        while not self._stopping.is_set():
            outcome = self._connect_once()
            if outcome == "connected":
                connected_at = time.monotonic()
                self._dropped.wait()
                self._close_client()
                if self._stopping.is_set():
                    break
                if self._session_ended:
                    self._end_session()
                    return
                self._post_state(ConnectionState.DISCONNECTED, "connection_lost")
                if time.monotonic() - connected_at > STABLE_CONNECTION_SECONDS:
                    # Most drops are a blip or a server restart: try again at once.
                    retries = 0
                    continue
                # Dropped as soon as it was made: back off as if it had failed.
            elif outcome == "session_ended":
                self._end_session()
                return
            elif outcome == "retry_now":
                continue
            else:
                self._post_state(ConnectionState.DISCONNECTED, "unreachable")
            self._wake.wait(self.backoff.wait(retries))
            self._wake.clear()
            retries += 1
        self._close_client()
        self._post_state(ConnectionState.DISCONNECTED, "stopped")

    def _connect_once(self) -> str:
        """One attempt: "connected", "unreachable", "retry_now" or "session_ended"."""
        token = self.api.token
        if token is None:
            return "session_ended"
        self._post_state(ConnectionState.CONNECTING, None)
        try:
            if self._ledger is None:
                self._ledger = EventLedger(self.api.events_cursor())
        except ServerUnreachable:
            return "unreachable"
        except ServerRefused as exc:
            return "session_ended" if exc.session_ended else "unreachable"

        with self._lock:
            self._generation += 1
            generation = self._generation
        refusal: dict = {}
        client = self._new_client()
        client.on("disconnect", lambda *reason: self._on_disconnect(generation))
        client.on("connect_error", lambda data=None: refusal.update(data if isinstance(data, dict) else {}))
        client.on("*", self._on_event)
        self._dropped.clear()
        if self._stopping.is_set():  # stop() came before the clear above
            return "unreachable"
        try:
            client.connect(self.api.server_url, auth={"token": token, "lang": self.api.language},
                           headers={"User-Agent": USER_AGENT, "X-App-Language": self.api.language},
                           transports=["websocket"], wait_timeout=self.connect_timeout)
        except (socketio.exceptions.ConnectionError, ValueError) as exc:
            code = refusal.get("message_code") or refusal.get("error_code")
            if code is None:
                log.info("realtime: cannot connect (%s)", exc)
                return "unreachable"
            if self.api.token != token:
                return "retry_now"  # refused an old token: a refresh rotated it meanwhile
            if code in SESSION_ENDED_CODES:
                return "session_ended"
            log.warning("realtime: the server refused the connection (%s)", code)
            return "unreachable"
        self._client = client
        if not client.connected:  # dropped between the handshake and here
            self._dropped.set()
        # Live events of this connection may already be queued: they are held until the
        # catch-up this starts has delivered what came before them.
        self._inbox.put(("connected", generation, None))
        return "connected"

    def _new_client(self) -> socketio.Client:
        verify = self.api.verify
        # The API client's TLS context: the same CAs or pinned certificate as every REST call.
        options = {"websocket_extra_options": {"sslopt": {"context": verify}}} if isinstance(verify, ssl.SSLContext) \
            else {}
        # No library reconnection (the supervisor does it, with the current token) and no
        # SIGINT handler (the application owns Ctrl+C).
        return _InOrderSocketIO(reconnection=False, handle_sigint=False, ssl_verify=verify is not False, **options)

    def _on_event(self, event: str, data: Any = None) -> None:
        if event == protocol.SESSION_REVOKED:
            # The server closes the socket next; reconnecting with this token is pointless.
            self._session_ended = True
        self._inbox.put(("event", event, data))

    def _on_disconnect(self, generation: int) -> None:
        with self._lock:
            if generation != self._generation:
                return
            self._drop_acks()
        self._dropped.set()

    def _drop_acks(self) -> None:
        """Wake every caller waiting for an ack: it will not come on a closed connection."""
        for ack in self._acks:
            ack.drop()

    def _close_client(self) -> None:
        with self._lock:
            client, self._client = self._client, None
            self._drop_acks()
        if client is not None and client.connected:
            # websocket-client waits up to 3 s for the server's close frame, which the
            # reader thread usually swallows: say goodbye in the background instead.
            threading.Thread(target=self._say_goodbye, args=(client,), name="realtime-close", daemon=True).start()

    @staticmethod
    def _say_goodbye(client: socketio.Client) -> None:
        try:
            client.disconnect()
        except Exception:  # the other side closed first
            log.debug("realtime: closing a dead client", exc_info=True)

    def _end_session(self) -> None:
        log.info("realtime: the server ended this session")
        self.api.session_over()
        self._post_state(ConnectionState.DISCONNECTED, "session_ended")

    def _post_state(self, state: ConnectionState, reason: str | None) -> None:
        self._inbox.put(("state", state, reason))

    # -- the dispatcher thread ---------------------------------------------------------------

    def _dispatch(self) -> None:
        while True:
            item = self._inbox.get()
            if item is None:
                return
            kind, first, second = item
            if kind == "state":
                self._set_state(first, second)
            elif kind == "connected":
                self._set_state(ConnectionState.CONNECTED, None)
                self._catch_up(first)
            elif self._in_sync:
                self._deliver(first, second)
            else:
                self._held.append((first, second))

    def _set_state(self, state: ConnectionState, reason: str | None) -> None:
        with self._state_changed:
            if state is not ConnectionState.CONNECTED:
                self._in_sync = False
            if state is self._state and reason is None:
                return
            self._state = state
            self._state_changed.notify_all()
        for callback in list(self._state_callbacks):
            self._run(callback, state, reason)

    def _catch_up(self, generation: int) -> None:
        """Deliver what was missed, then what arrived live meanwhile; retried with backoff
        while this connection lives (live events stay held until it succeeds)."""
        self._in_sync = False
        retries = 0
        while generation == self._generation and not self._stopping.is_set():
            try:
                after = self._ledger.catch_up_from()
                while True:
                    page = self.api.events(after)
                    for item in page["events"]:
                        self._deliver(item["event"], item["data"])
                    after = page["next_after"]
                    if not page["has_more"]:
                        break
            except (ServerUnreachable, ServerRefused) as exc:
                log.warning("realtime: catch-up failed (%s); retrying", exc)
                if self._dropped.wait(self.backoff.wait(retries)):
                    return  # this connection is gone; the next one catches up
                retries += 1
                continue
            held, self._held = self._held, []
            for event, data in held:
                self._deliver(event, data)
            with self._state_changed:
                self._in_sync = True
                self._state_changed.notify_all()
            return

    def _deliver(self, event: str, data: Any) -> None:
        event_id = data.get("event_id") if isinstance(data, dict) else None
        if isinstance(event_id, int):
            if not self._ledger.is_new(event_id):
                return
            self._ledger.record(event_id)
        for callback in list(self._callbacks.get(event, ())):
            self._run(callback, data)
        for callback in list(self._any_callbacks):
            self._run(callback, event, data)

    @staticmethod
    def _run(callback, *args) -> None:
        try:
            callback(*args)
        except Exception:
            log.exception("realtime callback %r failed", callback)


def load_cursor(path: Path) -> int | None:
    """The cursor a previous run saved in `path`; None if there is none (or it is damaged)."""
    try:
        text = Path(path).read_text(encoding="utf-8").strip()
    except OSError:
        return None
    return int(text) if text.isascii() and text.isdigit() else None


def save_cursor(path: Path, cursor: int) -> None:
    write_atomic(path, f"{cursor}\n")
