"""The soak: an office's mixed traffic for a long while, and whether the server stays flat.

    ulimit -n 20000
    .venv/bin/python benchmarks/soak.py [--minutes 15] [--clients 200] [--room-size 20] [--rate 20]
        [--warm-up 2] [--json out.json]

Starts `python -m messenger --serve` on loopback with a temporary data dir, signs `--clients`
users in, puts them in group rooms, connects one socket each, and then, for `--minutes`:
every client sends texts (`--rate` msg/s over all clients, each preceded by `typing` and
followed by its stop), marks what it receives as read (every third message), and, over all
clients, one upload and file message every 5 s, one sign-in and sign-out every 10 s, and a
reconnect of 5 % of the sockets every minute. Every minute it prints the server's RSS, open
descriptors and threads, that minute's ack p99 and counts, and every error. At the end: RSS
growth after the warm-up (goal: under 50 MB), descriptors first/last (goal: flat), errors
(goal: none). Greenlets are not visible from outside the server; threads and descriptors are.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import sys
import tempfile
import time
from pathlib import Path

import httpx
import psutil
import socketio

sys.path.insert(0, str(Path(__file__).resolve().parent))
from load import PASSWORD, Stats, create_rooms, create_users, mib, ms, percentile, raise_open_file_limit  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from harness import ServerProcess  # noqa: E402

BLOB = bytes(range(256)) * 16  # an opaque (sealed) 4 KiB file


class Minute:
    """What happened in one minute of the soak."""

    def __init__(self):
        self.acks: list[float] = []
        self.counts = {"sent": 0, "reads": 0, "typing": 0, "uploads": 0, "logins": 0, "reconnects": 0}
        self.errors = Stats()


class Office:
    def __init__(self, url: str, users: list[dict], rooms: list[tuple[int, list[dict]]]):
        self.url = url
        self.room_of = {user["id"]: room_id for room_id, group in rooms for user in group}
        self.users = [u for u in users if u["id"] in self.room_of]
        self.minute = Minute()
        self.socks: dict[int, socketio.AsyncClient] = {}
        self.closing: set[int] = set()  # sockets this soak closes on purpose
        self.read_turn = 0

    def sock(self, user: dict) -> socketio.AsyncClient:
        sio = socketio.AsyncClient(reconnection=False)

        async def on_new_message(data):
            self.read_turn += 1
            if self.read_turn % 3 == 0 and sio.connected:
                await self.call(sio, "message_read", {"room_id": data["room_id"], "message_id": data["id"]},
                                "reads")

        def on_disconnect(*reason):
            if user["id"] not in self.closing:
                self.minute.errors.error("unexpected disconnect", f"user {user['id']}: {reason}")

        sio.on("new_message", on_new_message)
        sio.on("disconnect", on_disconnect)
        return sio

    async def connect(self, user: dict) -> None:
        sio = self.sock(user)
        try:
            await sio.connect(self.url, auth={"token": user["token"]}, transports=["websocket"], wait_timeout=30)
        except Exception as exc:  # noqa: BLE001 - counted, whatever its kind
            self.minute.errors.error("connect", repr(exc))
            return
        self.socks[user["id"]] = sio

    async def call(self, sio, event: str, data: dict, count: str) -> dict | None:
        start = time.perf_counter()
        try:
            ack = await sio.call(event, data, timeout=10)
        except Exception as exc:  # noqa: BLE001
            if sio.connected or sio in self.socks.values():  # not a socket the churn closed meanwhile
                self.minute.errors.error(f"{event} failed", repr(exc))
            return None
        if not (isinstance(ack, dict) and ack.get("ok")):
            self.minute.errors.error(f"{event} refused", json.dumps(ack, ensure_ascii=False)[:200])
            return None
        if event == "send_message":
            self.minute.acks.append(time.perf_counter() - start)
        self.minute.counts[count] += 1
        return ack

    async def chat(self, user: dict, end: float, interval: float) -> None:
        """One person: typing, a message, the typing stop, every `interval` seconds on average."""
        room_id, n = self.room_of[user["id"]], 0
        await asyncio.sleep(random.uniform(0, interval))
        while time.monotonic() < end:
            sio = self.socks.get(user["id"])
            if sio is not None and sio.connected:
                n += 1
                await self.call(sio, "typing", {"room_id": room_id, "is_typing": True}, "typing")
                await self.call(sio, "send_message", {"room_id": room_id, "type": "text", "encrypted": False,
                                                      "content": f"soak {user['id']}-{n}",
                                                      "client_msg_id": f"soak-{user['id']}-{n}"}, "sent")
                await self.call(sio, "typing", {"room_id": room_id, "is_typing": False}, "typing")
            await asyncio.sleep(random.expovariate(1 / interval))

    async def every(self, seconds: float, end: float, work) -> None:
        while time.monotonic() + seconds < end:
            await asyncio.sleep(seconds)
            try:
                await work()
            except Exception as exc:  # noqa: BLE001
                self.minute.errors.error(work.__name__, repr(exc))

    async def upload(self) -> None:
        user = random.choice(self.users)
        room_id = self.room_of[user["id"]]
        async with httpx.AsyncClient(base_url=self.url, timeout=30,
                                     headers={"Authorization": f"Bearer {user['token']}"}) as http:
            reply = await http.post("/api/upload", data={"room_id": str(room_id), "encrypted": "1", "type": "file"},
                                    files={"file": ("soak.bin", BLOB, "application/octet-stream")})
        if reply.status_code != 200:
            self.minute.errors.error("upload", f"{reply.status_code} {reply.text[:200]}")
            return
        sio = self.socks.get(user["id"])
        if sio is not None and sio.connected:
            await self.call(sio, "send_message", {"room_id": room_id, "type": "file", "encrypted": True,
                                                  "content": "sealed file", "upload_token": reply.json()["upload_token"]},
                            "uploads")

    async def sign_in_and_out(self) -> None:
        user = random.choice(self.users)
        async with httpx.AsyncClient(base_url=self.url, timeout=30) as http:
            reply = await http.post("/api/device-sessions", json={
                "username": user["username"], "password": PASSWORD, "device_name": "soak", "remember": False})
            if reply.status_code != 201:
                self.minute.errors.error("sign-in", f"{reply.status_code} {reply.text[:200]}")
                return
            out = await http.delete("/api/device-sessions/current",
                                    headers={"Authorization": f"Bearer {reply.json()['device_token']}"})
            if out.status_code != 200:
                self.minute.errors.error("sign-out", f"{out.status_code} {out.text[:200]}")
                return
        self.minute.counts["logins"] += 1

    async def churn(self) -> None:
        for user in random.sample(self.users, max(1, len(self.users) // 20)):
            self.closing.add(user["id"])
            sio = self.socks.pop(user["id"], None)
            if sio is not None:
                await sio.disconnect()
            self.closing.discard(user["id"])
            await self.connect(user)
            self.minute.counts["reconnects"] += 1


def server_figures(process: psutil.Process) -> dict:
    return {"rss": process.memory_info().rss, "fds": process.num_fds(), "threads": process.num_threads()}


async def soak(args, server: ServerProcess) -> list[dict]:
    stats = Stats()
    users = await create_users(server.url, args.clients, 8, stats)
    rooms = await create_rooms(server.url, users, args.room_size, 8, stats)
    if stats.errors:
        raise SystemExit(f"setup failed: {stats.notes}")
    office = Office(server.url, users, rooms)
    for start in range(0, len(office.users), 50):
        await asyncio.gather(*(office.connect(u) for u in office.users[start:start + 50]))
    print(f"{len(office.socks)} sockets in {len(rooms)} rooms of {args.room_size}", flush=True)
    process = psutil.Process(server.proc.pid)
    end = time.monotonic() + args.minutes * 60
    interval = len(office.users) / args.rate
    tasks = [asyncio.create_task(office.chat(u, end, interval)) for u in office.users]
    tasks += [asyncio.create_task(office.every(5, end, office.upload)),
              asyncio.create_task(office.every(10, end, office.sign_in_and_out)),
              asyncio.create_task(office.every(60, end, office.churn))]
    rows = []
    print(f"{'min':>4} {'RSS':>11} {'fds':>5} {'threads':>7} {'ack p50':>9} {'ack p99':>9} {'sent':>6} "
          f"{'reads':>6} {'typing':>6} {'files':>5} {'logins':>6} {'reconn':>6} errors", flush=True)
    for minute in range(1, int(args.minutes) + 1):
        await asyncio.sleep(max(0.0, min(end, time.monotonic() + 60) - time.monotonic()))
        done, office.minute = office.minute, Minute()
        row = {"minute": minute, **server_figures(process), "ack p50": percentile(done.acks, 50),
               "ack p99": percentile(done.acks, 99), **done.counts, "errors": done.errors.errors,
               "notes": done.errors.notes}
        rows.append(row)
        c = done.counts
        print(f"{minute:>4} {mib(row['rss']):>11} {row['fds']:>5} {row['threads']:>7} {ms(row['ack p50']):>9} "
              f"{ms(row['ack p99']):>9} {c['sent']:>6} {c['reads']:>6} {c['typing']:>6} {c['uploads']:>5} "
              f"{c['logins']:>6} {c['reconnects']:>6} {row['errors'] or 'none'}", flush=True)
        for note in row["notes"]:
            print(f"     {note}", flush=True)
    await asyncio.gather(*tasks, return_exceptions=True)
    office.closing.update(office.socks)
    await asyncio.gather(*(s.disconnect() for s in office.socks.values()), return_exceptions=True)
    return rows


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--minutes", type=float, default=15)
    p.add_argument("--clients", type=int, default=200)
    p.add_argument("--room-size", type=int, default=20)
    p.add_argument("--rate", type=float, default=20, help="text messages a second over all clients")
    p.add_argument("--warm-up", type=int, default=2, help="minutes left out of the RSS growth")
    p.add_argument("--json", type=Path)
    args = p.parse_args(argv)
    raise_open_file_limit()
    with tempfile.TemporaryDirectory(prefix="messenger-soak-") as scratch:
        server = ServerProcess(Path(scratch), e2e_policy="optional").start(timeout=60)
        print(f"server pid {server.proc.pid} at {server.url}", flush=True)
        try:
            rows = asyncio.run(soak(args, server))
        finally:
            died = server.proc.poll() is not None
            server.stop()
        if died:
            print("THE SERVER DIED during the soak; its last output:\n" + "".join(server.output[-40:]))
            return 1
    after = rows[min(args.warm_up, len(rows) - 1)]
    growth = rows[-1]["rss"] - after["rss"]
    errors = sum(sum(r["errors"].values()) for r in rows)
    worst = max((r["ack p99"] or 0 for r in rows), default=0)
    print(f"\nRSS growth after minute {after['minute']}: {growth / 2**20:+.1f} MiB (goal < 50); "
          f"descriptors {rows[0]['fds']} -> {rows[-1]['fds']}; threads {rows[0]['threads']} -> "
          f"{rows[-1]['threads']}; worst minute's ack p99 {worst * 1000:.0f} ms; errors {errors}")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1, default=str))
    return 0 if errors == 0 and growth < 50 * 2**20 else 1


if __name__ == "__main__":
    sys.exit(main())
