"""benchmarks/load.py keeps working: its own Socket.IO client against the relay and our server,
and a short run of each mode that needs no PostgreSQL (`--scale-out` is run by hand)."""

import asyncio
import json
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from harness import ServerProcess

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"
sys.path.insert(0, str(BENCHMARKS))

import load  # noqa: E402  (benchmarks/ is no package)


def run_load(*args: str) -> str:
    done = subprocess.run([sys.executable, str(BENCHMARKS / "load.py"), *args],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def figure(out: str, name: str) -> str:
    found = re.search(rf"^{re.escape(name)} +(.+)$", out, re.MULTILINE)
    assert found, out
    return found.group(1)


@pytest.fixture(scope="module")
def relay(tmp_path_factory):
    proc = ServerProcess(tmp_path_factory.mktemp("relay"), command=[sys.executable, str(load.RELAY)]).start()
    yield proc
    proc.stop()


def test_the_socket_sends_with_acks_and_receives_every_frame_size_from_the_relay(relay):
    """Frames of 7-, 16- and 64-bit lengths (a 70 KB one arrives over several reads), each to every member."""

    async def scenario():
        run = load.Run()
        users = await load.create_users(relay.url, 3, 3, run.stats)
        [(room_id, group)] = await load.create_rooms(relay.url, users, 3, 3, run.stats)
        clients = [load.Client(i, user, run) for i, user in enumerate(group)]
        for client in clients:
            client.room_id = room_id
        assert await load.connect_all(clients, relay.url, 3, 10) == 3
        await clients[0].send(1, 10)
        big = json.dumps({"s": 1, "n": 1, "t": time.perf_counter(), "pad": "x" * 70_000})
        ack = await clients[1].sio.call("send_message", {"room_id": room_id, "content": big}, 10)
        for _ in range(200):
            if run.delivered == 6:
                break
            await asyncio.sleep(0.05)
        run.closing = True
        await load.close_all(clients)
        return run, clients, ack

    run, clients, ack = asyncio.run(scenario())
    assert run.acked == 1 and ack["ok"] and not run.stats.errors, (run.stats.errors, run.stats.notes)
    first = [message_id for _, _, message_id in clients[0].received]
    assert len(first) == 2 and first[1] == ack["message_id"]
    for client in clients:
        assert client.received == [(0, 1, first[0]), (1, 1, first[1])]


def frame(payload: bytes, opcode: int = 0x1, final: bool = True) -> bytes:
    """A server's (unmasked) WebSocket frame."""
    n = len(payload)
    length = bytes([n]) if n < 126 else bytes([126]) + n.to_bytes(2, "big") if n < 65536 else \
        bytes([127]) + n.to_bytes(8, "big")
    return bytes([(0x80 if final else 0) | opcode]) + length + payload


def new_message(sender: int, seq: int, message_id: int, pad: int = 0) -> bytes:
    content = json.dumps({"s": sender, "n": seq, "t": 0, "pad": "x" * pad})
    return b"42" + json.dumps(["new_message", {"id": message_id, "content": content}]).encode()


@pytest.mark.parametrize("chunk", [1, 7, 4096])
def test_the_socket_reassembles_frames_split_anyhow_across_reads(chunk):
    """What TCP may do to the server's frames: any split, several frames in one read, a fragmented message."""
    run = load.Run()
    client = load.Client(0, {}, run)
    stream = (b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n"
              + frame(new_message(1, 1, 10)) + frame(new_message(1, 2, 11, pad=300))
              + frame(new_message(2, 1, 12)[:20], final=False) + frame(new_message(2, 1, 12)[20:], opcode=0x0)
              + frame(new_message(2, 2, 13, pad=70_000)))
    for start in range(0, len(stream), chunk):
        client.sio.feed(stream[start:start + chunk])
    assert client.received == [(1, 1, 10), (1, 2, 11), (2, 1, 12), (2, 2, 13)]
    assert run.delivered == 4 and not run.stats.errors and client.sio.buffer == b""


def test_a_refused_token_is_a_connect_error(server):
    run = load.Run()
    client = load.Client(0, {"token": "not-a-device-token"}, run)
    assert asyncio.run(client.connect(server.url, 10)) is False
    assert run.stats.errors == {"connect": 1} and "connect refused" in run.stats.notes[0], run.stats.notes


def test_a_short_load_run_with_a_login_storm_counts_every_delivery(server):
    out = run_load("--url", server.url, "--server-pid", str(server.proc.pid), "--clients", "6", "--room-size", "3",
                   "--seconds", "2", "--rate", "2", "--burst", "2", "--login-storm", "2", "--settle", "0.2")
    assert figure(out, "sends attempted / acked") == "48 / 48"
    assert figure(out, "new_message delivered") == "144 (144 for the acked sends)"
    assert figure(out, "sender order kept (received)") == "18/18 receiver-sender pairs"
    assert figure(out, "errors") == "none"
    assert figure(out, "login storm: sign-ins, failed") == "2, 0"
    assert re.fullmatch(r"[\d.]+ µs", figure(out, "bench client CPU per delivery")), out


def test_idle_sockets_connect_and_stay(server):
    out = run_load("--url", server.url, "--server-pid", str(server.proc.pid), "--idle", "8", "--users", "2",
                   "--seconds", "0.5", "--settle", "0.2")
    assert figure(out, "sockets connected") == "8" and figure(out, "still connected after hold") == "8"
    assert figure(out, "errors") == "none"


def test_a_stepped_run_on_the_relay_prints_its_table():
    out = run_load("--compare", "--servers", "bare relay", "--clients", "20", "--room-size", "10",
                   "--rates", "40", "--step-seconds", "1", "--drain", "5", "--settle", "0.2")
    steps = re.findall(r"^ +(\d+) +\d+ +\d+ +[\d.]+ ms +[\d.]+ ms +(\d+) +(\d+) +(\d+) +(\d+) +[\d.]+ +\d+ +\d+ "
                       r"+([\d.]+) +[\d.]+ (?:clean|NOT clean)$", out, re.MULTILINE)
    assert [offered for offered, *_ in steps] == ["40"], out
    for _, lost, duplicated, reordered, errors, _ in steps:
        assert (lost, duplicated, reordered, errors) == ("0", "0", "0", "0"), out
