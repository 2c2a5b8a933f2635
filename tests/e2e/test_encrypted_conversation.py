"""Encrypted conversations end to end: real server processes and several real clients, the
command-line client run as `python -m messenger chat ...` and the same client services used
in-process where a test needs to step in between. The server must never hold a plaintext,
a file's content or name, or a room key; a removed member must not read what follows; a
user's new device must read what came before it once approved; a changed message must be
reported, never shown."""

from __future__ import annotations

import base64
import json
import os
import threading
import time
import uuid
from pathlib import Path
from urllib.parse import quote

from chat_kit import Cli, approval_code, register, wait_until

from harness import PASSWORD
from messenger.client.services.messages import ContentState, read_content
from messenger.core.e2e import decrypt_key_backup

PASSPHRASE = "우리 사무실 백업 암호 2026"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + os.urandom(2000)


def secret_forms(text: str) -> list[bytes]:
    """How a text could sit in a file: UTF-8, JSON-escaped, percent-encoded."""
    return [text.encode(), json.dumps(text)[1:-1].encode(), quote(text).encode()]


def room_key_forms(room_key: str) -> list[bytes]:
    raw = base64.b64decode(room_key[3:])
    return [room_key.encode(), room_key[3:].encode(), raw, base64.urlsafe_b64encode(raw), raw.hex().encode()]


def leaks(folder: Path, extra_text: str, secrets: dict[str, bytes]) -> list[str]:
    """(file, secret) pairs where a secret is found in any file under `folder` or in `extra_text`."""
    blobs = {str(p): p.read_bytes() for p in folder.rglob("*") if p.is_file()}
    blobs["<server output>"] = extra_text.encode()
    return [f"{name}: {label}" for name, data in blobs.items() for label, secret in secrets.items() if secret in data]


def test_two_users_exchange_text_and_files_and_the_server_holds_nothing_readable(fresh_server, tmp_path):
    server = fresh_server()
    alice_name, bob_name = register(server), register(server)
    alice, bob = Cli(server, tmp_path / "alice"), Cli(server, tmp_path / "bob")
    alice.login(alice_name)
    bob.login(bob_name)

    first = "안녕하세요 밥, 분기 실적은 비밀입니다 #1"
    alice.ok("send", f"@{bob_name}", first)  # the direct room is made on the way
    [room] = [json.loads(line) for line in alice.ok("rooms", "--json").splitlines()]
    room_id = room["id"]
    assert room["partner"] == bob_name

    received = tmp_path / "bob-files"
    tail = bob.start("tail", room_id, "--count", 3, "--timeout", 90, "--json", "--save-files", received)
    tail.wait_for_stderr("listening")
    second = "두 번째 메시지: 회의는 3층 🍀 secret-2"
    document_name = "2026년 1분기 인사 평가 (기밀).bin"
    document = os.urandom(48_000) + "끝".encode()
    (tmp_path / document_name).write_bytes(document)
    (tmp_path / "screenshot.png").write_bytes(PNG)
    alice.ok("send", room_id, second)
    alice.ok("send-file", room_id, tmp_path / document_name)
    alice.ok("send-file", room_id, tmp_path / "screenshot.png")
    assert tail.finish(90) == 0, "".join(tail.stderr)
    got = [json.loads(line) for line in tail.stdout]
    assert [m["state"] for m in got] == ["readable"] * 3
    assert got[0]["text"] == second and got[0]["end_to_end"]
    assert (got[1]["type"], got[1]["file"]["name"], got[1]["file"]["image_type"]) == ("file", document_name, None)
    assert Path(got[1]["file"]["saved_to"]).read_bytes() == document
    assert (got[2]["type"], got[2]["file"]["image_type"]) == ("image", "png")
    assert Path(got[2]["file"]["saved_to"]).read_bytes() == PNG

    reply = "잘 받았어요, 앨리스 — reply-3"
    bob.ok("send", room_id, "-", stdin=reply + "\n")
    history = alice.history(room_id, "--save-files", tmp_path / "alice-files")
    assert [(m["sender_name"], m["text"] or m["file"]["name"]) for m in history] == [
        (alice_name, first), (alice_name, second), (alice_name, document_name), (alice_name, "screenshot.png"),
        (bob_name, reply)]
    assert all(m["state"] == "readable" and m["end_to_end"] for m in history)
    assert (tmp_path / "alice-files" / document_name).read_bytes() == document

    # What the server shows of a file: an opaque blob under a name that says nothing.
    raw = [m for m in read_raw_history(server, bob_name, room_id) if m["message_type"] != "text"]
    assert {m["file_name"] for m in raw} == {"e2e.bin"}
    assert {m["file_size"] for m in raw} == {len(document) + 32, len(PNG) + 32}

    # The room keys, learned the way a user's new device would: from the key backup.
    alice.ok("backup-keys", "--passphrase-stdin", stdin=PASSPHRASE + "\n")
    backup = login_api(server, alice_name).get("/api/keys/backup").json()
    room_keys = json.loads(decrypt_key_backup(backup["blob"], PASSPHRASE))["rooms"][str(room_id)]
    assert room_keys
    device_secrets = [json.loads((home / "data" / "device-tokens.json").read_text())["tokens"]
                      for home in (alice.home, bob.home)]
    secrets: dict[str, bytes] = {}
    for index, text in enumerate((first, second, reply)):
        for number, form in enumerate(secret_forms(text)):
            secrets[f"message {index} form {number}"] = form
    for number, form in enumerate(secret_forms(document_name)):
        secrets[f"file name form {number}"] = form
    for label, data in (("document", document), ("image", PNG[16:])):
        for start in (0, len(data) // 2, len(data) - 32):
            secrets[f"{label} bytes at {start}"] = data[start:start + 32]
    for index, key in enumerate(room_keys):
        for number, form in enumerate(room_key_forms(key)):
            secrets[f"room key {index} form {number}"] = form
    for tokens in device_secrets:
        for name, value in tokens.items():
            if name.endswith("-keys"):
                secrets[f"device private keys {name!r}"] = value.encode()
    # The scan does find what the server does hold: the envelopes.
    envelopes = {f"envelope {m['id']}": m["content"].encode() for m in read_raw_history(server, bob_name, room_id)}
    assert not leaks(server.data_dir, "".join(server.output), secrets)  # running: database, WAL, uploads
    server.stop()
    assert not leaks(server.data_dir, "".join(server.output), secrets)  # stopped: checkpointed database, logs
    assert len(leaks(server.data_dir, "", envelopes)) >= len(envelopes)


def read_raw_history(server, username: str, room_id: int) -> list[dict]:
    api = login_api(server, username)
    messages = api.get(f"/api/rooms/{room_id}/messages").json()["messages"]
    api.close()
    return messages


def login_api(server, username: str):
    reply = server.api().post("/api/device-sessions", json={
        "username": username, "password": PASSWORD, "device_name": "inspector", "remember": False})
    assert reply.status_code == 201, reply.text
    return server.api(reply.json()["device_token"])


def test_a_removed_member_cannot_read_what_is_sent_after_removal(server, devices):
    alice_name, bob_name, carol_name = register(server), register(server), register(server)
    alice, bob, carol = devices(server, alice_name), devices(server, bob_name), devices(server, carol_name)
    room_id = alice.api.create_room([], name="팀")["room_id"]
    alice.api.add_members(room_id, [bob.api.user["id"], carol.api.user["id"]])
    before = alice.send(room_id, "before the removal")
    wait_until(lambda: carol.readables(room_id)[before].text == "before the removal")

    alice.api.kick(room_id, carol.api.user["id"])
    after = alice.send(room_id, "after the removal: not for carol")
    state = alice.keys.directory.key_state(room_id)
    assert state["current_version"] == 2  # the removal made the next sender rotate
    new_key_id = state["versions"][1]["key_id"]
    wait_until(lambda: bob.readables(room_id)[after].text == "after the removal: not for carol")

    envelope = next(m for m in bob.api.messages(room_id)["messages"] if m["id"] == after)["content"]
    assert envelope.startswith(f"v5:{new_key_id}:")
    carol.keys.sync_room(room_id)  # the server answers ROOM_NOT_FOUND now
    assert new_key_id not in carol.keys.held_key_ids(room_id)
    result = read_content(carol.keys, room_id, envelope, encrypted=True)
    assert (result.state, result.error_code, result.text) == (ContentState.CANNOT_DECRYPT, "E2E_WRONG_KEY", None)
    # What carol could read before, she still can: rotation protects the future, not the past.
    old = next(m for m in bob.api.messages(room_id)["messages"] if m["id"] == before)["content"]
    assert read_content(carol.keys, room_id, old, encrypted=True).text == "before the removal"


def test_a_new_device_reads_earlier_history_from_another_device_answering_its_request(server, tmp_path):
    alice_name, bob_name = register(server), register(server)
    first, bob = Cli(server, tmp_path / "alice-pc"), Cli(server, tmp_path / "bob")
    first.login(alice_name)
    bob.login(bob_name)
    first.ok("send", f"@{bob_name}", "sent before the laptop existed")
    room_id = json.loads(first.ok("rooms", "--json").splitlines()[0])["id"]
    bob.ok("send", room_id, "bob's answer, also before")

    online = first.start("tail", room_id, "--timeout", 90)  # the first device stays online and answers
    online.wait_for_stderr("listening")
    laptop = Cli(server, tmp_path / "alice-laptop")
    device_id, code = approval_code(laptop.login(alice_name))
    [unapproved] = laptop.history(room_id, "--wait-keys", 2, "--limit", 1)
    assert unapproved["state"] == "waiting_for_keys"  # the online device does not answer it yet
    first.ok("approve", device_id, "--code", code)
    history = laptop.history(room_id, "--wait-keys", 30)
    assert [(m["state"], m["text"]) for m in history] == [
        ("readable", "sent before the laptop existed"), ("readable", "bob's answer, also before")]
    assert online.interrupt() == 0


def test_a_new_device_reads_earlier_history_from_the_key_backup(server, tmp_path):
    alice_name, bob_name = register(server), register(server)
    first, bob = Cli(server, tmp_path / "alice-pc"), Cli(server, tmp_path / "bob")
    first.login(alice_name)
    bob.login(bob_name)
    first.ok("send", f"@{bob_name}", "백업으로 되살릴 메시지")
    room_id = json.loads(first.ok("rooms", "--json").splitlines()[0])["id"]
    first.ok("backup-keys", "--passphrase-stdin", stdin=PASSPHRASE + "\n")
    first.ok("logout")  # the old computer is gone: nobody is online to answer

    reinstalled = Cli(server, tmp_path / "alice-reinstalled")
    reinstalled.login(alice_name)
    [waiting] = reinstalled.history(room_id, "--wait-keys", 0)
    assert (waiting["state"], waiting["error_code"], waiting["text"]) == (
        "waiting_for_keys", "E2E_WAITING_FOR_KEYS", None)
    wrong = reinstalled.run("restore-keys", "--passphrase-stdin", stdin="not the passphrase\n")
    assert wrong.returncode == 1 and "error: E2E_BACKUP_PASSPHRASE_WRONG" in wrong.stderr
    reinstalled.ok("restore-keys", "--passphrase-stdin", stdin=PASSPHRASE + "\n")
    [restored] = reinstalled.history(room_id, "--wait-keys", 0)
    assert (restored["state"], restored["text"]) == ("readable", "백업으로 되살릴 메시지")


def test_waiting_for_keys_shows_and_clears_by_itself_when_the_other_device_comes_online(server, devices):
    alice_name = register(server)
    desktop = devices(server, alice_name)
    room_id = desktop.api.create_room([], name="notes")["room_id"]
    message_id = desktop.send(room_id, "written on the desktop")
    desktop.realtime.stop()  # the desktop goes offline

    laptop = devices(server, alice_name)
    desktop.keys.approve_device(laptop.keys.device_session_id, laptop.keys.verification_code())
    changed = threading.Event()
    laptop.keys.add_listener(lambda room: changed.set())
    assert laptop.keys.sync_room(room_id).waiting_for_keys
    assert laptop.readables(room_id)[message_id].state is ContentState.WAITING_FOR_KEYS
    time.sleep(1.0)  # nobody online holds the key: it stays waiting
    assert laptop.readables(room_id)[message_id].state is ContentState.WAITING_FOR_KEYS

    changed.clear()
    desktop.online()  # on connecting it catches up and answers the open requests
    assert changed.wait(30)
    wait_until(lambda: laptop.readables(room_id)[message_id].shown)
    assert laptop.readables(room_id)[message_id].text == "written on the desktop"


def test_a_tampered_message_is_reported_and_never_shown(server, devices, tmp_path):
    alice_name, bob_name = register(server), register(server)
    bob = Cli(server, tmp_path / "bob")
    bob.login(bob_name)
    alice = devices(server, alice_name)
    room_id = alice.api.create_room([], name="r")["room_id"]
    alice.api.add_members(room_id, [next(u["id"] for u in alice.api.users() if u["username"] == bob_name)])
    secret = "the real text, never to be shown changed"
    envelope = alice.keys.encrypt(room_id, secret)
    parts = envelope.split(":")  # v5: prefix, key id, commitment, sender, nonce, ciphertext, signature
    flipped = bytearray(base64.b64decode(parts[5]))
    flipped[len(flipped) // 2] ^= 0x01
    tampered = ":".join(parts[:5] + [base64.b64encode(bytes(flipped)).decode(), parts[6]])
    # Sent through the socket as a sender would: the server cannot tell.
    alice.realtime.send_message(room_id, tampered, encrypted=True, client_msg_id=uuid.uuid4().hex)
    alice.send(room_id, "an honest one after it")

    history = bob.history(room_id)
    assert [(m["state"], m["error_code"], m["text"]) for m in history] == [
        ("tampered", "E2E_SIGNATURE_INVALID", None), ("readable", None, "an honest one after it")]
    shown = bob.ok("history", room_id)
    assert "[E2E_SIGNATURE_INVALID]" in shown and "signature does not check" in shown
    assert "never to be shown" not in shown

    # A byte flipped in what the receiver got reads the same way.
    original = next(m for m in alice.api.messages(room_id)["messages"] if m["content"] != tampered)["content"]
    parts = original.split(":")
    body = base64.b64decode(parts[5])
    changed = ":".join(parts[:5] + [base64.b64encode(bytes([body[0] ^ 0x80]) + body[1:]).decode(), parts[6]])
    assert read_content(alice.keys, room_id, changed, encrypted=True).state is ContentState.TAMPERED
