"""More than a thousand live sockets on one server: all connect, presence, fan-out, sign-in.

The v4 server accepted no socket past about 500 users. Here 1,000 authenticated
sockets (40 users, two device sessions each, each token used by a dozen sockets)
stay connected while messages fan out to four rooms and a new sign-in is answered.
Correctness only: timings are printed for information, never asserted.
"""

from __future__ import annotations

import asyncio
import resource
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import socketio

from harness import login, register_and_login

SOCKETS = 1000
USERS = 40
DEVICES_PER_USER = 2
ROOMS = 4
SENDERS_PER_ROOM = 2
MESSAGES_PER_SENDER = 3
CONNECT_CONCURRENCY = 50


@pytest.fixture
def open_file_limit():
    """Each socket is a file in this process and in the server (which inherits the limit)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    needed = SOCKETS + 500
    if soft < needed and (hard == resource.RLIM_INFINITY or hard >= needed):
        resource.setrlimit(resource.RLIMIT_NOFILE, (needed, hard))
    if resource.getrlimit(resource.RLIMIT_NOFILE)[0] < needed:
        pytest.skip(f"the open-file hard limit ({hard}) is below the {needed} this test needs")
    yield
    resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


class LiveSocket:
    """An asyncio Socket.IO client that keeps the ids of the `new_message`s it receives."""

    def __init__(self, user_id: int, token: str):
        self.user_id = user_id
        self.token = token
        self.message_ids: list[int] = []
        self.client = socketio.AsyncClient(reconnection=False)
        self.client.on("new_message", self._on_new_message)

    def _on_new_message(self, data):
        self.message_ids.append(data["id"])

    async def connect(self, url: str) -> None:
        await self.client.connect(url, auth={"token": self.token}, transports=["websocket"], wait_timeout=30)


def timed(label: str, started: float) -> float:
    now = time.perf_counter()
    print(f"{label}: {now - started:.2f} s")
    return now


async def connect_all(sockets: list[LiveSocket], url: str) -> None:
    limit = asyncio.Semaphore(CONNECT_CONCURRENCY)

    async def one(sock: LiveSocket):
        async with limit:
            await sock.connect(url)

    await asyncio.gather(*(one(s) for s in sockets))


async def close_all(sockets: list[LiveSocket]) -> None:
    await asyncio.gather(*(s.client.disconnect() for s in sockets if s.client.connected))


@pytest.mark.timeout(180)
def test_thousand_sockets_connect_get_each_message_once_and_logins_still_answer(open_file_limit, fresh_server):
    server = fresh_server()
    started = time.perf_counter()
    with ThreadPoolExecutor(4) as pool:
        apis = list(pool.map(lambda _: register_and_login(server), range(USERS)))
        extra = list(pool.map(lambda api: login(server, api.user["username"], device_name="second desk"), apis))
    tokens = [(api.user["id"], api.token) for api in apis] + [(api.user["id"], api.token) for api in extra]
    assert len({token for _, token in tokens}) == USERS * DEVICES_PER_USER
    now = timed(f"{USERS} users with {DEVICES_PER_USER} device sessions each", started)

    # Rooms of consecutive users, each made by its first member.
    per_room = USERS // ROOMS
    room_of_user: dict[int, int] = {}
    room_users: dict[int, list] = {}
    for n in range(ROOMS):
        group = apis[n * per_room:(n + 1) * per_room]
        reply = group[0].post("/api/rooms", json={"member_ids": [a.user["id"] for a in group[1:]],
                                                  "name": f"crowd {n}"})
        assert reply.status_code == 201, reply.text
        room_id = reply.json()["room_id"]
        room_users[room_id] = group
        room_of_user.update({a.user["id"]: room_id for a in group})
    now = timed(f"{ROOMS} rooms", now)

    sockets = [LiveSocket(*tokens[i % len(tokens)]) for i in range(SOCKETS)]

    async def scenario():
        nonlocal now
        try:
            await connect_all(sockets, server.url)
            now = timed(f"{SOCKETS} sockets connected", now)
            assert sum(s.client.connected for s in sockets) == SOCKETS

            # Presence and sign-in answer while every socket is live (run off the event loop,
            # so the sockets keep answering the server's pings meanwhile).
            online = await asyncio.to_thread(lambda: apis[0].get("/api/users/online"))
            assert online.status_code == 200
            assert {a.user["id"] for a in apis} <= {u["id"] for u in online.json()["users"]}
            signed_in = await asyncio.to_thread(login, server, apis[-1].user["username"], device_name="late desk")
            me = await asyncio.to_thread(lambda: signed_in.get("/api/me"))
            assert me.status_code == 200 and me.json()["user"]["id"] == apis[-1].user["id"]
            now = timed("presence list and a new sign-in with every socket live", now)

            # Two members of each room send three messages each, all rooms at once.
            async def send_from(user_id: int, room_id: int) -> list[int]:
                sock = next(s for s in sockets if s.user_id == user_id)
                ids = []
                for k in range(MESSAGES_PER_SENDER):
                    ack = await sock.client.call("send_message", {
                        "room_id": room_id, "content": f"hello {k} from {user_id}", "type": "text",
                        "encrypted": False, "client_msg_id": f"crowd-{user_id}-{k}"}, timeout=30)
                    assert ack["ok"] is True, ack
                    ids.append(ack["message_id"])
                return ids

            jobs = {room_id: [send_from(a.user["id"], room_id) for a in group[:SENDERS_PER_ROOM]]
                    for room_id, group in room_users.items()}
            sent: dict[int, set[int]] = {}
            for room_id, senders in jobs.items():
                sent[room_id] = set()
                for ids in await asyncio.gather(*senders):
                    sent[room_id].update(ids)
            assert all(len(ids) == SENDERS_PER_ROOM * MESSAGES_PER_SENDER for ids in sent.values())

            def expected(sock: LiveSocket) -> set[int]:
                return sent[room_of_user[sock.user_id]]

            deadline = time.monotonic() + 60
            while time.monotonic() < deadline and any(set(s.message_ids) < expected(s) for s in sockets):
                await asyncio.sleep(0.05)
            await asyncio.sleep(0.5)  # room for a duplicate or a stray delivery to show up
            now = timed(f"{sum(len(s) for s in sent.values())} messages fanned out to every socket", now)

            missing = [s for s in sockets if not expected(s) <= set(s.message_ids)]
            assert not missing, f"{len(missing)} sockets missed messages"
            doubled = [s for s in sockets if len(s.message_ids) != len(set(s.message_ids))]
            assert not doubled, f"{len(doubled)} sockets got a new_message twice"
            strays = [s for s in sockets if set(s.message_ids) - expected(s)]
            assert not strays, f"{len(strays)} sockets got messages of rooms they are not in"
            assert sum(s.client.connected for s in sockets) == SOCKETS
        finally:
            await close_all(sockets)

    asyncio.run(scenario())
    timed("sockets closed", now)
    assert server.proc.poll() is None, "".join(server.output[-30:])
