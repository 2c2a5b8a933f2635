"""The outbox: durable, in order per room, never duplicated, across outages and crashes."""

import json
import os
import queue
import sqlite3
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import pytest
from client_kit import Recorder
from file_keyring import FileKeyring

from harness import PASSWORD
from messenger.client.services.api import ServerRefused as ApiError
from messenger.client.services.keys import E2EError
from messenger.client.services.local_db import local_data_key
from messenger.client.services.outbox import SCHEMA, Outbox, OutboxState, outbox_files, outbox_path
from messenger.client.services.realtime import AckTimeout, ConnectionState, NotConnected
from messenger.client.services.session_store import SessionStore

REPO = Path(__file__).resolve().parents[3]
ACCOUNT = ("http://outbox.test", "kim")  # whose local data key seals the test's outbox


def keyring_store(tmp_path) -> SessionStore:
    """The session store of the test's client: its keyring a file that a child process sees too."""
    return SessionStore(tmp_path / "client", backend=FileKeyring(tmp_path / "keyring.json"))


@pytest.fixture
def outboxes(tmp_path):
    """A factory of started outboxes (default file: one per test), sealed under the account's
    local data key from the keyring; all stopped afterwards."""
    made = []
    key = local_data_key(keyring_store(tmp_path), *ACCOUNT)

    def make(transport, path=None, start=True, **kwargs) -> Outbox:
        options = {"retry_delay": 0.05, "retry_delay_max": 0.5, "sealing_key": key, **kwargs}
        box = Outbox(path or tmp_path / "outbox.sqlite3", transport, **options)
        made.append(box)
        if start:
            box.start()
        return box

    yield make
    for box in made:
        box.stop()


def room_history(api, room_id: int) -> list[dict]:
    return api.messages(room_id, limit=200)["messages"]


def settled(recorder: Recorder, ids, state: OutboxState = OutboxState.SENT, timeout: float = 20):
    """Wait until every message in `ids` was reported in `state`; returns {id: message}."""
    wanted = set(ids)

    def done(calls):
        return wanted <= {m.id for m in calls if m.state is state}

    calls = recorder.wait_for(done, timeout)
    return {m.id: m for m in calls if m.state is state and m.id in wanted}


class ScriptedTransport:
    """Stands in for Realtime where a test needs answers a real server never gives
    (lost acks on demand): `answer(content, attempt)` returns an ack or raises."""

    def __init__(self, answer, connected: bool = True):
        self.answer = answer
        self.connected = connected
        self.sent = Recorder()  # (content, client_msg_id) per attempt
        self.encrypted = []  # the `encrypted` flag per attempt
        self.extra = []  # the message type and the preparer's fields (an upload token) per attempt
        self.state_callbacks = []

    def on_state(self, callback):
        self.state_callbacks.append(callback)

    def come_online(self):
        self.connected = True
        for callback in self.state_callbacks:
            callback(ConnectionState.CONNECTED, None)

    def send_message(self, room_id, content, *, encrypted, client_msg_id, message_type="text", reply_to=None,
                     **extra):
        self.sent((content, client_msg_id))
        self.encrypted.append(encrypted)
        self.extra.append({"message_type": message_type, **extra})
        attempt = sum(1 for sent, _ in self.sent.calls if sent == content)
        return self.answer(content, attempt)


def ack_for(content, attempt):
    return {"ok": True, "message_id": 1000 + attempt}


# -- against the real server -----------------------------------------------------------------


def test_a_message_is_kept_then_sent_and_listeners_see_each_state(clients, realtimes, outboxes):
    kim, lee = clients(), clients()
    room_id = kim.create_room([lee.user["id"]])["room_id"]
    live = realtimes(kim)
    live.start()
    box = outboxes(live)
    heard = Recorder()
    box.add_listener(heard)
    queued = box.enqueue(room_id, "출근했습니다", encrypted=False)
    assert queued.state is OutboxState.PENDING and len(queued.client_msg_id) == 32
    sent = settled(heard, [queued.id])[queued.id]
    assert heard.calls[0] == queued
    history = room_history(lee, room_id)
    assert [(m["id"], m["content"], m["client_msg_id"]) for m in history] == [
        (sent.message_id, "출근했습니다", queued.client_msg_id)]
    assert box.messages() == []  # nothing left to send
    assert box.get(queued.id).state is OutboxState.SENT


def test_messages_queued_while_the_server_is_down_go_out_in_order_once_it_is_back(
        fresh_server, clients, realtimes, relay, outboxes):
    box_server = fresh_server()
    link = relay(box_server.url)
    kim = clients(on=box_server, url=link.url)
    lee = clients(on=box_server)
    park = clients(on=box_server)
    room_a = kim.create_room([lee.user["id"]])["room_id"]
    room_b = kim.create_room([lee.user["id"], park.user["id"]], "팀")["room_id"]
    live = realtimes(kim)
    states = Recorder()
    live.on_state(states)
    live.start()
    assert live.wait_synced(15)
    box = outboxes(live)
    heard = Recorder()
    box.add_listener(heard)

    link.down()
    box_server.stop()
    states.wait_for(lambda calls: (ConnectionState.DISCONNECTED, "connection_lost") in calls)
    plan = [(room_a if i % 3 else room_b, f"offline {i}") for i in range(12)]
    queued = [box.enqueue(room, content, encrypted=False) for room, content in plan]
    assert [m.state for m in box.messages()] == [OutboxState.PENDING] * 12
    assert all(m.attempts == 0 for m in box.messages())  # being offline is not a failed attempt

    box_server.start()
    link.retarget(box_server.url)
    link.up()
    settled(heard, [m.id for m in queued], timeout=30)
    lee_again = clients(lee.user["username"], on=box_server)  # the restarted server has a new port
    for room in (room_a, room_b):
        history = room_history(lee_again, room)
        assert [m["content"] for m in history] == [c for r, c in plan if r == room]
        assert [m["client_msg_id"] for m in history] == [m.client_msg_id for m in queued if m.room_id == room]


def test_a_new_outbox_on_the_same_file_sends_what_the_last_one_left(clients, realtimes, outboxes, tmp_path):
    kim, lee = clients(), clients()
    room_id = kim.create_room([lee.user["id"]])["room_id"]
    offline = realtimes(kim)  # never started: nothing can be sent
    first = outboxes(offline)
    queued = [first.enqueue(room_id, f"draft {i}", encrypted=False) for i in range(3)]
    first.stop()

    live = realtimes(kim)
    live.start()
    second = outboxes(live)
    heard = Recorder()
    second.add_listener(heard)
    assert [m.id for m in second.messages()] == [m.id for m in queued]
    settled(heard, [m.id for m in queued])
    assert [m["content"] for m in room_history(lee, room_id)] == ["draft 0", "draft 1", "draft 2"]


def test_an_ack_lost_after_the_server_stored_the_message_is_not_sent_twice(clients, realtimes, outboxes):
    kim, lee = clients(), clients()
    room_id = kim.create_room([lee.user["id"]])["room_id"]
    live = realtimes(kim)
    live.start()
    assert live.wait_synced(15)

    class LosesFirstAck:
        connected = property(lambda self: live.connected)
        on_state = staticmethod(live.on_state)
        lost = 0

        def send_message(self, *args, **kwargs):
            ack = live.send_message(*args, **kwargs)
            if not self.lost:
                self.lost += 1
                raise AckTimeout("the ack was lost on the way back")
            return ack

    box = outboxes(LosesFirstAck())
    heard = Recorder()
    box.add_listener(heard)
    queued = box.enqueue(room_id, "only once", encrypted=False)
    sent = settled(heard, [queued.id])[queued.id]
    assert sent.attempts == 2
    history = room_history(lee, room_id)
    assert [(m["id"], m["content"]) for m in history] == [(sent.message_id, "only once")]


CHILD = textwrap.dedent("""
    import sys, threading
    sys.path.insert(0, "tests")
    from file_keyring import FileKeyring
    from messenger.client.services.api import ApiClient
    from messenger.client.services.local_db import local_data_key
    from messenger.client.services.outbox import Outbox, OutboxState
    from messenger.client.services.realtime import Realtime
    from messenger.client.services.session_store import SessionStore

    url, username, password, path, room_id, count, folder, server, account = sys.argv[1:]
    api = ApiClient(url)
    api.sign_in(username, password)
    live = Realtime(api)
    store = SessionStore(f"{folder}/client", backend=FileKeyring(f"{folder}/keyring.json"))
    box = Outbox(path, live, sealing_key=local_data_key(store, server, account))
    for i in range(int(count)):
        box.enqueue(int(room_id), f"crash test {i}", encrypted=False)
    print("queued", flush=True)

    def report(message):
        if message.state is OutboxState.SENT:
            print("sent", message.id, message.message_id, flush=True)

    box.add_listener(report)
    live.start()
    box.start()
    threading.Event().wait()
""")


def test_a_crash_while_sending_loses_nothing_and_duplicates_nothing(server, clients, realtimes, outboxes, tmp_path):
    """The client is SIGKILLed right after its first message went out; a new run resends
    the rest from the same file and the room holds each message exactly once, in order."""
    kim, lee = clients(), clients()
    room_id = kim.create_room([lee.user["id"]])["room_id"]
    path = tmp_path / "outbox.sqlite3"
    count = 50
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, server.url, kim.user["username"], PASSWORD, str(path), str(room_id), str(count),
         str(tmp_path), *ACCOUNT],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=REPO)
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=lambda: [lines.put(line) for line in child.stdout], daemon=True).start()
    try:
        assert lines.get(timeout=30).strip() == "queued"
        reported = lines.get(timeout=30).split()
        assert reported[0] == "sent", reported
        child.kill()
    finally:
        child.kill()
        child.wait()
    # What the killed process left on disk (database, WAL) holds no text it queued.
    assert [p for p in tmp_path.rglob("*") if p.is_file() and b"crash test" in p.read_bytes()] == []

    live = realtimes(kim)
    live.start()
    box = outboxes(live, path=path)
    heard = Recorder()
    box.add_listener(heard)
    left = box.messages()
    assert 0 < len(left) < count  # the crash came mid-queue
    settled(heard, [m.id for m in left], timeout=30)
    history = room_history(lee, room_id)
    assert [m["content"] for m in history] == [f"crash test {i}" for i in range(count)]
    assert history[0]["id"] == int(reported[2])


def test_a_permanent_refusal_fails_that_message_and_its_room_goes_on(clients, realtimes, outboxes):
    kim, lee, outsider = clients(), clients(), clients()
    room_id = kim.create_room([lee.user["id"]])["room_id"]
    live = realtimes(kim)
    live.start()
    box = outboxes(live)
    heard = Recorder()
    box.add_listener(heard)
    too_long = box.enqueue(room_id, "x" * 10_001, encrypted=False)
    after = box.enqueue(room_id, "short one", encrypted=False)
    failed = settled(heard, [too_long.id], OutboxState.FAILED)[too_long.id]
    assert failed.error_code == "MESSAGE_TOO_LONG" and failed.attempts == 1
    settled(heard, [after.id])
    assert [m["content"] for m in room_history(lee, room_id)] == ["short one"]
    assert [m.id for m in box.messages()] == [too_long.id]  # waits for the user's decision

    stranger = realtimes(outsider)
    stranger.start()
    their_box = outboxes(stranger, path=box.path.with_name("outsider.sqlite3"))
    their_heard = Recorder()
    their_box.add_listener(their_heard)
    refused = their_box.enqueue(room_id, "let me in", encrypted=False)
    failed = settled(their_heard, [refused.id], OutboxState.FAILED)[refused.id]
    assert failed.error_code == "ROOM_NOT_FOUND"


def test_retry_sends_a_failed_message_once_the_cause_is_gone(clients, realtimes, outboxes):
    kim, lee, newcomer = clients(), clients(), clients()
    room_id = kim.create_room([lee.user["id"], clients().user["id"]], "설계팀")["room_id"]
    live = realtimes(newcomer)
    live.start()
    box = outboxes(live)
    heard = Recorder()
    box.add_listener(heard)
    early = box.enqueue(room_id, "hello team", encrypted=False)
    settled(heard, [early.id], OutboxState.FAILED)
    assert box.retry(early.id + 1000) is False
    kim.add_members(room_id, [newcomer.user["id"]])
    assert box.retry(early.id) is True
    sent = settled(heard, [early.id])[early.id]
    assert [m["id"] for m in room_history(lee, room_id) if m["content"] == "hello team"] == [sent.message_id]
    assert box.retry(early.id) is False  # only a failed message can be retried


def test_discard_drops_failed_and_pending_messages_but_not_sent_ones(clients, realtimes, outboxes):
    kim, lee = clients(), clients()
    room_id = kim.create_room([lee.user["id"]])["room_id"]
    live = realtimes(kim)
    live.start()
    box = outboxes(live)
    heard = Recorder()
    box.add_listener(heard)
    bad = box.enqueue(room_id, "", encrypted=False)  # blank: refused for good
    good = box.enqueue(room_id, "fine", encrypted=False)
    settled(heard, [bad.id], OutboxState.FAILED)
    settled(heard, [good.id])
    assert box.discard(bad.id) is True
    assert heard.calls[-1].state is OutboxState.DISCARDED and heard.calls[-1].id == bad.id
    assert box.get(bad.id) is None and box.messages() == []
    assert box.discard(good.id) is False
    assert box.discard(bad.id) is False


# -- sending rules, with a scripted transport --------------------------------------------------


def test_without_an_answer_a_message_fails_after_max_attempts(outboxes):
    def never(content, attempt):
        raise AckTimeout("no answer")

    transport = ScriptedTransport(never)
    box = outboxes(transport, max_attempts=3)
    heard = Recorder()
    box.add_listener(heard)
    queued = box.enqueue(7, "hello?", encrypted=False)
    failed = settled(heard, [queued.id], OutboxState.FAILED)[queued.id]
    assert failed.attempts == 3 and failed.error_code == "SERVER_UNREACHABLE"
    assert [cid for _, cid in transport.sent.calls] == [queued.client_msg_id] * 3  # always the same id


def test_a_room_waits_for_its_head_while_other_rooms_go_ahead(outboxes):
    def first_try_of_a_fails(content, attempt):
        if content == "a1" and attempt == 1:
            raise ApiError("RATE_LIMITED", None, "잠시 후")
        return ack_for(content, attempt)

    transport = ScriptedTransport(first_try_of_a_fails, connected=False)
    box = outboxes(transport, retry_delay=0.3)
    heard = Recorder()
    box.add_listener(heard)
    queued = [box.enqueue(room, content, encrypted=False) for room, content in
              [(1, "a1"), (1, "a2"), (2, "b1"), (1, "a3"), (2, "b2")]]
    transport.come_online()
    settled(heard, [m.id for m in queued])
    order = [content for content, _ in transport.sent.calls]
    assert order[:3] == ["a1", "b1", "b2"]  # room 2 did not wait for room 1's retry
    assert order[3:] == ["a1", "a2", "a3"]  # room 1 kept its order


def test_being_disconnected_does_not_count_as_an_attempt(outboxes):
    def dropped_then_fine(content, attempt):
        if attempt == 1:
            transport.connected = False
            raise NotConnected("dropped before the ack")
        return ack_for(content, attempt)

    transport = ScriptedTransport(dropped_then_fine)
    box = outboxes(transport, max_attempts=1)
    heard = Recorder()
    box.add_listener(heard)
    queued = box.enqueue(3, "hi", encrypted=False)
    transport.sent.wait_for(lambda calls: len(calls) == 1)
    assert box.get(queued.id).state is OutboxState.PENDING  # not failed, with max_attempts=1
    transport.come_online()
    assert settled(heard, [queued.id])[queued.id].message_id == 1002


def test_only_registered_message_types_are_accepted(outboxes):
    box = outboxes(ScriptedTransport(ack_for), start=False)
    with pytest.raises(ValueError):
        box.enqueue(1, "photo.png", encrypted=False, message_type="image")
    box.register_type("image", lambda message: {"upload_token": "t"})
    assert box.enqueue(1, "photo.png", encrypted=False, message_type="image").message_type == "image"


def test_each_account_has_its_own_outbox_file(tmp_path):
    kim = outbox_path(tmp_path, "https://chat.office", "kim")
    assert kim == outbox_path(tmp_path, "https://Chat.Office/", "KIM")
    assert kim != outbox_path(tmp_path, "https://chat.office", "lee")
    assert kim != outbox_path(tmp_path, "https://other.office", "kim")
    assert kim.parent == tmp_path / "outbox"


def test_a_preparer_supplies_the_wire_content_and_the_file_keeps_the_plaintext(outboxes, tmp_path):
    """The desktop's text preparer: the key arrives after two tries, then the sealed text goes out."""
    tries = []

    def seal(message):
        tries.append(message.client_msg_id)
        if len(tries) < 3:
            raise E2EError("E2E_ROOM_KEY_UNAVAILABLE", "no key yet")
        return {"content": "v3:sealed:" + message.content[::-1], "encrypted": True}

    transport = ScriptedTransport(ack_for)
    box = outboxes(transport)
    box.register_type("text", seal)
    heard = Recorder()
    box.add_listener(heard)
    queued = box.enqueue(5, "secret plan", encrypted=True)
    sent = settled(heard, [queued.id])[queued.id]
    assert len(tries) == 3 and set(tries) == {queued.client_msg_id}  # one message, one id
    assert transport.sent.calls == [("v3:sealed:nalp terces", queued.client_msg_id)]
    assert transport.encrypted == [True]
    assert sent.content == "secret plan"  # the local file keeps what the user wrote
    assert (tmp_path / "outbox.sqlite3").exists()


def test_a_preparer_that_can_never_seal_fails_the_message_with_its_reason(outboxes):
    def unavailable(message):
        raise E2EError("E2E_ROOM_KEY_UNAVAILABLE", "no key")

    def gone(message):
        raise E2EError("ROOM_NOT_FOUND")

    transport = ScriptedTransport(ack_for)
    box = outboxes(transport, max_attempts=2)
    box.register_type("text", lambda message: unavailable(message) if message.room_id == 1 else gone(message))
    heard = Recorder()
    box.add_listener(heard)
    waiting, removed = box.enqueue(1, "a", encrypted=True), box.enqueue(2, "b", encrypted=True)
    failed = settled(heard, [waiting.id, removed.id], OutboxState.FAILED)
    assert failed[waiting.id].error_code == "E2E_ROOM_KEY_UNAVAILABLE" and failed[waiting.id].attempts == 2
    assert failed[removed.id].error_code == "ROOM_NOT_FOUND" and failed[removed.id].attempts == 1
    assert transport.sent.calls == []  # nothing went out in plaintext


# -- files -------------------------------------------------------------------------------------


def test_a_file_waits_as_a_private_copy_that_each_attempt_uploads_and_is_gone_once_sent(outboxes, tmp_path):
    """The desktop's file preparer: the copy is read, "uploaded" again at each attempt (an
    upload token serves one send), and only the preparer's content goes out."""
    source = tmp_path / "보고서.pdf"
    source.write_bytes(b"%PDF-1.4 report")
    uploads = []

    def upload(message):
        copy = message.attachment
        data = box.read_file(message)
        uploads.append(data)
        if len(uploads) < 3:
            raise ApiError("SERVER_BUSY", 503, "busy", "try later")
        return {"content": f"v3:sealed:{copy['name']}:{len(data)}", "encrypted": True,
                "upload_token": f"token-{len(uploads)}"}

    transport = ScriptedTransport(ack_for, connected=False)
    box = outboxes(transport)
    box.register_type("file", upload)
    heard = Recorder()
    box.add_listener(heard)
    queued = box.enqueue_file(9, source.name, source.read_bytes(), message_type="file")
    source.unlink()  # the user may move or delete the original at once

    copy = Path(queued.attachment["path"])
    assert copy.parent == box.files and copy.parent.parent == tmp_path
    assert b"%PDF" not in copy.read_bytes() and copy.stat().st_mode & 0o777 == 0o600  # sealed
    assert box.read_file(queued) == b"%PDF-1.4 report"
    assert queued.attachment == {"name": "보고서.pdf", "size": 15, "path": str(copy)}
    transport.come_online()
    sent = settled(heard, [queued.id])[queued.id]
    assert uploads == [b"%PDF-1.4 report"] * 3
    assert transport.sent.calls == [("v3:sealed:보고서.pdf:15", queued.client_msg_id)]  # never the description
    assert transport.extra == [{"message_type": "file", "upload_token": "token-3"}]
    assert sent.message_id == 1001 and not copy.exists() and list(box.files.iterdir()) == []


def test_a_discarded_file_takes_its_copy_with_it_and_stray_copies_go_when_the_outbox_opens(outboxes, tmp_path):
    transport = ScriptedTransport(ack_for, connected=False)
    box = outboxes(transport)
    box.register_type("image", lambda message: {"content": "v3:sealed", "encrypted": True})
    dropped = box.enqueue_file(1, "a.png", b"\x89PNG\r\n\x1a\nA", message_type="image")
    kept = box.enqueue_file(1, "b.png", b"\x89PNG\r\n\x1a\nB", message_type="image")
    assert box.discard(dropped.id)
    assert not Path(dropped.attachment["path"]).exists() and Path(kept.attachment["path"]).exists()
    with pytest.raises(ValueError):
        box.enqueue_file(1, "c.txt", b"text", message_type="text")  # a text is no file
    box.stop()

    stray = box.files / "left-by-a-crash"
    stray.write_bytes(b"a copy whose row was never written")
    again = outboxes(transport, start=False)
    assert not stray.exists()
    assert [Path(p).name for p in (m.attachment["path"] for m in again.messages())] == [
        Path(kept.attachment["path"]).name]
    assert list(again.files.iterdir()) == [Path(kept.attachment["path"])]


def test_a_file_whose_copy_is_gone_fails_for_good(outboxes):
    transport = ScriptedTransport(ack_for, connected=False)
    box = outboxes(transport)
    box.register_type("file", lambda message: {"content": "v3:sealed", "encrypted": True,
                                               "upload_token": str(len(box.read_file(message)))})
    heard = Recorder()
    box.add_listener(heard)
    queued = box.enqueue_file(4, "gone.txt", b"bytes", message_type="file")
    Path(queued.attachment["path"]).unlink()
    transport.come_online()
    failed = settled(heard, [queued.id], OutboxState.FAILED)[queued.id]
    assert failed.error_code == "FILE_NOT_FOUND" and failed.attempts == 1 and transport.sent.calls == []


# -- at rest -----------------------------------------------------------------------------------


def on_disk(folder: Path, secrets: list[bytes]) -> list[str]:
    """The files under `folder` holding any of `secrets`."""
    return [str(p) for p in folder.rglob("*") if p.is_file() and any(s in p.read_bytes() for s in secrets)]


def test_what_waits_is_sealed_on_disk_opens_after_a_restart_and_is_gone_when_forgotten(outboxes, tmp_path):
    """No text, file name or file bytes in the outbox's files; a new outbox with the account's
    key from the keyring reads and sends them; `forget` (sign-out) deletes rows and copies."""
    text, name, data = "급여 인상안 초안", "인사평가 2026.xlsx", b"PK\x03\x04 confidential sheet " * 50
    transport = ScriptedTransport(ack_for, connected=False)
    first = outboxes(transport)
    first.register_type("file", lambda message: {"content": "v5:sealed", "encrypted": True})
    first.enqueue(3, text, encrypted=True)
    first.enqueue_file(3, name, data)
    secrets = [text.encode(), name.encode(), json.dumps(name).encode(), data[:32]]
    assert on_disk(tmp_path, secrets) == []  # running: database, WAL, copies
    first.stop()
    assert on_disk(tmp_path, secrets) == []

    again = outboxes(transport)  # the next start: the same key, from the keyring
    again.register_type("file", lambda message: {"content": f"v5:{len(again.read_file(message))}",
                                                 "encrypted": True})
    heard = Recorder()
    again.add_listener(heard)
    waiting = again.messages()
    assert [(m.content, m.attachment and m.attachment["name"]) for m in waiting] == [(text, None), (json.dumps(
        {"name": name, "size": len(data), "path": waiting[1].attachment["path"]}, ensure_ascii=False), name)]
    transport.come_online()
    settled(heard, [m.id for m in waiting])
    assert transport.sent.calls == [(text, waiting[0].client_msg_id), (f"v5:{len(data)}", waiting[1].client_msg_id)]

    again.enqueue_file(3, name, data)  # waiting when the user signs out
    again.forget()
    assert not (tmp_path / "outbox.sqlite3").exists() and not again.files.exists()
    assert [p.name for p in tmp_path.iterdir()] == ["keyring.json"]  # the key stays until sign-out forgets it


def test_rows_under_a_forgotten_key_are_dropped_and_plaintext_rows_of_an_older_version_are_sealed(
        outboxes, tmp_path):
    path = tmp_path / "outbox.sqlite3"
    old = sqlite3.connect(path)  # a version 1 outbox, as the last release left it
    old.executescript(f"BEGIN; {SCHEMA[0]}; PRAGMA user_version = 1; COMMIT;")
    copy = outbox_files(path) / "0f"
    copy.parent.mkdir()
    copy.write_bytes(b"old plaintext file bytes")
    for number, (kind, content) in enumerate([("text", "old plaintext draft"), ("file", json.dumps(
            {"name": "old.txt", "size": 24, "path": str(copy)}))]):
        old.execute("INSERT INTO outgoing_messages (client_msg_id, room_id, message_type, content, encrypted,"
                    " state, created_at, updated_at) VALUES (?, 1, ?, ?, 1, 'pending', 0, 0)",
                    (f"old{number}", kind, content))
    old.commit()
    old.close()

    upgraded = outboxes(ScriptedTransport(ack_for, connected=False), start=False)
    assert [m.content for m in upgraded.messages()][0] == "old plaintext draft"
    assert upgraded.read_file(upgraded.messages()[1]) == b"old plaintext file bytes"
    upgraded.stop()
    assert on_disk(tmp_path, [b"old plaintext", b"old.txt"]) == []

    stranger = outboxes(ScriptedTransport(ack_for, connected=False), start=False, sealing_key=os.urandom(32))
    assert stranger.messages() == [] and list(stranger.files.iterdir()) == []  # nothing opens: nothing stays
