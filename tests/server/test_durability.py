"""An acked message survives a crash of the server, and resending after one never duplicates.

The promise under test: the ack of `send_message` is sent only after the commit, and the
database runs SQLite in WAL mode with synchronous=FULL, so a SIGKILL (or a power cut)
after the ack cannot lose the message.
"""

import threading
from collections import Counter

import socketio

from harness import Socket, register_and_login
from messaging import open_room, text

SENDERS = 4
PER_SENDER = 150
IN_FLIGHT = 8  # per sender: keeps the server busy without running far ahead of the acks
KILL_AFTER_ACKS = 150


def all_messages(api, room_id):
    """The room's whole history, read forward with `after_id`."""
    messages, after = [], 0
    while True:
        body = api.get(f"/api/rooms/{room_id}/messages", params={"after_id": after, "limit": 200}).json()
        messages += body["messages"]
        if not body["has_more"]:
            return messages
        after = messages[-1]["id"]


def test_acked_messages_survive_a_crash_and_resends_never_duplicate(fresh_server):
    srv = fresh_server()
    senders = [register_and_login(srv) for _ in range(SENDERS)]
    room_id = open_room(*senders)
    socks = [Socket(srv.url, api.token) for api in senders]
    acked: dict[str, int] = {}
    lock = threading.Lock()
    enough, killed = threading.Event(), threading.Event()

    def on_ack(client_msg_id, window):
        def record(ack):
            with lock:
                acked[client_msg_id] = ack["message_id"]
                if len(acked) >= KILL_AFTER_ACKS:
                    enough.set()
            window.release()
        return record

    planned = {s: [f"s{s}-{n}" for n in range(PER_SENDER)] for s in range(SENDERS)}

    def fire(s):
        # Up to IN_FLIGHT sends without waiting for their acks, so some are in flight at the kill.
        window = threading.Semaphore(IN_FLIGHT)
        for client_msg_id in planned[s]:
            while not window.acquire(timeout=0.05):
                if killed.is_set():
                    return
            if killed.is_set():
                return
            try:
                socks[s].client.emit("send_message", text(room_id, client_msg_id, client_msg_id=client_msg_id),
                                     callback=on_ack(client_msg_id, window))
            except socketio.exceptions.SocketIOError:  # the connection died with the server
                return

    threads = [threading.Thread(target=fire, args=(s,)) for s in range(SENDERS)]
    for t in threads:
        t.start()
    assert enough.wait(15), f"only {len(acked)} acks before the kill"
    srv.kill()
    killed.set()
    for t in threads:
        t.join()
    with lock:
        acked_at_kill = dict(acked)
    everything = [cmid for ids in planned.values() for cmid in ids]

    srv.start()
    reader = srv.api(senders[0].token)
    stored = {m["client_msg_id"]: m["id"] for m in all_messages(reader, room_id)}
    assert len(stored) < len(everything), "the server finished before the kill: nothing was cut short"
    for client_msg_id, message_id in acked_at_kill.items():
        assert stored.get(client_msg_id) == message_id, f"acked {client_msg_id} lost or changed"

    for s, api in enumerate(senders):
        sock = Socket(srv.url, api.token)
        try:
            for client_msg_id in planned[s]:
                if client_msg_id in acked_at_kill:
                    continue
                ack = sock.call("send_message", text(room_id, client_msg_id, client_msg_id=client_msg_id))
                assert ack["ok"] is True
                # Committed before the crash but never acked: the resend finds it.
                assert ack.get("duplicate", False) == (client_msg_id in stored)
        finally:
            sock.close()
    for sock in socks:
        sock.client.disconnect()

    final = all_messages(reader, room_id)
    counts = Counter(m["client_msg_id"] for m in final)
    assert counts == Counter(everything)
    assert all(dict((m["client_msg_id"], m["id"]) for m in final)[c] == i for c, i in acked_at_kill.items())


def test_client_msg_id_is_recognised_after_a_restart(fresh_server):
    """**fix**: a repeat is recognised forever, not only while the server keeps it in memory."""
    srv = fresh_server()
    alice, bob = register_and_login(srv), register_and_login(srv)
    room_id = open_room(alice, bob)
    sock = Socket(srv.url, alice.token)
    first = sock.call("send_message", text(room_id, "재시작 전", client_msg_id="restart-1"))["message_id"]
    sock.client.disconnect()
    srv.kill()
    srv.start()
    alice_sock, bob_sock = Socket(srv.url, alice.token), Socket(srv.url, bob.token)
    try:
        again = alice_sock.call("send_message", text(room_id, "재시작 전", client_msg_id="restart-1"))
        assert again == {"ok": True, "message_id": first, "duplicate": True}
        assert "new_message" not in bob_sock.names()
        messages = all_messages(srv.api(bob.token), room_id)
        assert [(m["id"], m["client_msg_id"]) for m in messages] == [(first, "restart-1")]
    finally:
        alice_sock.close()
        bob_sock.close()


def test_a_failed_commit_acks_an_error_stores_nothing_and_delivers_nothing(fresh_server):
    """The ack waits for the commit that holds the message: a commit that fails after the
    insert went through (a deferred constraint, checked at COMMIT) answers INTERNAL_ERROR."""
    import sqlite3

    srv = fresh_server()
    alice, bob = register_and_login(srv), register_and_login(srv)
    room_id = open_room(alice, bob)
    db = sqlite3.connect(srv.data_dir / "messenger.db")
    db.executescript("""
        CREATE TABLE commit_blocker (user_id INTEGER REFERENCES users(id) DEFERRABLE INITIALLY DEFERRED);
        CREATE TRIGGER block_commit AFTER INSERT ON messages WHEN NEW.content = 'doomed'
        BEGIN INSERT INTO commit_blocker VALUES (-1); END;
    """)
    db.close()
    alice_sock, bob_sock = Socket(srv.url, alice.token), Socket(srv.url, bob.token)
    try:
        refused = alice_sock.call("send_message", text(room_id, "doomed", client_msg_id="doomed-1"))
        assert refused["ok"] is False and refused["error_code"] == "INTERNAL_ERROR"
        kept = alice_sock.call("send_message", text(room_id, "kept", client_msg_id="kept-1"))
        assert kept["ok"] is True and "duplicate" not in kept
        delivered = bob_sock.wait_for("new_message")
        assert delivered["content"] == "kept"
        assert all(data["content"] != "doomed" for name, data in bob_sock.seen if name == "new_message")
        history = all_messages(srv.api(bob.token), room_id)
        assert [(m["content"], m["client_msg_id"]) for m in history] == [("kept", "kept-1")]
    finally:
        alice_sock.close()
        bob_sock.close()
