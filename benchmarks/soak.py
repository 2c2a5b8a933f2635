"""Soak benchmark: office traffic for a long while against one `--serve` process on SQLite.

    python benchmarks/soak.py [--minutes 15] [--clients 200] [--room-size 20] [--warmup-minutes 2]

Every `--report-seconds` (60) it prints a row: the server's RSS, open file descriptors, OS
threads and greenlets (from the server's SIGUSR1 line), the ack p99 of that interval and what the
clients did in it. At the end: RSS growth after the warm-up (goal < 50 MB), whether the
descriptors stayed flat, and the errors (goal: none). Exit status 1 if a goal is missed, the
server died or the run was cut. Loopback only; see README.md here.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import re
import signal
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import httpx

from load import (PASSWORD, Client, Run, ServerWatch, Stats, close_all, connect_all, create_rooms,
                  create_users, mib, ms, percentile, print_table, raise_open_file_limit,
                  stop_server)

from harness import ServerProcess  # noqa: E402  (load put tests/ on the path)

RSS_GOAL = 50 * 2**20
FD_BAND = 10
GREENLETS = re.compile(r"diagnostics: greenlets (\d+) \((\d+) ms\)")
SERVER_LOG_ERROR = re.compile(r" (ERROR|CRITICAL) |^Traceback")
PDF = b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<<>>\nendobj\n" + bytes(2048)
ACTIONS = ("message", "read", "upload", "reconnect", "login")


class Desk(Client):
    """One person at a desk: a socket that sends, reads, types, uploads, drops and signs in again."""

    def __init__(self, index: int, user: dict, run: Run, soak: "Soak"):
        super().__init__(index, user, run)
        self.soak = soak
        self.away = False  # a disconnect of our own making is no error
        self.newest_id: int | None = None
        self.read_id: int | None = None

    def on_disconnect(self, *reason):
        if not self.away:
            super().on_disconnect(*reason)

    def on_new_message(self, data):
        super().on_new_message(data)
        row = data.get("message", data) if isinstance(data, dict) else {}
        if isinstance(row.get("id"), int):
            self.newest_id = max(self.newest_id or 0, row["id"])

    async def call(self, event: str, payload: dict) -> dict | None:
        """A socket call with an ack; the ack if it was `ok`, else None (and an error counted)."""
        start = time.perf_counter()
        try:
            ack = await self.sio.call(event, payload, self.soak.args.ack_timeout)
        except TimeoutError:
            self.run.stats.error(f"{event} ack timeout")
            return None
        except Exception as exc:  # noqa: BLE001 - every failure is counted, whatever its kind
            self.run.stats.error(f"{event} failed", repr(exc))
            return None
        if not (isinstance(ack, dict) and ack.get("ok")):
            self.run.stats.error(f"{event} not ok", json.dumps(ack, ensure_ascii=False)[:200])
            return None
        self.run.ack_latency.append(time.perf_counter() - start)
        return ack

    async def message(self) -> None:
        """Typing for a moment, then a message (load's `send`: ack timed, fan-out tracked)."""
        if await self.call("typing", {"room_id": self.room_id, "is_typing": True}) is None:
            return
        await asyncio.sleep(random.uniform(0.5, 2))
        self.seq += 1
        await self.send(self.seq, self.soak.args.ack_timeout)

    async def read(self) -> None:
        if self.newest_id is None or self.newest_id == self.read_id:
            return
        if await self.call("message_read", {"room_id": self.room_id, "message_id": self.newest_id}):
            self.read_id = self.newest_id

    async def upload(self) -> None:
        """A PDF over HTTP, then the file message with its upload token."""
        reply = await self.request("upload", 200, "POST", "/api/upload", headers=self.bearer(),
                                   data={"room_id": str(self.room_id)},
                                   files={"file": (f"report-{self.index}.pdf", PDF, "application/pdf")})
        if reply is None:
            return
        self.seq += 1
        await self.call("send_message", {
            "room_id": self.room_id, "type": "file", "encrypted": False, "upload_token": reply.json()["upload_token"],
            "content": json.dumps({"s": self.index, "n": self.seq, "t": time.perf_counter()}),
            "client_msg_id": f"soak-{self.index}-{self.seq}"})

    async def reconnect(self, token: str | None = None) -> None:
        """The laptop sleeps a moment (or the network drops) and the socket comes back."""
        self.away = True
        await self.close()
        await asyncio.sleep(random.uniform(0.5, 3))
        if token:
            self.user["token"] = token
        self.away = False
        await self.connect(self.soak.url, self.soak.args.connect_timeout)

    async def login(self) -> None:
        """Signs in again (a new device session, an argon2 hash), moves the socket over to it and
        signs the old session out, so sessions do not pile up."""
        reply = await self.request("login", 201, "POST", "/api/device-sessions", json={
            "username": self.user["username"], "password": PASSWORD, "device_name": "soak", "remember": True})
        if reply is None:
            return
        old = self.bearer()
        await self.reconnect(reply.json()["device_token"])
        await self.request("logout", 200, "DELETE", "/api/device-sessions/current", headers=old)

    async def request(self, kind: str, expected: int, method: str, url: str, **kwargs) -> httpx.Response | None:
        """An HTTP request; the response if its status is `expected`, else None (and an error counted)."""
        try:
            reply = await self.soak.http.request(method, url, **kwargs)
        except httpx.HTTPError as exc:
            self.run.stats.error(f"{kind} http", repr(exc))
            return None
        if reply.status_code != expected:
            self.run.stats.error(kind, f"{reply.status_code} {reply.text[:200]}")
            return None
        return reply

    def bearer(self) -> dict:
        return {"Authorization": f"Bearer {self.user['token']}"}

    async def live(self, end: float) -> None:
        """Each action a Poisson process of its own (mean interval from the options), one at a time."""
        every = {kind: getattr(self.soak.args, f"{kind}_every") for kind in ACTIONS}
        now = time.perf_counter()
        due = {kind: now + random.expovariate(1 / every[kind]) for kind in ACTIONS}
        while True:
            kind = min(due, key=due.get)
            if due[kind] >= end:
                return
            await asyncio.sleep(max(0.0, due[kind] - time.perf_counter()))
            if self.sio.connected or kind in ("reconnect", "login"):
                await getattr(self, kind)()
                self.soak.done[kind] += 1
            due[kind] = time.perf_counter() + random.expovariate(1 / every[kind])


class Soak:
    """The run: the desks, the server watched from outside and the rows printed so far."""

    def __init__(self, args, server: ServerProcess):
        self.args = args
        self.server = server
        self.url = server.url
        self.watch = ServerWatch(server.proc.pid)
        self.run = Run()
        self.done: Counter = Counter()
        self.rows: list[dict] = []
        self.http: httpx.AsyncClient | None = None

    async def greenlets(self) -> tuple[int | None, float | None]:
        """The server's greenlets and the ms its count held the loop: SIGUSR1 makes it print a
        `diagnostics:` line (bounded wait)."""
        seen = len(self.server.output)
        os.kill(self.server.proc.pid, signal.SIGUSR1)
        for _ in range(100):
            await asyncio.sleep(0.05)
            for line in self.server.output[seen:]:
                found = GREENLETS.match(line)
                if found:
                    return int(found.group(1)), float(found.group(2))
        return None, None

    async def row(self, start: float, desks: list[Desk]) -> dict:
        process = self.watch.process
        latency, self.run.ack_latency = self.run.ack_latency, []
        self.run.receivers_of = {}  # fan-out bookkeeping of load's Client: not needed here, keep it small
        for desk in desks:
            desk.received = []
        done, self.done = self.done, Counter()
        fds, other = descriptors(process.pid)
        greenlets, walk_ms = await self.greenlets()
        row = {"min": (time.perf_counter() - start) / 60, "rss": self.watch.rss(), "fds": fds, "other fds": other,
               "threads": process.num_threads(), "greenlets": greenlets, "walk ms": walk_ms,
               "acks": len(latency), "p99": percentile(latency, 99),
               "errors": sum(self.run.stats.errors.values()), "connected": sum(d.sio.connected for d in desks),
               "load": os.getloadavg()[0], **{kind: done[kind] for kind in ACTIONS}}
        self.rows.append(row)
        print(row_line(row), flush=True)
        return row

    async def soak(self) -> None:
        args, stats = self.args, self.run.stats
        users = await create_users(self.url, args.clients, args.setup_concurrency, stats)
        rooms = await create_rooms(self.url, users, args.room_size, args.setup_concurrency, stats)
        if not rooms:
            raise SystemExit("no room could be created: " + "; ".join(stats.notes))
        desks = [Desk(0, user, self.run, self) for _, group in rooms for user in group]
        for index, (desk, room_id) in enumerate(zip(desks, [r for r, g in rooms for _ in g])):
            desk.index, desk.room_id = index, room_id
        connected = await connect_all(desks, self.url, args.connect_concurrency, args.connect_timeout)
        print(f"{len(users)} users, {len(rooms)} rooms, {connected}/{len(desks)} sockets connected; "
              f"soaking for {args.minutes:g} min", flush=True)
        print(ROW_HEADER, flush=True)
        start = time.perf_counter()
        end = start + args.minutes * 60
        async with httpx.AsyncClient(base_url=self.url, timeout=60) as self.http:
            living = asyncio.gather(*(desk.live(end) for desk in desks))
            due = start
            while True:
                due += args.report_seconds
                if due > end + 1e-6:
                    break
                await asyncio.sleep(max(0.0, due - time.perf_counter()))
                if self.server.proc.poll() is not None:
                    break
                await self.row(start, desks)
            await living
        self.run.closing = True
        for desk in desks:
            desk.away = True
        await close_all(desks)


def descriptors(pid: int) -> tuple[int, int]:
    """(open descriptors of the process, those not on an established TCP connection). Clients come
    and go, so the second is what a leak grows (a socket left in CLOSE_WAIT counts there). Linux."""
    established = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with open(table) as rows:
            next(rows)
            established.update(f[9] for f in map(str.split, rows) if f[3] == "01")
    links = []
    for name in os.listdir(f"/proc/{pid}/fd"):
        try:
            links.append(os.readlink(f"/proc/{pid}/fd/{name}"))
        except OSError:  # closed meanwhile
            continue
    return len(links), sum(1 for link in links if not (link.startswith("socket:[") and link[8:-1] in established))


def row_line(row: dict) -> str:
    return (f"{row['min']:>6.1f} {mib(row['rss']):>10} {row['fds']:>5} {row['other fds']:>5} {row['threads']:>7} "
            f"{'-' if row['greenlets'] is None else row['greenlets']:>9} {row['acks']:>6} {ms(row['p99']):>10} "
            f"{row['message']:>5} {row['read']:>5} {row['upload']:>6} {row['reconnect']:>6} {row['login']:>6} "
            f"{row['connected']:>5} {row['errors']:>6} {row['load']:>5.1f}")


ROW_HEADER = (f"{'min':>6} {'RSS':>10} {'fds':>5} {'other':>5} {'threads':>7} {'greenlets':>9} {'acks':>6} {'ack p99':>10} "
              f"{'msgs':>5} {'reads':>5} {'upload':>6} {'reconn':>6} {'logins':>6} {'live':>5} {'errors':>6} "
              f"{'load':>5}")


def verdicts(rows: list[dict], warmup_minutes: float, stats: Stats) -> tuple[dict, bool]:
    """The end figures and whether every goal was met. The baseline is the first row at or after
    the warm-up; descriptors are flat if those not on a live connection stay within a band
    (SQLite's pooled connections come and go)."""
    after = [r for r in rows if r["min"] >= warmup_minutes - 1e-6] or rows[-1:]
    base, last = after[0], after[-1]
    growth = last["rss"] - base["rss"]
    fds, other = [r["fds"] for r in after], [r["other fds"] for r in after]
    flat = max(other) - min(other) <= FD_BAND
    greenlets = [r["greenlets"] for r in after if r["greenlets"] is not None]
    ok = growth < RSS_GOAL and flat and not stats.errors
    return {
        "RSS after warm-up / at the end": f"{mib(base['rss'])} / {mib(last['rss'])}",
        "RSS growth after warm-up (goal < 50 MB)": f"{growth / 2**20:+.1f} MiB: {'ok' if growth < RSS_GOAL else 'MISSED'}",
        "open descriptors after warm-up min/max/end": f"{min(fds)} / {max(fds)} / {last['fds']}",
        "not on a live connection min/max/end": f"{min(other)} / {max(other)} / {last['other fds']}: "
                                                f"{'flat' if flat else 'NOT flat'} (band {FD_BAND})",
        "greenlets after warm-up min/max/end": (f"{min(greenlets)} / {max(greenlets)} / {greenlets[-1]}"
                                                if greenlets else "-"),
        "greenlet count's hold on the server loop, max": ms(max((r["walk ms"] / 1000 for r in rows
                                                                 if r["walk ms"] is not None), default=None)),
        "OS threads after warm-up min/max": f"{min(r['threads'] for r in after)} / {max(r['threads'] for r in after)}",
        "ack p99, worst interval": ms(max((r["p99"] for r in rows if r["p99"] is not None), default=None)),
        "actions (messages, reads, uploads, reconnects, logins)": ", ".join(
            str(sum(r[kind] for r in rows)) for kind in ACTIONS),
        "errors (goal none)": stats.errors or "none",
        "load average (1 min) first/last row": f"{rows[0]['load']:.1f} / {rows[-1]['load']:.1f}",
    }, ok


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--minutes", type=float, default=15, help="how long the traffic runs")
    p.add_argument("--clients", type=int, default=200, help="people, one user and one socket each")
    p.add_argument("--room-size", type=int, default=20, help="members per group room")
    p.add_argument("--warmup-minutes", type=float, default=2, help="RSS growth is measured from here")
    p.add_argument("--report-seconds", type=float, default=60, help="one row this often")
    p.add_argument("--message-every", type=float, default=30, help="mean seconds between a person's messages "
                                                                    "(each after a typing notice)")
    p.add_argument("--read-every", type=float, default=20, help="mean seconds between read marks")
    p.add_argument("--upload-every", type=float, default=300, help="mean seconds between file uploads")
    p.add_argument("--reconnect-every", type=float, default=600, help="mean seconds between socket drops")
    p.add_argument("--login-every", type=float, default=900, help="mean seconds between sign-ins")
    p.add_argument("--ack-timeout", type=float, default=10)
    p.add_argument("--connect-timeout", type=float, default=30)
    p.add_argument("--connect-concurrency", type=int, default=50)
    p.add_argument("--setup-concurrency", type=int, default=8)
    args = p.parse_args(argv)
    if args.report_seconds > args.minutes * 60:
        p.error("--report-seconds must fit in --minutes")
    if args.room_size < 3 or args.clients < args.room_size:
        p.error("--room-size must be at least 3 and at most --clients (group rooms)")
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    limit = raise_open_file_limit()
    if limit < args.clients * 2 + 100:
        print(f"warning: open-file limit {limit} is low for {args.clients} clients", file=sys.stderr)
    scratch = tempfile.TemporaryDirectory(prefix="messenger-soak-")
    # SQLite, gevent: the production server. Plaintext, as in load.py: sealing is the clients' work.
    server = ServerProcess(Path(scratch.name), env={"MESSENGER_ASYNC_MODE": "gevent"},
                           e2e_policy="optional").start(timeout=60)
    print(f"server pid {server.proc.pid} at {server.url} (SQLite)", flush=True)
    soak = Soak(args, server)
    code = 0
    try:
        # Setup, the traffic and a margin: the run cannot hang.
        asyncio.run(asyncio.wait_for(soak.soak(), args.minutes * 60 + 300))
    except (asyncio.TimeoutError, TimeoutError):
        print("run cut after its time limit", flush=True)
        code = 1
    finally:
        if stop_server(server):
            code = 1
        scratch.cleanup()
    if not soak.rows:
        print("no row was printed", flush=True)
        return 1
    # An exception in a greenlet of the server's own reaches no client: its log tells.
    for line in server.output:
        if SERVER_LOG_ERROR.search(line):
            soak.run.stats.error("server log", line.strip())
    figures, ok = verdicts(soak.rows, args.warmup_minutes, soak.run.stats)
    figures["server log warnings"] = sum(" WARNING " in line for line in server.output)
    figures["_notes"] = soak.run.stats.notes
    print_table(f"soak: {args.clients} clients, rooms of {args.room_size}, {args.minutes:g} min, SQLite", figures)
    return code or (0 if ok else 1)


if __name__ == "__main__":
    sys.exit(main())
