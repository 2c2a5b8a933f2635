"""A hostile operator: someone with the server's data folder, `messenger admin`, and direct writes
to its database for what the admin tool cannot do. Every attack must fail visibly on the
command-line client (and on the same services the desktop app uses), never quietly give the
operator a key or show the operator's words as a member's."""

from __future__ import annotations

import base64
import json
import os
import re
import sqlite3

from chat_kit import Cli, approval_code, recovery_key, register, wait_until

from harness import login
from messenger.client.services.messages import ContentState
from messenger.core.e2e import DeviceKeys
from messenger.core.e2e.identity import IdentityKeys


def database(server) -> sqlite3.Connection:
    return sqlite3.connect(server.data_dir / "messenger.db", isolation_level=None)


def packages_to(server, device_id: int) -> int:
    with database(server) as db:
        return db.execute("SELECT COUNT(*) FROM room_key_packages WHERE device_session_id = ?",
                          (device_id,)).fetchone()[0]


def reset_password(server, username: str) -> str:
    out = server.admin("reset-password", username)
    return re.search(r"new password \(shown once\): (\S+)", out).group(1)


def direct_room(alice: Cli, alice_name: str, bob: Cli, bob_name: str) -> int:
    alice.ok("send", f"@{bob_name}", "the quarterly numbers")
    room_id = json.loads(alice.ok("rooms", "--json").splitlines()[0])["id"]
    bob.ok("send", room_id, "keep them between us")
    return room_id


def alice_and_bob(server, tmp_path) -> tuple[Cli, str, Cli, str, int]:
    """Two people signed in with `messenger chat` (a folder each) who talked in a direct room:
    `(alice, her name, bob, his name, the room)`."""
    alice_name, bob_name = register(server), register(server)
    alice, bob = Cli(server, tmp_path / "alice"), Cli(server, tmp_path / "bob")
    alice.login(alice_name)
    bob.login(bob_name)
    return alice, alice_name, bob, bob_name, direct_room(alice, alice_name, bob, bob_name)


def states(history: list[dict]) -> list[tuple]:
    return [(m["state"], m["text"]) for m in history]


READABLE = [("readable", "the quarterly numbers"), ("readable", "keep them between us")]
WAITING = [("waiting_for_keys", None)] * 2


def test_an_operator_who_resets_a_password_reads_nothing_until_the_user_approves_the_device(server, tmp_path):
    alice, alice_name, bob, bob_name, room_id = alice_and_bob(server, tmp_path)
    online = alice.start("tail", room_id, "--timeout", 180)  # alice's desk is online and answers key requests
    online.wait_for_stderr("listening")

    new_password = reset_password(server, bob_name)
    operator = Cli(server, tmp_path / "operator")
    device_id, code = approval_code(operator.login(bob_name, new_password))
    assert states(operator.history(room_id, "--wait-keys", 5)) == WAITING
    assert packages_to(server, device_id) == 0
    sent = operator.run("send", room_id, "send the numbers to my private address")
    assert sent.returncode == 1 and "error: E2E_DEVICE_UNVERIFIED" in sent.stderr
    approved = operator.run("approve", device_id, "--code", code)  # it does not hold bob's identity
    assert approved.returncode == 1 and "error: E2E_IDENTITY_UNAVAILABLE" in approved.stderr

    # Bob signs in again on his own computer: it holds his identity, so it approves itself.
    assert "E2E_DEVICE_UNVERIFIED" not in bob.login(bob_name, new_password)
    listed = {d["device_session_id"]: d for d in map(json.loads, bob.ok("devices", "--json").splitlines())}
    assert listed[device_id]["verified"] is False and [d["verified"] for d in listed.values() if d["current"]] == [True]
    assert states(bob.history(room_id, "--wait-keys", 30)) == READABLE
    assert states(operator.history(room_id, "--wait-keys", 3)) == WAITING
    assert packages_to(server, device_id) == 0

    wrong = bob.run("approve", device_id, "--code", "12345 67890 12345")
    assert wrong.returncode == 1 and "error: E2E_VERIFICATION_CODE_WRONG" in wrong.stderr
    bob.ok("approve", device_id, "--code", code)  # had it been bob's own new laptop
    assert states(operator.history(room_id, "--wait-keys", 30)) == READABLE
    assert online.interrupt() == 0


def test_the_recovery_key_approves_a_new_device_and_restores_the_history_when_no_old_one_is_left(server, tmp_path):
    alice_name, bob_name = register(server), register(server)
    alice, bob = Cli(server, tmp_path / "alice"), Cli(server, tmp_path / "bob")
    alice.login(alice_name)
    bob_recovery = recovery_key(bob.login(bob_name))
    room_id = direct_room(alice, alice_name, bob, bob_name)
    short = bob.run("backup-keys", "--passphrase-stdin", stdin="short pass\n")
    assert short.returncode == 1 and "error: E2E_BACKUP_PASSPHRASE_WEAK" in short.stderr
    bob.ok("backup-keys", "--recovery-key-stdin", stdin=bob_recovery + "\n")
    bob.ok("logout")  # bob's only computer is gone, and with it his identity key; nobody is online

    laptop = Cli(server, tmp_path / "bob-laptop")
    approval_code(laptop.login(bob_name))
    assert states(laptop.history(room_id, "--wait-keys", 2)) == WAITING
    typo = bob_recovery[:-1] + ("A" if bob_recovery[-1] != "A" else "B")
    wrong = laptop.run("recover", "--recovery-key-stdin", stdin=typo + "\n")
    assert wrong.returncode == 1 and "error: E2E_RECOVERY_KEY_WRONG" in wrong.stderr
    recovered = laptop.run("recover", "--recovery-key-stdin", stdin=bob_recovery.lower().replace(" ", "-") + "\n")
    assert recovered.returncode == 0 and "restored 1 room keys" in recovered.stderr, recovered.stderr
    assert states(laptop.history(room_id, "--wait-keys", 0)) == READABLE
    laptop.ok("send", room_id, "back, on a new laptop")
    assert states(alice.history(room_id, "--wait-keys", 10))[-1] == ("readable", "back, on a new laptop")


def test_a_device_the_operator_adds_or_signs_with_a_new_identity_gets_no_key(server, devices, tmp_path):
    """The operator adds a device to bob with a made-up signature, then replaces bob's identity
    with one of its own that signs the device: alice's device seals nothing to it, answers none
    of its requests, and warns that bob's identity changed."""
    alice_name, bob_name = register(server), register(server)
    alice, bob = devices(server, alice_name), devices(server, bob_name)
    room_id = alice.api.create_room([bob.api.user["id"]])["room_id"]
    first = alice.send(room_id, "for bob only")
    wait_until(lambda: bob.readables(room_id)[first].state is ContentState.READABLE)

    ghost_api = login(server, bob_name)  # as if the operator had reset the password
    ghost = DeviceKeys.generate()
    assert ghost_api.put("/api/keys/device", json={"encryption_key": ghost.public_key,
                                                   "signing_key": ghost.signing_public_key}).status_code == 201
    ghost_id = next(d["device_session_id"] for d in ghost_api.get(f"/api/keys/users/{bob.api.user['id']}").json()[
        "devices"] if d["encryption_key"] == ghost.public_key)
    with database(server) as db:  # a signature the admin tool cannot make: random bytes
        db.execute("UPDATE device_keys SET identity_signature = ? WHERE device_session_id = ?",
                   (base64.b64encode(os.urandom(64)).decode(), ghost_id))
    assert ghost_api.post(f"/api/rooms/{room_id}/keys/requests", json={"versions": [1]}).status_code == 201
    alice.keys.sync_all()  # alice's device considers the open request
    assert not alice.keys.identity_changes()

    fake = IdentityKeys.generate()  # bob's identity swapped for the operator's, which signs the ghost
    signature = fake.sign_device(bob.api.user["id"], ghost_id, ghost.public_key, ghost.signing_public_key)
    with database(server) as db:
        db.execute("UPDATE identity_keys SET public_key = ? WHERE user_id = ?", (fake.public_key, bob.api.user["id"]))
        db.execute("UPDATE device_keys SET identity_signature = ? WHERE device_session_id = ?", (signature, ghost_id))
    assert ghost_api.post(f"/api/rooms/{room_id}/keys/requests", json={"versions": [1]}).status_code == 201
    alice.keys.sync_all()
    # A new version (as after a rotation) goes to bob's real device, never to the ghost.
    with database(server) as db:
        db.execute("UPDATE room_key_states SET rotation_required = 1 WHERE room_id = ?", (room_id,))
        db.execute("INSERT OR IGNORE INTO room_key_states (room_id, history_visible_to_new_members, "
                   "rotation_required) VALUES (?, 1, 1)", (room_id,))
    second = alice.send(room_id, "after the ghost appeared")
    assert alice.keys.directory.key_state(room_id)["current_version"] == 2
    assert alice.keys.identity_changes() == {bob.api.user["id"]: fake.public_key}
    wait_until(lambda: bob.readables(room_id)[second].text == "after the ghost appeared")
    assert packages_to(server, ghost_id) == 0


def test_plaintext_the_operator_writes_as_a_member_is_marked(server, tmp_path):
    alice, alice_name, bob, bob_name, room_id = alice_and_bob(server, tmp_path)
    with database(server) as db:  # alice's sealed message becomes the operator's words
        db.execute("UPDATE messages SET content = ?, encrypted = 0 WHERE id = (SELECT MIN(id) FROM messages "
                   "WHERE room_id = ?)", ("pay invoice 991 to account 12-34", room_id))
    forged, honest = bob.history(room_id)
    assert (forged["state"], forged["error_code"], forged["end_to_end"]) == ("not_encrypted", "E2E_NOT_ENCRYPTED", False)
    assert (honest["state"], honest["end_to_end"]) == ("readable", True)
    lines = bob.ok("history", room_id).splitlines()
    assert lines[0].endswith(f"{alice_name}: [E2E_NOT_ENCRYPTED] pay invoice 991 to account 12-34")
    assert "[E2E_NOT_ENCRYPTED]" not in lines[1]


def key_id_of(device, room_id: int, message_id: int) -> str:
    return next(m for m in device.api.messages(room_id)["messages"] if m["id"] == message_id)["content"].split(":")[1]


def clear_rotation_flag(server, room_id: int) -> None:
    with database(server) as db:
        db.execute("UPDATE room_key_states SET rotation_required = 0 WHERE room_id = ?", (room_id,))


def test_a_room_rolled_back_to_an_older_key_or_kept_on_a_leavers_key_rotates_by_itself(server, devices):
    alice_name, bob_name, carol_name = register(server), register(server), register(server)
    alice, bob, carol = (devices(server, name) for name in (alice_name, bob_name, carol_name))
    room_id = alice.api.create_room([bob.api.user["id"], carol.api.user["id"]], name="rollback")["room_id"]
    first = alice.send(room_id, "one")
    carol.api.leave_room(room_id)
    clear_rotation_flag(server, room_id)  # the server hides that carol left
    second = alice.send(room_id, "carol must not read this")
    assert key_id_of(alice, room_id, second) != key_id_of(alice, room_id, first)
    assert alice.keys.directory.key_state(room_id)["current_version"] == 2

    with database(server) as db:  # version 2 erased: the room looks as if it were still on version 1
        db.execute("DELETE FROM room_key_packages WHERE room_id = ? AND key_version = 2", (room_id,))
        db.execute("DELETE FROM room_keys WHERE room_id = ? AND version = 2", (room_id,))
    clear_rotation_flag(server, room_id)
    third = alice.send(room_id, "after the rollback")
    assert key_id_of(alice, room_id, third) not in {key_id_of(alice, room_id, first), key_id_of(alice, room_id, second)}
    wait_until(lambda: bob.readables(room_id)[third].text == "after the rollback")


def test_a_revoked_device_an_old_key_and_a_hundred_messages_each_start_a_new_key(server, devices):
    alice_name, bob_name = register(server), register(server)
    alice, bob = devices(server, alice_name), devices(server, bob_name)
    bob_laptop = devices(server, bob_name)
    bob.keys.approve_device(bob_laptop.keys.device_session_id, bob_laptop.keys.verification_code())
    room_id = alice.api.create_room([bob.api.user["id"]])["room_id"]

    def send(text: str) -> str:
        """The key id of the message sent (read back at once: it is the room's latest)."""
        return key_id_of(alice, room_id, alice.send(room_id, text))

    keys = [send("one")]
    bob.api.revoke_device_session(bob_laptop.keys.device_session_id)  # a stolen laptop, say
    keys.append(send("after the revocation"))
    with database(server) as db:
        db.execute("UPDATE room_keys SET created_at = datetime('now', '-8 days') WHERE room_id = ?", (room_id,))
    keys.append(send("a week later"))
    assert len(set(keys)) == 3
    for n in range(99):  # "a week later" was the first message under the third key
        assert send(f"message {n}") == keys[-1]
    last = alice.send(room_id, "the 101st")
    assert key_id_of(alice, room_id, last) not in keys
    wait_until(lambda: bob.readables(room_id)[last].text == "the 101st")


def test_after_an_identity_change_the_cli_shows_the_number_to_compare_then_trust_pins_it(server, tmp_path):
    """Bob starts over (every device and the recovery key lost): alice's `safety-number` shows the
    number of bob's new identity, the one bob sees too, and after `trust` it stays that number."""
    alice_name, bob_name = register(server), register(server)
    alice, bob = Cli(server, tmp_path / "alice"), Cli(server, tmp_path / "bob")
    alice.login(alice_name)
    bob.login(bob_name)
    alice.ok("send", f"@{bob_name}", "hello")
    before = alice.ok("safety-number", f"@{bob_name}").strip()
    assert before == bob.ok("safety-number", f"@{alice_name}").strip()

    new_bob = Cli(server, tmp_path / "new-bob")
    new_bob.login(bob_name)
    new_bob.ok("reset-identity", "--yes")
    shown = alice.ok("safety-number", f"@{bob_name}").strip()
    assert shown != before and shown == new_bob.ok("safety-number", f"@{alice_name}").strip()
    alice.ok("trust", f"@{bob_name}")
    assert alice.ok("safety-number", f"@{bob_name}").strip() == shown


def test_messages_the_operator_re_attributes_replays_re_targets_or_moves_show_as_tampered(server, tmp_path):
    alice, alice_name, bob, bob_name, room_id = alice_and_bob(server, tmp_path)
    for text in ("pay the usual supplier", "the code is 4417", "lunch at noon", "see you there"):
        alice.ok("send", room_id, text)
    history = bob.history(room_id, "--wait-keys", 30)
    ids = [m["id"] for m in history]
    assert [(m["state"], m["signed"], m["mark"]) for m in history] == [("readable", True, None)] * 6
    bob_id = history[1]["sender_id"]
    operator, carol = login(server, alice_name), login(server, register(server))  # a group to move one into
    elsewhere = operator.post("/api/rooms", json={"member_ids": [bob_id, carol.user["id"]]}).json()["room_id"]
    assert elsewhere != room_id
    with database(server) as db:
        db.execute("UPDATE messages SET sender_id = ? WHERE id = ?", (bob_id, ids[2]))  # "bob said it"
        db.execute("UPDATE messages SET reply_to = ? WHERE id = ?", (ids[2], ids[4]))  # a reply it never was
        db.execute("UPDATE messages SET room_id = ? WHERE id = ?", (elsewhere, ids[5]))
        db.execute("INSERT INTO messages (room_id, sender_id, content, encrypted, message_type, created_at) "
                   "SELECT room_id, sender_id, content, encrypted, message_type, created_at FROM messages "
                   "WHERE id = ?", (ids[3],))  # the code sent again, later
    shown = {m["id"]: m for m in bob.history(room_id)}
    tampered = {m["id"]: m["error_code"] for m in shown.values() if m["state"] == "tampered" and m["text"] is None}
    [replayed] = [message_id for message_id in shown if message_id > ids[5]]
    assert tampered == {ids[2]: "E2E_MISATTRIBUTED", ids[4]: "E2E_MISATTRIBUTED", replayed: "E2E_REPLAYED"}
    assert (shown[ids[3]]["state"], shown[ids[3]]["text"]) == ("readable", "the code is 4417")
    moved = next(m for m in bob.history(elsewhere) if m["id"] == ids[5])
    assert (moved["state"], moved["error_code"], moved["text"]) == ("tampered", "E2E_SIGNATURE_INVALID", None)
    lines = bob.ok("history", room_id).splitlines()
    assert sum("[E2E_MISATTRIBUTED]" in line for line in lines) == 2
    assert not any("pay the usual supplier" in line for line in lines)


def test_an_unsigned_v3_message_still_reads_marked_not_signed(server, devices):
    alice_name, bob_name = register(server), register(server)
    alice, bob = devices(server, alice_name), devices(server, bob_name)
    room_id = alice.api.create_room([bob.api.user["id"]])["room_id"]
    signed = alice.send(room_id, "signed")
    # Written as clients did before v5 (v3 under the same room key), as an old desk still does.
    unsigned = alice.realtime.send_message(room_id, alice.keys.keyring(room_id).encrypt("from an older desk"),
                                           encrypted=True, client_msg_id="older-desk-1")["message_id"]
    wait_until(lambda: bob.readables(room_id)[unsigned].text == "from an older desk")
    readables = bob.readables(room_id)
    assert (readables[signed].signed, readables[signed].mark) == (True, None)
    assert (readables[unsigned].signed, readables[unsigned].mark) == (False, "E2E_NOT_SIGNED")


def add_ghost(server, room_id: int, user_id: int) -> None:
    """The operator writes a membership no member made."""
    with database(server) as db:
        db.execute("INSERT INTO room_members (room_id, user_id, role, joined_at, last_read_message_id, pinned, muted) "
                   "SELECT room_id, ?, 'member', joined_at, 0, 0, 0 FROM room_members WHERE room_id = ? LIMIT 1",
                   (user_id, room_id))


def test_a_member_the_operator_adds_gets_no_key_and_is_reported_one_a_member_adds_reads_everything(server, devices, tmp_path):
    names = [register(server) for _ in range(4)]
    alice, bob, ghost, erin = (devices(server, name) for name in names)
    ids = {name: device.api.user["id"] for name, device in zip(("bob", "ghost", "erin"), (bob, ghost, erin))}
    room_id = alice.api.create_room([], name="budget")["room_id"]
    alice.api.add_members(room_id, [ids["bob"]])
    before = alice.send(room_id, "before anyone else")
    wait_until(lambda: bob.readables(room_id)[before].text == "before anyone else")

    add_ghost(server, room_id, ids["ghost"])
    after = alice.send(room_id, "the budget is 120")
    ghost.keys.sync_room(room_id)  # asks the room for every version
    bob.send(room_id, "bob's view")  # bob seals too: only to the members he vouches for
    wait_until(lambda: bob.readables(room_id)[after].text == "the budget is 120")
    assert alice.keys.unvouched_members(room_id) == {room_id: [ids["ghost"]]}
    assert bob.keys.unvouched_members(room_id) == {room_id: [ids["ghost"]]}
    assert packages_to(server, ghost.keys.device_session_id) == 0
    assert {r.state for r in ghost.readables(room_id).values() if r.state is not ContentState.NOT_ENCRYPTED} == {
        ContentState.WAITING_FOR_KEYS}

    # A member adds erin from her device: the next version carries it, and every member seals to her.
    alice.api.add_members(room_id, [ids["erin"]])
    alice.keys.vouch(room_id, [ids["erin"]])
    welcome = alice.send(room_id, "welcome, erin")
    from_bob = bob.send(room_id, "hello erin, from bob")
    wait_until(lambda: erin.readables(room_id)[welcome].text == "welcome, erin")
    wait_until(lambda: erin.readables(room_id)[from_bob].text == "hello erin, from bob")
    assert bob.keys.unvouched_members(room_id) == {room_id: [ids["ghost"]]}
    assert packages_to(server, ghost.keys.device_session_id) == 0


def test_the_cli_reports_a_ghost_member_when_it_sends(server, tmp_path):
    alice, alice_name, bob, bob_name, room_id = alice_and_bob(server, tmp_path)
    ghost_name = register(server)
    add_ghost(server, room_id, login(server, ghost_name).user["id"])
    ghost = Cli(server, tmp_path / "ghost")
    ghost.login(ghost_name)
    sent = alice.run("send", room_id, "still only for bob")
    assert sent.returncode == 0 and "warning: E2E_MEMBER_UNVOUCHED" in sent.stderr and ghost_name in sent.stderr
    assert states(ghost.history(room_id, "--wait-keys", 3))[-1] == ("waiting_for_keys", None)
