"""Data written before user identities existed (tests/fixtures/e2e-before-identity, made by
commit bf954a6 with its make_fixture.py) moves to verified devices without losing history: the
first updated device of each user makes the identity, signs itself and the user's devices it
already trusted, and everyone still reads what was written before (v3, marked not signed) and
what comes after (v5, signed)."""

from __future__ import annotations

import hashlib
import json
import shutil
import sqlite3
from pathlib import Path

from chat_kit import Cli

from messenger.client.services.session_store import normalize_server_url

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "e2e-before-identity"


def cache_name(server_url: str, username: str, device_id: str) -> str:
    account = f"{normalize_server_url(server_url)}\n{username.lower()}".encode()
    return f"{hashlib.sha256(account).hexdigest()[:16]}-{device_id}.json"


def moved_home(source: Path, target: Path, old_url: str, new_url: str) -> Path:
    """A client folder of the fixture, pointed at this test's server (its port differs): the
    server address is in its settings, its token names and its key cache's file name."""
    shutil.copytree(source, target)
    for path in target.rglob("*.json"):
        path.write_text(path.read_text(encoding="utf-8").replace(old_url, new_url), encoding="utf-8")
    username = json.loads((target / "data" / "last-account.json").read_text())["username"]
    for cache in (target / "data" / "e2e").iterdir():
        device_id = cache.stem.rsplit("-", 1)[1]
        assert cache.name == cache_name(old_url, username, device_id)
        cache.rename(cache.with_name(cache_name(new_url, username, device_id)))
    return target


def test_devices_and_rooms_from_before_identities_keep_their_history_and_become_verified(fresh_server, tmp_path):
    made = json.loads((FIXTURE / "fixture.json").read_text())
    data_dir = tmp_path / "server"
    shutil.copytree(FIXTURE / "server", data_dir)
    with sqlite3.connect(data_dir / "messenger.db") as db:  # the fixture's sessions must not age out
        db.execute("UPDATE device_sessions SET expires_at = datetime('now', '+30 days')")
    server = fresh_server(data_dir=data_dir)
    clients = {name: Cli(server, moved_home(FIXTURE / name, tmp_path / name, made["server_url"], server.url))
               for name in ("alice-pc", "alice-laptop", "bob")}
    room_id = made["room_id"]

    def texts(name: str) -> list[tuple]:
        return [(m["state"], m["text"]) for m in clients[name].history(room_id, "--wait-keys", 20)]

    before = [("readable", text) for text in made["texts"]]
    first_start = clients["alice-pc"].run("history", room_id, "--json")
    assert first_start.returncode == 0, first_start.stderr
    assert "your recovery key" in first_start.stderr and "E2E_DEVICE_UNVERIFIED" not in first_start.stderr
    assert [(m["state"], m["text"]) for m in map(json.loads, first_start.stdout.splitlines())] == before
    # alice-pc had answered the laptop's request before: it signed the laptop with the new identity.
    devices = [json.loads(line) for line in clients["alice-laptop"].ok("devices", "--json").splitlines()]
    assert sorted(d["verified"] for d in devices) == [True, True]
    assert texts("alice-laptop") == before
    assert texts("bob") == before

    clients["alice-pc"].ok("send", room_id, "after the update")
    clients["bob"].ok("send", room_id, "bob, after the update")
    after = before + [("readable", "after the update"), ("readable", "bob, after the update")]
    for name in clients:
        assert texts(name) == after, name
    # The history stays v3, read and marked "not signed"; what is sent now is signed (v5).
    marks = [(m["signed"], m["mark"]) for m in clients["bob"].history(room_id, "--wait-keys", 0)]
    assert marks == [(False, "E2E_NOT_SIGNED")] * len(before) + [(True, None)] * 2
    assert clients["alice-pc"].ok("safety-number", "@bob") == clients["bob"].ok("safety-number", "@alice")
