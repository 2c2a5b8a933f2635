"""`messenger chat history` and `tail`: messages printed as lines or JSON, their files saved if asked."""

from __future__ import annotations

import json
import sys
import threading
import time
from datetime import datetime
from pathlib import Path

from messenger.client.chat_cli import EXIT_ERROR, EXIT_OK, UsageError
from messenger.client.chat_cli.session import CliSession, resolve_room


class MessagePrinter:
    """Prints messages as text lines or JSON objects, saving their files if asked."""

    def __init__(self, session: CliSession, as_json: bool, save_dir: Path | None):
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
            "signed": readable.signed, "mark": readable.mark,
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
        if readable.mark:
            # The server could have written this, or says who sent it (not signed, old format).
            body = f"[{readable.mark}] {body}"
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


def cmd_history(session: CliSession, args) -> int:
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


def cmd_tail(session: CliSession, args) -> int:
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
