"""Load benchmark of the realtime path: many sockets, group rooms, `send_message` with acks.

    python benchmarks/load.py --clients 200 --room-size 20 --seconds 20 [--rate 1] \\
        [--url URL [--server-pid PID] | --start-server] [--async-mode gevent|threading]
    python benchmarks/load.py --idle 2000 [--users 500] [--async-mode ...]

By default it starts its own server (`python -m messenger --serve --port 0` on a
throw-away data dir, loopback only) and stops it at the end. Every step is bounded
in count and time; the whole run is cut at `--timeout` seconds. See README.md here.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import itertools
import json
import os
import re
import resource
import secrets
import signal
import sys
import tempfile
import threading
import time
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import orjson
import psutil

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from harness import ServerProcess  # noqa: E402  (the tests' server starter, one copy)

PASSWORD = "Bench-Horse-42-battery"
LOOPBACK = re.compile(r"^https?://(127\.\d+\.\d+\.\d+|localhost|\[::1\])(:\d+)?/?$")


# --- the server under test ---------------------------------------------------------------

class ServerWatch:
    """Samples the server's RSS (and thread count) every 0.1 s; keeps the peak."""

    def __init__(self, pid: int | None):
        self.process = psutil.Process(pid) if pid else None
        self.peak_rss = 0
        self.peak_threads = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> "ServerWatch":
        if self.process:
            self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.wait(0.1):
            self.sample()

    def sample(self) -> int:
        try:
            rss = self.process.memory_info().rss
            self.peak_rss = max(self.peak_rss, rss)
            self.peak_threads = max(self.peak_threads, self.process.num_threads())
            return rss
        except psutil.Error:
            return 0

    def rss(self) -> int | None:
        return self.sample() if self.process else None

    def cpu_seconds(self) -> float | None:
        if not self.process:
            return None
        try:
            times = self.process.cpu_times()
        except psutil.Error:
            return None
        return times.user + times.system

    def stop(self) -> None:
        self._stop.set()


# --- figures ------------------------------------------------------------------------------

def percentile(values: list[float], p: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(p / 100 * len(ordered)) - 1))]


def ms(seconds: float | None) -> str:
    return "-" if seconds is None else f"{seconds * 1000:.1f} ms"


def mib(nbytes: float | None) -> str:
    return "-" if nbytes is None else f"{nbytes / 2**20:.1f} MiB"


def kib(nbytes: float | None) -> str:
    return "-" if nbytes is None else f"{nbytes / 1024:.1f} KiB"


@dataclass
class Stats:
    errors: dict[str, int] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def error(self, kind: str, detail: str = "") -> None:
        self.errors[kind] = self.errors.get(kind, 0) + 1
        if detail and self.errors[kind] <= 3:
            self.notes.append(f"{kind}: {detail}"[:300])


# --- setup over HTTP ----------------------------------------------------------------------

async def create_users(url: str, count: int, concurrency: int, stats: Stats) -> list[dict]:
    """`count` users, each registered and signed in once (two argon2 hashes each)."""
    tag = secrets.token_hex(3)
    limit = asyncio.Semaphore(concurrency)

    async def one(http: httpx.AsyncClient, i: int) -> dict | None:
        name = f"b{tag}_{i}"
        async with limit:
            try:
                reply = await http.post("/api/register", json={"username": name, "password": PASSWORD,
                                                               "nickname": f"bench {i}"})
                if reply.status_code != 201:
                    stats.error("register", f"{reply.status_code} {reply.text[:200]}")
                    return None
                reply = await http.post("/api/device-sessions", json={
                    "username": name, "password": PASSWORD, "device_name": "bench", "remember": True})
                if reply.status_code != 201:
                    stats.error("device-session", f"{reply.status_code} {reply.text[:200]}")
                    return None
            except httpx.HTTPError as exc:
                stats.error("setup http", repr(exc))
                return None
        body = reply.json()
        return {"index": i, "id": body["user"]["id"], "token": body["device_token"], "username": name}

    async with httpx.AsyncClient(base_url=url, timeout=60) as http:
        made = await asyncio.gather(*(one(http, i) for i in range(count)))
    return [u for u in made if u]


def room_id_of(body: dict) -> int | None:
    """The new room's id, whichever shape the answer has (`room_id`, `id` or `room.id`)."""
    for value in (body.get("room_id"), body.get("id"), (body.get("room") or {}).get("id")):
        if isinstance(value, int):
            return value
    return None


async def create_rooms(url: str, users: list[dict], room_size: int, concurrency: int,
                       stats: Stats) -> list[tuple[int, list[dict]]]:
    """Consecutive users in groups of `room_size`, one group room each (created by its first)."""
    groups = [users[i:i + room_size] for i in range(0, len(users), room_size)]
    groups = [g for g in groups if len(g) >= 3]  # two people would make a direct room
    limit = asyncio.Semaphore(concurrency)

    async def one(n: int, group: list[dict]):
        async with limit, httpx.AsyncClient(base_url=url, timeout=60,
                                            headers={"Authorization": f"Bearer {group[0]['token']}"}) as http:
            try:
                reply = await http.post("/api/rooms", json={"member_ids": [u["id"] for u in group[1:]],
                                                            "name": f"bench room {n}"})
            except httpx.HTTPError as exc:
                stats.error("create room", repr(exc))
                return None
        if reply.status_code not in (200, 201) or room_id_of(reply.json()) is None:
            stats.error("create room", f"{reply.status_code} {reply.text[:200]}")
            return None
        return room_id_of(reply.json()), group

    made = await asyncio.gather(*(one(n, g) for n, g in enumerate(groups)))
    return [r for r in made if r]


async def timed_login(url: str, user: dict) -> tuple[float, int]:
    """Seconds for one sign-in (`POST /api/device-sessions`) and its status code."""
    async with httpx.AsyncClient(base_url=url, timeout=60) as http:
        start = time.perf_counter()
        reply = await http.post("/api/device-sessions", json={
            "username": user["username"], "password": PASSWORD, "device_name": "probe", "remember": False})
        return time.perf_counter() - start, reply.status_code


async def login_storm(url: str, users: list[dict], count: int, seconds: float) -> tuple[list[float], int]:
    """`count` sign-ins (`POST /api/device-sessions`, an argon2 hash each) spread evenly over
    `seconds` while the clients send: (seconds each took, how many failed)."""
    times, failed = [], 0

    async def one(i: int):
        nonlocal failed
        await asyncio.sleep(i * seconds / count)
        try:
            took, status = await timed_login(url, users[i % len(users)])
        except httpx.HTTPError:
            failed += 1
            return
        if status == 201:
            times.append(took)
        else:
            failed += 1

    await asyncio.gather(*(one(i) for i in range(count)))
    return times, failed


# --- sockets ------------------------------------------------------------------------------

# asyncio reads every socket into this one buffer and hands it over at once (get_buffer, then
# buffer_updated): a plain recv allocates 256 KiB for each read, ~15 µs of the ~20 a delivery cost.
READ_BUFFER = memoryview(bytearray(256 * 1024))


class Socket(asyncio.BufferedProtocol):
    """A minimal Socket.IO 5 client over one WebSocket (Engine.IO 4): the handshake with `auth`,
    pings, events and acks; nothing else (no polling, reconnection or binary attachments).

    The load generator's receiving side: python-socketio's AsyncClient took 60–87 µs of CPU per
    `new_message` (aiohttp's frame reader, engine.io and socket.io decoding, a task per event),
    so one core could not receive what the relay sends in rooms of 100. Here frames are parsed
    as each read arrives and each `new_message` goes to the client right there."""

    def __init__(self, client: "Client"):
        self.client = client
        self.connected = False
        self.transport: asyncio.Transport | None = None
        self.upgraded = False
        self.buffer = b""  # the start of a frame (or of the HTTP answer) that the next read completes
        self.fragments: list[bytes] | None = None  # a text message split over frames
        self.acks: dict[int, asyncio.Future] = {}
        self.ack_ids = itertools.count()
        self.auth: dict = {}
        self.opened: asyncio.Future | None = None  # done at Socket.IO's CONNECT answer
        self.closing = False  # our own disconnect: no error

    async def open(self, url: str, auth: dict, timeout: float) -> None:
        """Connects (`ConnectionError` if the server refuses, `TimeoutError` after `timeout` s)."""
        parts = urllib.parse.urlsplit(url)
        loop = asyncio.get_running_loop()
        self.auth, self.opened = auth, loop.create_future()
        async with asyncio.timeout(timeout):
            await loop.create_connection(lambda: self, parts.hostname, parts.port or 80)
            key = base64.b64encode(os.urandom(16)).decode()
            self.transport.write(
                f"GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\nHost: {parts.netloc}\r\n"
                f"Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
                "Sec-WebSocket-Version: 13\r\n\r\n".encode())
            await self.opened

    async def call(self, event: str, data, timeout: float):
        """Emits `event` with an ack id; the ack's argument (`TimeoutError` after `timeout` s)."""
        if not self.connected:
            raise ConnectionError("not connected")
        ack_id = next(self.ack_ids)
        self.acks[ack_id] = future = asyncio.get_running_loop().create_future()
        self.send(b"42%d" % ack_id + orjson.dumps([event, data]))
        try:
            async with asyncio.timeout(timeout):
                return await future
        finally:
            self.acks.pop(ack_id, None)

    def disconnect(self) -> None:
        self.closing = True
        if self.transport and not self.transport.is_closing():
            if self.connected:
                self.send(b"41")
            self.send((1000).to_bytes(2, "big"), opcode=0x8)
            self.transport.close()
        self.connected = False

    def send(self, payload: bytes, opcode: int = 0x1) -> None:
        """One final frame, masked as a client's must be."""
        n = len(payload)
        head = bytes([0x80 | opcode, 0x80 | n]) if n < 126 else (
            bytes([0x80 | opcode, 0xFE]) + n.to_bytes(2, "big") if n < 65536
            else bytes([0x80 | opcode, 0xFF]) + n.to_bytes(8, "big"))
        mask = os.urandom(4)
        masked = (int.from_bytes(payload, "big") ^ int.from_bytes((mask * (n // 4 + 1))[:n], "big")).to_bytes(n, "big")
        self.transport.write(head + mask + masked)

    # asyncio.BufferedProtocol

    def connection_made(self, transport) -> None:
        self.transport = transport

    def connection_lost(self, exc) -> None:
        was_connected, self.connected = self.connected, False
        for future in self.acks.values():
            if not future.done():
                future.set_exception(ConnectionError("disconnected"))
        if self.opened and not self.opened.done():
            self.opened.set_exception(ConnectionError(f"closed during the handshake ({exc!r})"))
        elif was_connected and not self.closing:
            self.client.on_disconnect(repr(exc) if exc else "closed by the server")

    def get_buffer(self, sizehint: int) -> memoryview:
        return READ_BUFFER

    def buffer_updated(self, nbytes: int) -> None:
        self.feed(bytes(READ_BUFFER[:nbytes]))

    def feed(self, data: bytes) -> None:
        """The bytes of one read: the HTTP answer to the upgrade, then frames (any split)."""
        if self.buffer:
            data, self.buffer = self.buffer + data, b""
        if not self.upgraded:
            end = data.find(b"\r\n\r\n")
            if end < 0:
                self.buffer = data
                return
            status = data[:data.find(b"\r\n")]
            if not status.startswith(b"HTTP/1.1 101"):
                self.opened.set_exception(ConnectionError(f"no WebSocket upgrade: {status.decode(errors='replace')}"))
                self.transport.close()
                return
            self.upgraded, data = True, data[end + 4:]
        # Server frames are unmasked: 2 bytes, then a 16- or 64-bit length if the 7-bit one says so.
        pos, size = 0, len(data)
        while size - pos >= 2:
            first, length = data[pos], data[pos + 1] & 0x7F
            head = 2
            if length == 126:
                head, length = 4, int.from_bytes(data[pos + 2:pos + 4], "big")
            elif length == 127:
                head, length = 10, int.from_bytes(data[pos + 2:pos + 10], "big")
            if size - pos < head + length:
                break
            self.frame(first, data[pos + head:pos + head + length])
            pos += head + length
        if pos < size:
            self.buffer = data[pos:]

    def frame(self, first: int, payload: bytes) -> None:
        opcode, final = first & 0x0F, first & 0x80
        if opcode == 0x1 and final:
            self.packet(payload)
        elif opcode == 0x1:
            self.fragments = [payload]
        elif opcode == 0x0 and self.fragments is not None:
            self.fragments.append(payload)
            if final:
                self.packet(b"".join(self.fragments))
                self.fragments = None
        elif opcode == 0x9:
            self.send(payload, opcode=0xA)
        elif opcode == 0x8:
            self.transport.close()

    def packet(self, payload: bytes) -> None:
        """One Engine.IO packet; in it, a Socket.IO one."""
        kind = payload[:2]
        if kind == b"42":
            event = orjson.loads(payload[payload.index(b"[", 2):])  # `42` [ack id] [name, data]
            if event[0] == "new_message":
                self.client.on_new_message(event[1])
        elif kind == b"43":
            start = payload.index(b"[", 2)
            future = self.acks.get(int(payload[2:start]))
            if future and not future.done():
                args = orjson.loads(payload[start:])
                future.set_result(args[0] if len(args) == 1 else tuple(args))
        elif payload == b"2":  # Engine.IO ping
            self.send(b"3")
        elif payload[:1] == b"0":  # Engine.IO open: now Socket.IO's CONNECT with the auth
            self.send(b"40" + orjson.dumps(self.auth))
        elif kind == b"40":
            self.connected = True
            self.opened.set_result(None)
        elif kind == b"44":
            self.opened.set_exception(ConnectionError(f"connect refused: {payload[2:].decode(errors='replace')}"))
            self.transport.close()
        elif kind == b"41" or payload[:1] == b"1":  # the server ends the namespace or the connection
            self.transport.close()


class Client:
    """One Socket.IO connection; records every `new_message` it receives."""

    def __init__(self, index: int, user: dict, run: "Run"):
        self.index = index
        self.user = user
        self.run = run
        self.room_id: int | None = None
        self.sio = Socket(self)
        # (sender client index, sequence number, message id) in arrival order
        self.received: list[tuple[int, int, int | None]] = []
        self.seen_ids: set = set()
        self.seq = 0  # continues across steps, so every client_msg_id stays new

    async def connect(self, url: str, timeout: float) -> bool:
        self.sio = Socket(self)  # a fresh one each time (soak.py reconnects)
        try:
            await self.sio.open(url, {"token": self.user["token"]}, timeout)
            return True
        except Exception as exc:  # noqa: BLE001 - every failure is counted, whatever its kind
            self.sio.disconnect()
            self.run.stats.error("connect", repr(exc))
            return False

    def on_disconnect(self, *reason):
        if not self.run.closing:
            self.run.stats.error("unexpected disconnect", f"client {self.index}: {reason}")

    def on_new_message(self, data):
        now = time.perf_counter()
        row = data.get("message", data) if isinstance(data, dict) else {}
        try:
            mark = orjson.loads(row.get("content") or "")
            sender, seq, sent_at = mark["s"], mark["n"], mark["t"]
        except (ValueError, TypeError, KeyError):
            return  # not one of ours
        self.run.delivered += 1
        self.run.last_delivery = now
        key = row.get("id")
        if key in self.seen_ids:
            self.run.stats.error("duplicate new_message", f"client {self.index} got message {key} twice")
            return
        self.seen_ids.add(key)
        self.received.append((sender, seq, key))
        self.run.receivers_of[(sender, seq)] = self.run.receivers_of.get((sender, seq), 0) + 1
        if sender != self.index:
            self.run.fanout_latency.append(now - sent_at)

    async def send(self, seq: int, ack_timeout: float) -> None:
        run = self.run
        run.attempted += 1
        sent_at = time.perf_counter()
        content = json.dumps({"s": self.index, "n": seq, "t": sent_at})
        try:
            ack = await self.sio.call("send_message", {
                "room_id": self.room_id, "content": content, "type": "text", "encrypted": False,
                "client_msg_id": f"bench-{self.index}-{seq}"}, ack_timeout)
        except TimeoutError:
            run.stats.error("ack timeout")
            return
        except Exception as exc:  # noqa: BLE001
            run.stats.error("send failed", repr(exc))
            return
        done = time.perf_counter()
        if not (isinstance(ack, dict) and ack.get("ok")):
            run.stats.error("ack not ok", json.dumps(ack, ensure_ascii=False)[:200])
            return
        run.ack_latency.append(done - sent_at)
        run.acked += 1
        run.last_ack = done
        run.acked_by_room[self.room_id] = run.acked_by_room.get(self.room_id, 0) + 1

    async def close(self) -> None:
        self.sio.disconnect()


class Run:
    def __init__(self):
        self.stats = Stats()
        self.closing = False
        self.delivered = 0
        self.acked = 0
        self.last_ack = 0.0
        self.last_delivery = 0.0
        self.ack_latency: list[float] = []
        self.fanout_latency: list[float] = []
        self.acked_by_room: dict[int, int] = {}
        self.attempted = 0
        self.receivers_of: dict[tuple[int, int], int] = {}  # (sender, seq) -> sockets that got it


async def connect_all(clients: list[Client], url: str, concurrency: int, timeout: float) -> int:
    limit = asyncio.Semaphore(concurrency)

    async def one(client: Client) -> bool:
        async with limit:
            return await client.connect(url, timeout)

    return sum(await asyncio.gather(*(one(c) for c in clients)))


async def close_all(clients: list[Client], concurrency: int = 200) -> None:
    limit = asyncio.Semaphore(concurrency)

    async def one(client: Client):
        async with limit:
            await client.close()

    await asyncio.gather(*(one(c) for c in clients))


GOLDEN_RATIO = (5 ** 0.5 - 1) / 2


async def send_for(client: Client, seconds: float, rate: float, burst: int, ack_timeout: float) -> None:
    """Send for `seconds`: `rate` times a second a burst of `burst` messages emitted back to back
    (acks awaited concurrently), or with `rate` 0, each message once the previous one is acked.
    Clients start spread over one interval by the golden ratio: evenly for any number of clients
    (no two ticking together) and with the rooms interleaved, so a steady rate reaches the server
    even when the interval is longer than the step."""
    start = time.perf_counter()
    end = start + seconds
    if rate <= 0:
        while time.perf_counter() < end and client.sio.connected:
            client.seq += 1
            await client.send(client.seq, ack_timeout)
        return
    interval = 1 / rate
    due = start + interval * (client.index * GOLDEN_RATIO % 1)
    pending = set()
    while due < end and client.sio.connected:
        await asyncio.sleep(max(0.0, due - time.perf_counter()))
        for _ in range(burst):
            # Tasks start in creation order, so the emits leave in `seq` order.
            client.seq += 1
            task = asyncio.create_task(client.send(client.seq, ack_timeout))
            pending.add(task)
            task.add_done_callback(pending.discard)
        due += interval
    if pending:
        await asyncio.wait(pending, timeout=ack_timeout + 1)


def order_violations(clients: list[Client]) -> tuple[int, int, int, int]:
    """Sender order, seen two ways: (receiver/sender pairs that got one sender's messages out
    of send order, pairs checked, senders whose message ids do not follow send order, senders)."""
    bad = checked = 0
    ids: dict[int, dict[int, int]] = {}  # sender -> seq -> stored message id
    for client in clients:
        by_sender: dict[int, list[int]] = {}
        for sender, seq, message_id in client.received:
            by_sender.setdefault(sender, []).append(seq)
            ids.setdefault(sender, {})[seq] = message_id
        for seqs in by_sender.values():
            checked += 1
            if any(a > b for a, b in zip(seqs, seqs[1:])):
                bad += 1
    stored_bad = 0
    for by_seq in ids.values():
        in_seq_order = [by_seq[seq] for seq in sorted(by_seq)]
        if any(a > b for a, b in zip(in_seq_order, in_seq_order[1:])):
            stored_bad += 1
    return bad, checked, stored_bad, len(ids)


# --- the two modes ------------------------------------------------------------------------

async def prepare(args, stats: Stats, user_count: int) -> list[dict]:
    start = time.perf_counter()
    users = await create_users(args.url, user_count, args.setup_concurrency, stats)
    took = time.perf_counter() - start
    print(f"created {len(users)}/{user_count} users (register + sign-in) in {took:.1f} s", flush=True)
    if not users:
        raise SystemExit("no user could be created: " + "; ".join(stats.notes))
    return users


async def idle_mode(args, watch: ServerWatch, figures: dict) -> None:
    run = Run()
    users = await prepare(args, run.stats, min(args.users or 500, args.idle))
    clients = [Client(i, users[i % len(users)], run) for i in range(args.idle)]
    before = watch.rss()
    load0 = os.getloadavg()[0]
    start = time.perf_counter()
    connected = await connect_all(clients, args.url, args.connect_concurrency, args.connect_timeout)
    connect_time = time.perf_counter() - start
    print(f"connected {connected}/{args.idle} sockets in {connect_time:.1f} s", flush=True)
    await asyncio.sleep(args.settle)
    after = watch.rss()
    fds = watch.process.num_fds() if watch.process else None
    live = sum(c.sio.connected for c in clients)  # the sockets that RSS and those descriptors hold
    login_time, login_status = await timed_login(args.url, users[0])
    await asyncio.sleep(args.seconds)
    still = sum(c.sio.connected for c in clients)
    if args.sigterm and watch.process:
        # The stop an operator (or systemd) gives a server full of sockets: how long until it is gone.
        args.terminated = run.closing = True
        start = time.perf_counter()
        watch.process.send_signal(signal.SIGTERM)
        await asyncio.to_thread(watch.process.wait, 120)
        figures["SIGTERM to exit"] = f"{time.perf_counter() - start:.2f} s"
    figures.update({
        "sockets asked": args.idle, "distinct users": len(users), "sockets connected": connected,
        "still connected after hold": still, "connect time": f"{connect_time:.1f} s",
        "sign-in while connected": f"{login_time * 1000:.0f} ms (HTTP {login_status})",
        "server RSS before sockets": mib(before), "server RSS with sockets": mib(after),
        "sockets connected when measured": live,
        "RSS per idle connection": kib((after - before) / live) if before and after and live else "-",
        "server descriptors with sockets (limit)": f"{fds} ({args.fd_limit or 'inherited'})" if fds else "-",
        "server RSS peak": mib(watch.peak_rss or None), "server threads peak": watch.peak_threads or "-",
        "errors": run.stats.errors or "none",
        "load average (1 min) start/end": f"{load0:.1f} / {os.getloadavg()[0]:.1f}",
    })
    run.closing = True
    await close_all(clients)
    figures["_notes"] = run.stats.notes


async def load_mode(args, watch: ServerWatch, figures: dict) -> None:
    run = Run()
    users = await prepare(args, run.stats, args.clients)
    rooms = await create_rooms(args.url, users, args.room_size, args.setup_concurrency, run.stats)
    if not rooms:
        raise SystemExit("no room could be created (is POST /api/rooms there?): " + "; ".join(run.stats.notes))
    clients = []
    for room_id, group in rooms:
        for user in group:
            client = Client(len(clients), user, run)
            client.room_id = room_id
            clients.append(client)
    print(f"created {len(rooms)} rooms of about {args.room_size}", flush=True)

    before = watch.rss()
    start = time.perf_counter()
    connected = await connect_all(clients, args.url, args.connect_concurrency, args.connect_timeout)
    print(f"connected {connected}/{len(clients)} sockets in {time.perf_counter() - start:.1f} s", flush=True)
    await asyncio.sleep(args.settle)
    after = watch.rss()
    live = [c for c in clients if c.sio.connected]

    cpu_server0, cpu_client0, (cpu_machine0, load0) = watch.cpu_seconds(), time.process_time(), machine_busy()
    start = time.perf_counter()
    print(f"sending for {args.seconds:.0f} s at "
          f"{'closed loop' if args.rate <= 0 else f'{args.rate:g} x {args.burst} msg/s per client'} ...", flush=True)
    storm = asyncio.create_task(login_storm(args.url, users, args.login_storm, min(10.0, args.seconds)))
    await asyncio.gather(*(send_for(c, args.seconds, args.rate, args.burst, args.ack_timeout) for c in live))
    send_end = time.perf_counter()
    storm_times, storm_failed = await storm

    # Wait for the fan-out of every acknowledged message (bounded).
    members_live: dict[int, int] = {}
    for c in live:
        members_live[c.room_id] = members_live.get(c.room_id, 0) + 1
    expected = sum(n * members_live[room] for room, n in run.acked_by_room.items())
    drain_end = time.perf_counter() + args.drain
    while run.delivered < expected and time.perf_counter() < drain_end:
        await asyncio.sleep(0.05)
    cpu_server1, cpu_client1, (cpu_machine1, load1) = watch.cpu_seconds(), time.process_time(), machine_busy()
    wall = time.perf_counter() - start

    send_span = max(run.last_ack, start + 1e-9) - start
    delivery_span = max(run.last_delivery, start + 1e-9) - start
    bad_order, pairs, stored_bad, senders = order_violations(live)
    room_of = {c.index: c.room_id for c in live}
    complete = sum(1 for (sender, _), n in run.receivers_of.items() if n >= members_live[room_of[sender]])
    echoed = sum(1 for c in live for sender, _, _ in c.received if sender == c.index)
    figures.update({
        "mode": (f"{args.rate:g} x {args.burst} msg/s per client" if args.rate > 0
                 else "closed loop (1 in flight per client)"),
        "clients connected": f"{connected}/{len(clients)} in {len(rooms)} rooms",
        "sends attempted / acked": f"{run.attempted} / {run.acked}",
        "sends acked/s": f"{run.acked / send_span:.0f}",
        "new_message delivered": f"{run.delivered} ({expected} for the acked sends)",
        "messages that reached every member": f"{complete} of {len(run.receivers_of)} seen",
        "new_message delivered/s": f"{run.delivered / delivery_span:.0f}",
        "ack latency p50/p95/p99": " / ".join(ms(percentile(run.ack_latency, p)) for p in (50, 95, 99)),
        "fan-out latency p50/p99": " / ".join(ms(percentile(run.fanout_latency, p)) for p in (50, 99)),
        "fan-out latency max": ms(max(run.fanout_latency, default=None)),
        "sender's own echo received": f"{echoed}",
        "sender order kept (received)": f"{pairs - bad_order}/{pairs} receiver-sender pairs",
        "sender order kept (stored ids)": f"{senders - stored_bad}/{senders} senders",
        "errors": run.stats.errors or "none",
        **({"login storm: sign-ins, failed": f"{len(storm_times)}, {storm_failed}",
            "login storm: sign-in p50/p99": " / ".join(ms(percentile(storm_times, p)) for p in (50, 99)),
            "server RSS after the storm": mib(watch.rss())} if args.login_storm else {}),
        "server RSS before sockets": mib(before), "server RSS idle sockets": mib(after),
        "RSS per idle connection": kib((after - before) / connected) if before and after and connected else "-",
        "server RSS peak": mib(watch.peak_rss or None), "server threads peak": watch.peak_threads or "-",
        "server CPU (of one core)": (f"{(cpu_server1 - cpu_server0) / wall * 100:.0f} %"
                                     if cpu_server0 is not None and cpu_server1 is not None else "-"),
        "bench client CPU (of one core)": f"{(cpu_client1 - cpu_client0) / wall * 100:.0f} %",
        "bench client CPU per delivery": (f"{(cpu_client1 - cpu_client0) * 1e6 / run.delivered:.1f} µs"
                                          if run.delivered else "-"),
        # Anything well above server + client means other work shared the machine: rerun.
        "machine CPU, all processes": f"{(cpu_machine1 - cpu_machine0) / wall * 100:.0f} % of {os.cpu_count()} cores",
        "load average (1 min) start/end": f"{load0:.1f} / {load1:.1f}",
        "send phase": f"{send_end - start:.1f} s",
    })
    run.closing = True
    await close_all(live)
    figures["_notes"] = run.stats.notes


# --- compare: ours and the bare relay, stepping the offered rate ----------------------------

RELAY = Path(__file__).with_name("relay.py")
CLEAN_P99 = 0.100  # seconds


async def one_step(clients: list[Client], offered: float, args, watch: ServerWatch) -> dict:
    """Every live client sends at offered/len(clients) msg/s for `--step-seconds`; the step's figures."""
    run = Run()
    live = [c for c in clients if c.sio.connected]
    for c in live:
        c.run, c.received, c.seen_ids = run, [], set()
    cpu0, client0, start = watch.cpu_seconds(), time.process_time(), time.perf_counter()
    await asyncio.gather(*(send_for(c, args.step_seconds, offered / len(live), 1, args.ack_timeout) for c in live))
    members: dict[int, int] = {}
    for c in live:
        members[c.room_id] = members.get(c.room_id, 0) + 1
    expected = sum(n * members[room] for room, n in run.acked_by_room.items())
    drain_end = time.perf_counter() + args.drain
    while run.delivered < expected and time.perf_counter() < drain_end:
        await asyncio.sleep(0.05)
    cpu, client_cpu = watch.cpu_seconds() - cpu0, time.process_time() - client0
    bad_order, _, stored_bad, _ = order_violations(live)
    achieved = run.acked / max(run.last_ack - start, args.step_seconds)
    # What the clients really offered: whole ticks per client, so low rates round.
    offered_really = run.attempted / args.step_seconds
    p99 = percentile(run.ack_latency, 99)
    lost = max(0, expected - run.delivered) + run.stats.errors.get("ack timeout", 0)
    duplicated = run.stats.errors.get("duplicate new_message", 0)
    clean = (not run.stats.errors and lost == 0 and bad_order + stored_bad == 0 and p99 is not None
             and p99 < CLEAN_P99 and achieved >= 0.95 * offered_really)
    await asyncio.sleep(1)  # let the server go idle before the next step
    return {"offered": offered, "achieved": achieved, "delivered/s": run.delivered / args.step_seconds,
            "p50": percentile(run.ack_latency, 50), "p99": p99, "lost": lost, "duplicated": duplicated,
            "reordered": bad_order + stored_bad, "errors": sum(run.stats.errors.values()),
            "cpu ms/msg": cpu * 1000 / run.acked if run.acked else None,
            "cpu %": cpu / (time.perf_counter() - start) * 100,
            # Near 100: the load generator, not the server, set the limit of this step.
            "client cpu %": client_cpu / (time.perf_counter() - start) * 100,
            "client us/delivery": client_cpu * 1e6 / run.delivered if run.delivered else None,
            "load": os.getloadavg()[0], "clean": clean, "notes": run.stats.notes}


async def setup_target(args, url: str) -> list[Client]:
    """Users, rooms and connected sockets on one server, for the steps to come."""
    run = Run()
    args.url = url
    users = await prepare(args, run.stats, args.clients)
    rooms = await create_rooms(url, users, args.room_size, args.setup_concurrency, run.stats)
    clients = [Client(0, u, run) for _, group in rooms for u in group]
    for index, (client, room_id) in enumerate(zip(clients, [r for r, g in rooms for _ in g])):
        client.index, client.room_id = index, room_id
    connected = await connect_all(clients, url, args.connect_concurrency, args.connect_timeout)
    print(f"connected {connected}/{len(clients)} sockets in {len(rooms)} rooms", flush=True)
    return clients


async def stepped(args, targets: list[dict]) -> None:
    """Every step on each server in turn (other work on the machine hits them alike); a server
    leaves the race after two unclean steps in a row (past its knee, not a hiccup)."""
    for target in targets:
        target["clients"] = await setup_target(args, target["url"])
    await asyncio.sleep(args.settle)
    for offered in args.rates:
        for target in targets:
            if target["unclean"] >= 2 and not args.every_step:
                continue
            step = await one_step(target["clients"], offered, args, target["watch"])
            target["steps"].append(step)
            print(f"{target['name']:>12}: {step_line(step)}", flush=True)
            target["unclean"] = 0 if step["clean"] else target["unclean"] + 1
    for target in targets:
        closing = Run()
        closing.closing = True
        for c in target["clients"]:
            c.run = closing
        await close_all(target["clients"])


def run_stepped(args, targets: list[dict]) -> None:
    try:
        asyncio.run(asyncio.wait_for(stepped(args, targets), args.timeout))
    except (asyncio.TimeoutError, TimeoutError):
        print(f"cut after --timeout {args.timeout:g} s", flush=True)


def step_line(step: dict) -> str:
    cpu = "-" if step["cpu ms/msg"] is None else f"{step['cpu ms/msg']:.2f}"
    us = "-" if step["client us/delivery"] is None else f"{step['client us/delivery']:.1f}"
    return (f"{step['offered']:>8g} {step['achieved']:>9.0f} {step['delivered/s']:>11.0f} "
            f"{ms(step['p50']):>10} {ms(step['p99']):>10} {step['lost']:>5} {step['duplicated']:>5} "
            f"{step['reordered']:>5} {step['errors']:>6} {cpu:>10} {step['cpu %']:>6.0f} {step['client cpu %']:>6.0f} "
            f"{us:>7} {step['load']:>5.1f} {'clean' if step['clean'] else 'NOT clean'}")


STEP_HEADER = (f"{'offered':>8} {'achieved':>9} {'delivered/s':>11} {'ack p50':>10} {'ack p99':>10} "
               f"{'lost':>5} {'dup':>5} {'reord':>5} {'errors':>6} {'cpu ms/msg':>10} {'cpu %':>6} {'client':>6} "
               f"{'µs/dlv':>7} {'load':>5}")


def highest_clean(steps: list[dict]) -> float:
    return max((s["offered"] for s in steps if s["clean"]), default=0)


def baseline_command(checkout: Path) -> list[str]:
    """`python -m messenger` of another checkout (e.g. `git archive REV | tar -x -C DIR`)."""
    return [sys.executable, "-c", f"import sys; sys.path.insert(0, {str(checkout.resolve())!r}); "
                                  "from messenger.cli import main; sys.exit(main())"]


def compare_mode(args) -> int:
    """Our server, the bare relay (and a baseline checkout), the same load; tables and ratios."""
    commands = {"ours": None, "bare relay": [sys.executable, str(RELAY)]}
    if args.baseline:
        commands = {"before": baseline_command(args.baseline), **commands}
    cores = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
    targets, scratch = [], tempfile.TemporaryDirectory(prefix="messenger-bench-")
    try:
        if len(cores) >= 2:  # the servers (and every thread they start) on the first core, the load on the others
            os.sched_setaffinity(0, cores[:1])
        for name, command in commands.items():
            if name not in args.servers and not (name == "before" and args.baseline):
                continue
            server = ServerProcess(Path(scratch.name) / name.replace(" ", "-"), command=command,
                                   e2e_policy="optional" if command is None or name == "before" else None,
                                   env={"MESSENGER_ASYNC_MODE": "gevent"}).start(timeout=60)
            targets.append({"name": name, "server": server, "url": server.url, "steps": [], "unclean": 0,
                            "watch": ServerWatch(server.proc.pid).start()})
            print(f"{name}: pid {server.proc.pid} at {server.url}", flush=True)
        if len(cores) >= 2:
            os.sched_setaffinity(0, cores[1:])
            print(f"servers pinned to core {cores[0]}, load generator on {cores[1:]}", flush=True)
        run_stepped(args, targets)
    finally:
        for target in targets:
            target["watch"].stop()
            if target["server"].proc.poll() is not None:
                print(f"THE SERVER ({target['name']}) DIED; its last output:\n"
                      + "".join(target["server"].output[-40:]))
            target["server"].stop()
        if cores:
            os.sched_setaffinity(0, cores)
        scratch.cleanup()
    best = print_steps(args, targets)
    if best.get("bare relay"):
        for name in ("before", "ours"):
            if name in best:
                print(f"{name} / bare relay, highest clean rate: {best[name] / best['bare relay']:.2f}")
    if args.json:
        args.json.write_text(json.dumps({t["name"]: t["steps"] for t in targets}, indent=1, default=str))
    return 0


def print_steps(args, targets: list[dict]) -> dict[str, float]:
    """Each target's steps as a table; returns each one's highest clean rate."""
    print(f"\n{args.clients} clients, rooms of {args.room_size}, {args.step_seconds:g} s steps "
          f"(clean: 0 lost/dup/reordered/errors, ack p99 < {CLEAN_P99 * 1000:.0f} ms, >= 95 % of offered)")
    best = {}
    for target in targets:
        best[target["name"]] = highest_clean(target["steps"])
        print(f"\n{target['name']}: highest clean rate {best[target['name']]:g} msg/s\n{STEP_HEADER}")
        for step in target["steps"]:
            print(step_line(step))
            for note in step["notes"][:3]:
                print(f"    note: {note}")
    return best


# --- scale-out: one and two server processes behind the nginx front --------------------------

class ProcessesWatch:
    """The CPU of several server processes together (`one_step` reads `cpu_seconds`)."""

    def __init__(self, pids: list[int]):
        self.watches = [ServerWatch(pid) for pid in pids]

    def cpu_seconds(self) -> float | None:
        times = [watch.cpu_seconds() for watch in self.watches]
        return None if None in times else sum(times)


def scale_out_mode(args) -> int:
    """One office of 1 and one of 2 server processes, each on its own PostgreSQL database and
    Redis, behind the nginx front of deploy/nginx.conf; the same stepped load through each front."""
    from services import Front, Postgres, Redis

    postgres = Postgres().start()
    scratch = tempfile.TemporaryDirectory(prefix="messenger-bench-")
    offices, targets = [], []
    try:
        for count in (1, 2):
            redis = Redis().start()  # one each: Redis's pub/sub channels ignore the db number
            env = {"MESSENGER_DATABASE_URL": postgres.database(f"bench{count}"), "MESSENGER_MESSAGE_QUEUE": redis.url,
                   "MESSENGER_TRUSTED_PROXIES": "1", "MESSENGER_ASYNC_MODE": "gevent"}
            data_dir = Path(scratch.name) / f"office{count}"
            servers = [ServerProcess(data_dir, env=env, e2e_policy="optional" if i == 0 else None).start(timeout=60)
                       for i in range(count)]  # one after the other: the first makes the schema
            front = Front([server.url for server in servers])
            offices.append((redis, servers, front))
            name = f"{count} process{'es' if count > 1 else ''}"
            targets.append({"name": name, "url": front.url, "steps": [], "unclean": 0,
                            "watch": ProcessesWatch([server.proc.pid for server in servers])})
            print(f"{name}: pids {[server.proc.pid for server in servers]} behind {front.url}", flush=True)
        run_stepped(args, targets)
    finally:
        for redis, servers, front in offices:
            front.stop()
            for server in servers:
                if server.proc.poll() is not None:
                    print("A SERVER DIED; its last output:\n" + "".join(server.output[-40:]))
                server.stop()
            redis.stop()
        postgres.stop()
        scratch.cleanup()
    print_steps(args, targets)
    if args.json:
        args.json.write_text(json.dumps({t["name"]: t["steps"] for t in targets}, indent=1, default=str))
    return 0


def print_table(title: str, figures: dict) -> None:
    notes = figures.pop("_notes", [])
    width = max(len(k) for k in figures)
    print(f"\n{title}")
    print("-" * (width + 40))
    for key, value in figures.items():
        print(f"{key:<{width}}  {value}")
    for note in notes:
        print(f"  note: {note}")


def stop_server(server: ServerProcess, terminated: bool = False) -> bool:
    """Stops the server; True (after printing its last output) if it had died during the run
    (`terminated`: the run itself sent it SIGTERM, so its end is no death)."""
    died = server.proc.poll() is not None and not terminated
    server.stop()
    if died:
        print("THE SERVER DIED during the run; its last output:\n" + "".join(server.output[-40:]))
    return died


def machine_busy() -> tuple[float, float]:
    """(busy CPU seconds of the whole machine so far, 1-minute load average)."""
    times = psutil.cpu_times()
    return times.user + times.nice + times.system + times.irq + times.softirq + getattr(times, "steal", 0), \
        os.getloadavg()[0]


def raise_open_file_limit() -> int:
    """Sockets are files: lift the soft limit to the hard one (the server inherits it)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--clients", type=int, default=200, help="sockets that send and receive (one user each)")
    p.add_argument("--room-size", type=int, default=20, help="members per group room")
    p.add_argument("--seconds", type=float, default=20, help="sending time (idle mode: how long to hold)")
    p.add_argument("--rate", type=float, default=1.0,
                   help="messages per second per client; 0 = closed loop (next send after the ack)")
    p.add_argument("--burst", type=int, default=1,
                   help="with --rate: messages emitted back to back at each tick (tests sender order)")
    p.add_argument("--idle", type=int, metavar="N", help="only connect N idle sockets and report memory")
    p.add_argument("--fd-limit", type=int, metavar="N",
                   help="the started server's open-file limit (the issue's 10,000 sockets: 20000)")
    p.add_argument("--sigterm", action="store_true",
                   help="idle mode: end by a SIGTERM to the server among its sockets, and time its exit")
    p.add_argument("--users", type=int, help="idle mode: distinct users the sockets share (default min(N, 500))")
    where = p.add_mutually_exclusive_group()
    where.add_argument("--url", help="a running server (loopback only)")
    where.add_argument("--start-server", action="store_true", help="start a server of its own (the default)")
    p.add_argument("--server-pid", type=int, help="with --url: the server's pid, for RSS figures")
    p.add_argument("--async-mode", choices=("gevent", "threading"), default="gevent")
    p.add_argument("--ack-timeout", type=float, default=10)
    p.add_argument("--connect-timeout", type=float, default=30)
    p.add_argument("--connect-concurrency", type=int, default=50)
    p.add_argument("--setup-concurrency", type=int, default=8)
    p.add_argument("--settle", type=float, default=2, help="seconds between connecting and measuring RSS")
    p.add_argument("--drain", type=float, default=10, help="max seconds to wait for the last fan-out")
    p.add_argument("--timeout", type=float, default=240, help="the whole run is cut after this many seconds")
    p.add_argument("--json", type=Path, help="also write the figures to this file")
    p.add_argument("--login-storm", type=int, default=0, metavar="N",
                   help="load mode: N sign-ins spread over the first 10 s of sending (ack p99 meanwhile, RSS after)")
    p.add_argument("--compare", action="store_true",
                   help="our server and the bare relay (relay.py), stepping the offered rate (--rates)")
    p.add_argument("--scale-out", action="store_true",
                   help="1 and 2 server processes on PostgreSQL and Redis behind the nginx front of deploy/, "
                        "stepping the offered rate (--rates)")
    p.add_argument("--rates", type=lambda v: [float(x) for x in v.split(",")],
                   default=[50, 100, 200, 300, 400, 600, 800, 1000],
                   help="with --compare or --scale-out: offered msg/s over all clients, one step each")
    p.add_argument("--step-seconds", type=float, default=8)
    p.add_argument("--every-step", action="store_true",
                   help="with --compare: run every rate, even past two unclean steps (CPU per message "
                        "on a machine others share, where p99 says more about them than about us)")
    p.add_argument("--servers", type=lambda v: v.split(","), default=["ours", "bare relay"],
                   help="with --compare: which of 'ours,bare relay' to run")
    p.add_argument("--baseline", type=Path, metavar="DIR",
                   help="with --compare: also run the server of this checkout as 'before' "
                        "(e.g. `git archive REV | tar -x -C DIR`)")
    p.add_argument("--quick", action="store_true",
                   help="with --compare: a smoke test (40 clients, rooms of 10, 3 s steps at 20 and 40 msg/s)")
    args = p.parse_args(argv)
    args.terminated = False
    if args.quick:
        args.compare, args.clients, args.room_size, args.step_seconds, args.rates = True, 40, 10, 3, [20, 40]
        args.drain = 5
    if args.idle is None and args.users:
        p.error("--users is for --idle")
    if args.url and not LOOPBACK.match(args.url):
        p.error("--url must be a loopback address (127.0.0.0/8, localhost or [::1])")
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.idle is None and args.seconds > 120:
        print("note: runs are meant to stay short (<= 2 minutes)", file=sys.stderr)
    limit = raise_open_file_limit()
    if args.compare:
        return compare_mode(args)
    if args.scale_out:
        return scale_out_mode(args)
    wanted = (args.idle or args.clients) * 2 + 100  # both ends of each socket may be in this process tree
    if limit < wanted:
        print(f"warning: open-file limit {limit} < {wanted}; run `ulimit -n 65536` first", file=sys.stderr)

    server = None
    scratch = tempfile.TemporaryDirectory(prefix="messenger-bench-")
    if args.url is None:
        # The load is plaintext: sealing is the clients' work, not the server's.
        server = ServerProcess(Path(scratch.name), env={"MESSENGER_ASYNC_MODE": args.async_mode},
                               e2e_policy="optional").start(timeout=60)
        args.url = server.url
        pid = server.proc.pid
        if args.fd_limit:
            psutil.Process(pid).rlimit(psutil.RLIMIT_NOFILE, (args.fd_limit, args.fd_limit))
        print(f"server ({args.async_mode}) pid {pid} at {server.url}", flush=True)
    else:
        pid = args.server_pid
    watch = ServerWatch(pid).start()
    figures: dict = {}
    title = (f"idle sockets: {args.idle} ({args.async_mode})" if args.idle is not None else
             f"load: {args.clients} clients, rooms of {args.room_size}, {args.seconds:g} s ({args.async_mode})")
    code = 0
    try:
        work = idle_mode(args, watch, figures) if args.idle is not None else load_mode(args, watch, figures)
        asyncio.run(asyncio.wait_for(work, args.timeout))
    except (asyncio.TimeoutError, TimeoutError):
        figures["_notes"] = figures.get("_notes", []) + [f"run cut after --timeout {args.timeout:g} s"]
        code = 1
    finally:
        watch.stop()
        if server is not None and stop_server(server, args.terminated):
            code = 1
        scratch.cleanup()
    if figures:
        if args.json:
            args.json.write_text(json.dumps({k: v for k, v in figures.items()}, ensure_ascii=False, indent=1,
                                            default=str))
        print_table(title, figures)
    return code


if __name__ == "__main__":
    sys.exit(main())
