"""Several `--serve` processes on one PostgreSQL and one Redis, behind the nginx front of
deploy/nginx.conf, are one server to clients split across them.

One office serves the whole module: processes A and B on one database, one data dir and one
queue, and the front before them. Sockets are opened straight to A or to B where a check needs
to know which process holds them, and through the front where the front is under test. The
sweep is set to an hour, so whatever closes a socket here is the change itself, not the sweep.
The kill -9 test comes last: it leaves process B dead.
"""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
import threading
import time

import httpx
import pytest
import socketio

from harness import LISTENING, PASSWORD, Api, ServerProcess, Socket, login, register_and_login
from messaging import history, open_room, text
from services import Front, Postgres, Redis
from test_catch_up import catch_up
from test_durability import all_messages
from uploading import group, send_file, uploaded

PER_ACCOUNT = 4  # sign-in failures per (account, address) in the window
SEARCHES = 5  # per user per minute
CONFIG = (f"socket_sweep_seconds = 3600.0\nlogin_throttle_per_account = {PER_ACCOUNT}\n"
          f"search_per_minute = {SEARCHES}\ntyping_throttle_seconds = 30.0\n")


class Office:
    def __init__(self, a: ServerProcess, b: ServerProcess, front: Front, env: dict):
        self.a, self.b, self.front, self.env = a, b, front, env
        self.opened: list[Socket] = []

    def user(self, **kwargs) -> Api:
        """A new user, registered and signed in through the front."""
        return register_and_login(self.front, **kwargs)

    def socket(self, where, api: Api) -> Socket:
        sock = Socket(where.url, api.token)
        self.opened.append(sock)
        return sock


@pytest.fixture(scope="module")
def office(tmp_path_factory):
    postgres, redis = Postgres().start(), Redis().start()
    env = {"MESSENGER_DATABASE_URL": postgres.database("office"), "MESSENGER_MESSAGE_QUEUE": redis.url,
           "MESSENGER_TRUSTED_PROXIES": "1"}
    data_dir = tmp_path_factory.mktemp("office")  # one data dir: on several hosts, a shared mount
    # One after the other: the first start makes the schema, the secret key and the first admin.
    a = ServerProcess(data_dir, env=env, config=CONFIG, e2e_policy="optional").start()
    b = ServerProcess(data_dir, env=env).start()
    front = Front([a.url, b.url])
    office = Office(a, b, front, env)
    yield office
    for sock in office.opened:
        sock.close()
    front.stop()
    for proc in (a, b):
        proc.stop()
    redis.stop()
    postgres.stop()


def test_the_front_spreads_requests_and_sockets_with_no_stickiness(office):
    """One desk's requests land on both processes and all work; its socket through the front too."""
    alice, bob = office.user(), office.user()
    for _ in range(6):
        assert alice.get("/api/me").status_code == 200
    assert office.front.upstreams("/api/me") == {office.a.url[7:], office.b.url[7:]}
    room_id = open_room(alice, bob)
    alice_sock, bob_sock = office.socket(office.front, alice), office.socket(office.front, bob)
    ack = alice_sock.call("send_message", text(room_id, "앞문으로"))
    assert bob_sock.wait_for("new_message", lambda m: m["id"] == ack["message_id"])["content"] == "앞문으로"
    alice_sock.close()
    bob_sock.close()
    deadline = time.monotonic() + 5  # nginx logs a socket when it closes
    while office.front.upstreams("/socket.io/") != {office.a.url[7:], office.b.url[7:]}:
        assert time.monotonic() < deadline, office.front.upstreams("/socket.io/")
        time.sleep(0.1)


def test_messages_typing_reads_edits_and_reactions_reach_the_other_process(office):
    alice, bob = office.user(), office.user()
    room_id = open_room(alice, bob)
    on_a, on_b = office.socket(office.a, alice), office.socket(office.b, bob)
    assert bob.user["id"] in online_ids(office.a, alice)
    message_id = on_a.call("send_message", text(room_id, "A에서 B로"))["message_id"]
    assert on_b.wait_for("new_message", lambda m: m["id"] == message_id)["content"] == "A에서 B로"

    assert on_a.call("typing", {"room_id": room_id, "is_typing": True})["sent"] is True
    assert on_b.wait_for("user_typing")["is_typing"] is True
    # The throttle is shared: the same user typing again through B within the window is held back.
    alice_on_b = office.socket(office.b, alice)
    assert alice_on_b.call("typing", {"room_id": room_id, "is_typing": True})["sent"] is False
    assert on_a.call("typing", {"room_id": room_id, "is_typing": False})["sent"] is True
    assert on_b.wait_for("user_typing")["is_typing"] is False

    assert on_b.call("message_read", {"room_id": room_id, "message_id": message_id})["moved"] is True
    assert on_a.wait_for("read_updated")["user_id"] == bob.user["id"]
    edit = office.b.api(alice.token).put(f"/api/messages/{message_id}", json={"content": "고침", "encrypted": False})
    assert edit.status_code == 200, edit.text
    assert on_b.wait_for("message_edited")["content"] == "고침"
    react = office.a.api(bob.token).post(f"/api/messages/{message_id}/reactions", json={"emoji": "👍"})
    assert react.status_code in (200, 201), react.text
    assert alice_on_b.wait_for("reaction_updated")["message_id"] == message_id

    alice_on_b.close()
    on_a.close()
    assert on_b.wait_for("user_status", lambda s: s["user_id"] == alice.user["id"])["status"] == "offline"
    assert alice.user["id"] not in online_ids(office.b, bob)


def test_a_kick_and_a_new_member_change_the_other_process_sockets_at_once(office):
    alice, bob, carol = office.user(), office.user(), office.user()
    room_id = group(alice, bob)
    bob_on_b, alice_on_a = office.socket(office.b, bob), office.socket(office.a, alice)
    carol_on_b = office.socket(office.b, carol)
    assert office.a.api(alice.token).post(f"/api/rooms/{room_id}/members",
                                          json={"user_ids": [carol.user["id"]]}).status_code == 200
    assert office.a.api(alice.token).delete(f"/api/rooms/{room_id}/members/{bob.user['id']}").status_code == 200
    sent = alice_on_a.call("send_message", text(room_id, "밥은 이제 없음"))["message_id"]
    assert carol_on_b.wait_for("new_message", lambda m: m["id"] == sent)["room_id"] == room_id
    assert sent not in [d.get("id") for n, d in bob_on_b.drain(0.5) if n == "new_message"]


def wait_closed(sock: Socket, reason: str, within: float = 3.0) -> None:
    assert sock.wait_for("session_revoked", timeout=within)["reason"] == reason
    deadline = time.monotonic() + within
    while sock.connected:
        assert time.monotonic() < deadline, "the socket stayed open"
        time.sleep(0.05)


def test_revoking_a_device_and_changing_a_password_close_sockets_on_the_other_process(office):
    carol = office.user()
    phone = login(office.front, carol.user["username"], device_name="second desk")
    desk_on_b, phone_on_b = office.socket(office.b, carol), office.socket(office.b, phone)
    revoked = office.a.api(carol.token).delete(f"/api/device-sessions/{phone.device_session_id}")
    assert revoked.status_code == 200, revoked.text
    wait_closed(phone_on_b, "revoked_by_user")
    assert desk_on_b.connected  # the other device stays

    changed = office.a.api(carol.token).put("/api/me/password", json={
        "current_password": PASSWORD, "new_password": "Another-Pass-77"})
    assert changed.status_code == 200, changed.text
    wait_closed(desk_on_b, "password_changed")


def test_the_admin_command_closes_sockets_on_every_process_through_the_queue(office):
    """`messenger admin` beside running servers: with the queue, at once (the sweep is an hour)."""
    dave = office.user()
    on_a, on_b = office.socket(office.a, dave), office.socket(office.b, dave)
    office.a.admin("disable", dave.user["username"])
    wait_closed(on_a, "account_disabled")
    wait_closed(on_b, "account_disabled")


def test_one_client_msg_id_sent_to_both_processes_gives_one_message(office):
    alice, bob = office.user(), office.user()
    room_id = open_room(alice, bob)
    on_a, on_b = office.socket(office.a, alice), office.socket(office.b, alice)
    payload = text(room_id, "한 번만", client_msg_id=secrets.token_hex(8))
    first, again = on_a.call("send_message", payload), on_b.call("send_message", payload)
    assert first["ok"] and again == {"ok": True, "message_id": first["message_id"], "duplicate": True}
    assert [m["content"] for m in history(bob, room_id)["messages"]] == ["한 번만"]


def test_sign_in_failures_and_searches_count_over_both_processes(office):
    erin = office.user()
    wrong = {"username": erin.user["username"], "password": "not-the-password", "device_name": "d"}
    for i in range(PER_ACCOUNT):
        where = (office.a, office.b)[i % 2]
        assert where.api().post("/api/device-sessions", json=wrong).status_code == 401
    for where in (office.a, office.b, office.front):
        refused = where.api().post("/api/device-sessions", json={**wrong, "password": PASSWORD})
        assert refused.status_code == 429, refused.text
        assert refused.json()["error_code"] == "RATE_LIMITED"

    for i in range(SEARCHES):
        assert (office.a, office.b)[i % 2].api(erin.token).get("/api/search", params={"q": "x"}).status_code == 200
    assert office.a.api(erin.token).get("/api/search", params={"q": "x"}).status_code == 429
    assert office.b.api(erin.token).get("/api/search", params={"q": "x"}).status_code == 429


def test_the_front_passes_the_desk_address_so_one_desk_does_not_lock_out_the_office(office):
    """Behind the front each desk's failures count for its own address, not the front's: desks
    at 127.0.0.7 and 127.0.0.8 (loopback has them all) reach the servers through one nginx."""
    frank = office.user()
    wrong = {"username": frank.user["username"], "password": "nope-nope-nope", "device_name": "d"}

    def desk(address: str) -> Api:
        return office.front.api(transport=httpx.HTTPTransport(local_address=address))

    for _ in range(PER_ACCOUNT):
        assert desk("127.0.0.7").post("/api/device-sessions", json=wrong).status_code == 401
    right = {**wrong, "password": PASSWORD}
    assert desk("127.0.0.7").post("/api/device-sessions", json=right).status_code == 429
    assert desk("127.0.0.8").post("/api/device-sessions", json=right).status_code == 201


def test_a_file_uploaded_through_one_process_downloads_through_the_other_and_search_finds_text(office):
    alice, bob = office.user(), office.user()
    room_id = group(office.a.api(alice.token), bob)
    blob = secrets.token_bytes(50_000)
    token = uploaded(office.a.api(alice.token), room_id, "report.bin", blob, encrypted=True)["upload_token"]
    ack = send_file(office.socket(office.a, alice), room_id, token, content="v2:envelope", encrypted=True)
    assert ack["ok"], ack
    [message] = [m for m in history(bob, room_id)["messages"] if m["id"] == ack["message_id"]]
    download = office.b.api(bob.token).get(message["file_url"])
    assert download.status_code == 200 and download.content == blob

    word = "출장보고서" + secrets.token_hex(3)
    sent = office.socket(office.a, alice).call("send_message", text(room_id, f"{word} 올렸어요"))["message_id"]
    found = office.b.api(bob.token).get("/api/search", params={"q": word})
    assert [r["message_id"] for r in found.json()["results"]] == [sent]


def test_workers_starts_processes_that_act_as_one_and_stop_together(office, tmp_path):
    command = [sys.executable, "-m", "messenger", "--serve", "--workers", "2", "--port", "0",
               "--data-dir", str(office.a.data_dir)]
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env={**os.environ, "MESSENGER_ENV": "dev", **office.env})
    urls, output = [], []
    try:
        for line in proc.stdout:
            output.append(line)
            found = LISTENING.search(line)
            if found:
                urls.append(found.group(1))
            if len(urls) == 2:
                break
        assert len(urls) == 2, "".join(output)
        alice, bob = office.user(), office.user()
        room_id = open_room(alice, bob)
        first, second = Socket(urls[0], alice.token), Socket(urls[1], bob.token)
        try:
            sent = first.call("send_message", text(room_id, "일꾼들"))["message_id"]
            assert second.wait_for("new_message", lambda m: m["id"] == sent)["content"] == "일꾼들"
        finally:
            first.close()
            second.close()
    finally:
        proc.send_signal(signal.SIGTERM)
        rest, _ = proc.communicate(timeout=60)
    assert proc.returncode == 0, "".join(output) + rest
    assert rest.count("messenger server stopped") == 2 and "messenger workers stopped" in rest


@pytest.mark.parametrize("env, code", [
    ({}, "MESSAGE_QUEUE_REQUIRED"),
    ({"MESSENGER_MESSAGE_QUEUE": "redis://127.0.0.1:1/0"}, "SHARED_DATABASE_REQUIRED"),
    ({"MESSENGER_MESSAGE_QUEUE": "amqp://guest:s3cret-pw@127.0.0.1/"}, "CONFIG_INVALID"),
])
def test_what_several_processes_need_is_said_before_anything_starts(tmp_path, env, code):
    done = subprocess.run([sys.executable, "-m", "messenger", "--serve", "--workers", "2", "--port", "0",
                           "--data-dir", str(tmp_path / "data")], capture_output=True, text=True, timeout=60,
                          env={**os.environ, "MESSENGER_ENV": "dev", **env})
    assert done.returncode == 2 and f"error {code}: " in done.stderr, done.stdout + done.stderr
    assert "s3cret-pw" not in done.stderr and "listening" not in done.stdout
    assert not (tmp_path / "data" / "messenger.db").exists()


SENDERS_PER_PROCESS = 2
PER_SENDER = 60


def test_kill_9_of_one_process_loses_no_acked_message_and_its_clients_catch_up_through_the_front(office):
    """Clients on both processes send; B dies with SIGKILL midway. Every acked message is stored
    once; B's clients reconnect through the front (to A), send again what had no ack with the same
    client_msg_id, and read what they missed after the cursor they had."""
    senders = [office.user() for _ in range(2 * SENDERS_PER_PROCESS)]
    room_id = open_room(senders[0], *senders[1:], name="kill")
    acked: dict[str, int] = {}
    seen: dict[int, set[int]] = {i: set() for i in range(len(senders))}
    cursor: dict[int, int] = {i: 0 for i in range(len(senders))}
    cursor_at_drop: dict[int, int] = {}
    lock = threading.Lock()
    half = threading.Event()

    def connect(i: int, url: str) -> socketio.Client:
        client = socketio.Client(reconnection=False)

        def on_new_message(message):
            seen[i].add(message["id"])
            cursor[i] = max(cursor[i], message["event_id"])

        client.on("new_message", on_new_message)
        client.connect(url, auth={"token": senders[i].token}, transports=["websocket"], wait_timeout=10)
        return client

    def run(i: int) -> None:
        client = connect(i, (office.a if i < SENDERS_PER_PROCESS else office.b).url)
        for n in range(PER_SENDER):
            msg_id = f"{i}-{n}"
            while True:
                try:
                    ack = client.call("send_message", text(room_id, msg_id, client_msg_id=msg_id), timeout=5)
                    break
                except socketio.exceptions.SocketIOError:  # its process died: back in through the front
                    cursor_at_drop.setdefault(i, cursor[i])
                    client = connect(i, office.front.url)
            assert ack["ok"], ack
            with lock:
                acked[msg_id] = ack["message_id"]
                if len(acked) >= len(senders) * PER_SENDER // 2:
                    half.set()
        client.disconnect()

    # A desk only on B that does not come back: B's heartbeat runs out and A takes it offline.
    bystander = office.user()
    office.socket(office.b, bystander)
    watcher = office.socket(office.a, senders[0])
    open_room(senders[0], bystander)
    assert bystander.user["id"] in online_ids(office.a, senders[0])

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(senders))]
    for thread in threads:
        thread.start()
    assert half.wait(120)
    office.b.kill()
    for thread in threads:
        thread.join(120)
    assert not any(thread.is_alive() for thread in threads)

    assert len(acked) == len(senders) * PER_SENDER
    stored = all_messages(office.front.api(senders[0].token), room_id)
    assert sorted(m["content"] for m in stored) == sorted(acked)  # each acked message once, none lost
    assert {m["content"]: m["id"] for m in stored} == acked
    dropped = set(cursor_at_drop)
    assert dropped == set(range(SENDERS_PER_PROCESS, len(senders))), "B's clients should have dropped, A's not"
    for i in dropped:
        missed, _ = catch_up(office.front.api(senders[i].token), cursor_at_drop[i])
        caught = {e["data"]["id"] for e in missed if e["event"] == "new_message"}
        first_seen = min(seen[i] | caught)
        assert {m["id"] for m in stored if m["id"] >= first_seen} <= seen[i] | caught

    went = watcher.wait_for("user_status", lambda s: s["user_id"] == bystander.user["id"], timeout=30)
    assert went["status"] == "offline"
    assert bystander.user["id"] not in online_ids(office.a, senders[0])


def online_ids(server: ServerProcess, api: Api) -> set[int]:
    return {u["id"] for u in server.api(api.token).get("/api/users/online").json()["users"]}
