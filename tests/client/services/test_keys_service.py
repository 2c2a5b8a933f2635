"""This device's end-to-end keys against a real server: where the secrets live, opening only
honest packages, making versions (and losing a race to make one), answering key requests,
the key backup, and how message content reads on this device."""

import base64
import json
import os
import sqlite3
import stat
import threading
import time

import pytest
from client_kit import CHEAP_BACKUP, MemoryKeyring, group, read, wait_until
from keyring.backends import fail

from harness import PASSWORD, register_and_login
from messenger.client.services.api import ApiClient
from messenger.client.services.keys import E2EError, E2EKeys, KeyAvailability
from messenger.client.services.messages import ContentState, read_content
from messenger.client.services.session_store import SessionStore
from messenger.core.e2e import DeviceKeys, new_room_key, room_key_id, seal_to_device
from messenger.core.e2e.envelopes import encrypt_envelope
from messenger.core.e2e.identity import IdentityKeys

def sign_raw_device(api, device: DeviceKeys) -> IdentityKeys:
    """Give a raw device's user an identity that signs the device (what the client does)."""
    identity = IdentityKeys.generate()
    assert api.put("/api/keys/identity", json={"identity_key": identity.public_key}).status_code == 201
    user_id = api.get("/api/me").json()["user"]["id"]
    own = api.get(f"/api/keys/users/{user_id}").json()["devices"]
    [row] = [d for d in own if d["encryption_key"] == device.public_key]
    signature = identity.sign_device(user_id, row["device_session_id"], device.public_key, device.signing_public_key)
    assert api.put(f"/api/keys/devices/{row['device_session_id']}/signature",
                   json={"signature": signature}).status_code == 200
    return identity


def files_under(folder) -> list:
    return [p for p in folder.rglob("*") if p.is_file()]


def test_private_keys_go_to_the_keyring_and_only_public_keys_to_the_server(devices, tmp_path):
    backend = MemoryKeyring()
    keys = devices(backend=backend)
    (_, account), secret = next((k, v) for k, v in backend.secrets.items() if k[1].endswith("-keys"))
    assert account == f"{keys.username}#device-{keys.device_session_id}-keys"
    device = DeviceKeys.load(secret)
    published = keys.api._call("GET", f"/api/keys/users/{keys.api.user['id']}")["devices"]
    assert [(d["device_session_id"], d["encryption_key"], d["signing_key"]) for d in published] == [
        (keys.device_session_id, device.public_key, device.signing_public_key)]
    private_parts = secret.split(":")[1:]
    for path in files_under(tmp_path):
        content = path.read_text(errors="replace")
        assert not any(part in content for part in private_parts), path


def test_without_a_keyring_the_keys_are_in_the_owner_only_file_and_survive_a_restart(devices, server):
    keys = devices()
    token_file = keys.store.file.path
    assert stat.S_IMODE(os.stat(token_file).st_mode) == 0o600
    again = E2EKeys(keys.api, keys.store)
    again.start()  # publishing the same keys again is fine
    assert again.fingerprint == keys.fingerprint
    again.close()


def test_lost_private_keys_are_reported_not_replaced(devices):
    keys = devices()
    keys.store.forget_token(keys.api.server_url, f"{keys.username}#device-{keys.device_session_id}-keys")
    fresh = E2EKeys(keys.api, keys.store)
    with pytest.raises(E2EError) as caught:
        fresh.start()
    assert caught.value.code == "E2E_DEVICE_KEYS_LOST"


def test_first_sender_makes_version_one_and_the_cache_keeps_it_sealed_across_a_restart(devices, tmp_path):
    alice = devices()
    room_id = group(alice)
    envelope = alice.encrypt(room_id, "캐시 확인")
    state = alice.directory.key_state(room_id)
    assert state["current_version"] == 1 and not state["rotation_required"]
    [key_id] = alice.held_key_ids(room_id)
    assert envelope.startswith(f"v5:{key_id}:")
    # No package to itself (the maker holds it): only the sealed cache brings it back.
    assert alice.directory.my_keys(room_id)["packages"] == []
    cache = next(p for p in files_under(tmp_path) if p.parent.name == "e2e").read_text()
    assert "k1:" not in cache and key_id not in cache
    restarted = E2EKeys(alice.api, alice.store)
    restarted.start()
    assert read(restarted, room_id, envelope).text == "캐시 확인"
    restarted.close()


def test_a_cache_not_sealed_by_this_device_is_ignored(devices, tmp_path):
    alice = devices()
    room_id = group(alice)
    alice.encrypt(room_id, "x")
    cache_path = next(p for p in files_under(tmp_path) if p.parent.name == "e2e")
    forged_key = new_room_key()
    payload = json.dumps({"format": "messenger-room-keys/1", "rooms": {str(room_id): [forged_key]}}).encode()
    # Sealed to the device (anyone who knows its public key can), but not signed by it.
    public = DeviceKeys.load(alice.store.load_token(
        alice.api.server_url, f"{alice.username}#device-{alice.device_session_id}-keys")).public_key
    cache_path.write_text(json.dumps({"format": 1, "sealed": seal_to_device(payload, public)}))
    restarted = E2EKeys(alice.api, alice.store)
    restarted.start()
    assert restarted.held_key_ids(room_id) == set()
    restarted.close()


def test_members_open_what_is_sealed_to_them(devices):
    alice, bob = devices(), devices()
    room_id = group(alice, bob)
    envelope = alice.encrypt(room_id, "hello bob")
    bob.sync_room(room_id)
    assert read(bob, room_id, envelope).text == "hello bob"
    assert bob.status(room_id).held_versions == (1,)


def test_only_honest_packages_are_taken(devices, server):
    """A package that is unsigned, meant for another room or version, carries another key, or
    comes from a device its user's identity did not sign is refused; the honest one still
    opens afterwards."""
    bob = devices()
    mallory_api = register_and_login(server)  # a raw device of a member, with keys the test holds
    mallory = DeviceKeys.generate()
    assert mallory_api.put("/api/keys/device", json={"encryption_key": mallory.public_key,
                                                     "signing_key": mallory.signing_public_key}).status_code == 201
    room_id = mallory_api.post("/api/rooms", json={"members": [], "name": "r"}).json()["room"]["id"]
    mallory_api.post(f"/api/rooms/{room_id}/members", json={"user_ids": [bob.api.user["id"]]})
    room_key = new_room_key()
    key_id = room_key_id(room_key)
    assert mallory_api.post(f"/api/rooms/{room_id}/keys", json={
        "key_version": 1, "key_id": key_id, "packages": []}).status_code == 201
    bob_public = next(d for d in bob.directory.room_devices(room_id)
                      if d["device_session_id"] == bob.device_session_id)["encryption_key"]

    def package(room=room_id, version=1, key=room_key, signed=True, to=bob_public):
        payload = json.dumps({"room_id": room, "key_version": version, "room_key": key}).encode()
        return seal_to_device(payload, to, sender=mallory.signing if signed else None)

    def post(sealed):
        reply = mallory_api.post(f"/api/rooms/{room_id}/keys", json={
            "key_version": 1, "key_id": key_id, "packages": [{"device_session_id": bob.device_session_id,
                                                              "sealed": sealed}]})
        assert reply.status_code == 200, reply.text

    envelope = encrypt_envelope("only for members", room_key, "v3")
    for forged in (package(signed=False), package(room=room_id + 1000), package(version=2),
                   package(key=new_room_key()), package(to=DeviceKeys.generate().public_key), package()):
        post(forged)  # the last is honest but from a device no identity signed yet
        assert bob.sync_room(room_id).missing_versions == (1,)
        assert read(bob, room_id, envelope).state is ContentState.WAITING_FOR_KEYS
    sign_raw_device(mallory_api, mallory)
    post(package())
    assert bob.sync_room(room_id).missing_versions == ()
    assert read(bob, room_id, envelope).text == "only for members"
    mallory_api.close()


def test_two_devices_making_the_next_version_at_once_end_with_one_key(devices):
    alice, bob = devices(live=True), devices(live=True)
    room_id = group(alice, bob)
    alice.sync_room(room_id), bob.sync_room(room_id)
    both_ready = threading.Barrier(2)
    for keys in (alice, bob):
        listed = keys.directory.room_devices

        def in_step(room, listed=listed, keys=keys):
            keys.directory.room_devices = listed  # only the listing for version 1 waits for the other
            devices_now = listed(room)
            both_ready.wait(10)  # both have chosen version 1 before either posts it
            return devices_now

        keys.directory.room_devices = in_step
    envelopes = {}

    def send(name, keys):
        envelopes[name] = keys.encrypt(room_id, f"from {name}")

    threads = [threading.Thread(target=send, args=item) for item in (("alice", alice), ("bob", bob))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    state = alice.directory.key_state(room_id)
    assert state["current_version"] == 1 and len(state["versions"]) == 1
    winner = state["versions"][0]["key_id"]
    assert {e.split(":")[1] for e in envelopes.values()} == {winner}
    for keys in (alice, bob):
        assert keys.held_key_ids(room_id) == {winner}  # the loser dropped its own
        assert {read(keys, room_id, e).text for e in envelopes.values()} == {"from alice", "from bob"}


def test_a_new_device_waits_for_keys_and_another_device_answers_once_it_approved_it(devices):
    first = devices(live=True)
    room_id = group(first)
    envelope = first.encrypt(room_id, "before the second device")
    second = devices(first.username, live=True)
    changes = []
    second.add_listener(changes.append)
    assert not second.verified and [d["device_session_id"] for d in first.pending_devices()] == [
        second.device_session_id]
    assert second.sync_room(room_id).waiting_for_keys
    time.sleep(1.0)  # the first device hears the request and does not answer an unapproved device
    assert read(second, room_id, envelope).state is ContentState.WAITING_FOR_KEYS
    assert second.directory.my_keys(room_id)["packages"] == []
    with pytest.raises(E2EError) as refused:
        second.encrypt(room_id, "from an unapproved device")
    assert refused.value.code == "E2E_DEVICE_UNVERIFIED"
    with pytest.raises(E2EError) as wrong:
        first.approve_device(second.device_session_id, "00000 00000 00000")
    assert wrong.value.code == "E2E_VERIFICATION_CODE_WRONG"

    first.approve_device(second.device_session_id, second.verification_code())
    wait_until(lambda: read(second, room_id, envelope).shown, timeout=20)
    assert second.verified and first.pending_devices() == []
    assert read(second, room_id, envelope).text == "before the second device"
    assert room_id in changes
    packages = second.directory.my_keys(room_id)["packages"]
    assert [p["sender_device_session_id"] for p in packages] == [first.device_session_id]
    assert second.directory.open_requests(room_id) == []


def test_a_device_answers_only_versions_it_holds(devices):
    alice = devices()
    room_id = group(alice)
    alice.encrypt(room_id, "v1")
    bob = devices(live=True)  # a member with no key of the room yet
    alice.api.add_members(room_id, [bob.api.user["id"]])
    newcomer = devices(alice.username)
    newcomer.sync_room(room_id)
    # Bob, live and keyless, may have asked for the room's keys himself meanwhile: the newcomer's is the one.
    [request] = [r for r in bob.directory.open_requests(room_id)
                 if r["device_session_id"] == newcomer.device_session_id]
    bob._answer(room_id, request["request_id"])
    assert newcomer.sync_room(room_id).missing_versions == (1,)


def test_an_unknown_key_id_waits_for_one_sync_then_reads_as_no_key(devices):
    alice = devices()
    room_id = group(alice)
    alice.encrypt(room_id, "x")
    alice.sync_room(room_id)
    stranger = encrypt_envelope("not from this room", new_room_key(), "v3")
    generation = alice.generation
    assert read(alice, room_id, stranger).state is ContentState.WAITING_FOR_KEYS
    alice.wait_for_change(generation, 10)
    result = read(alice, room_id, stranger)
    assert (result.state, result.error_code) == (ContentState.CANNOT_DECRYPT, "E2E_WRONG_KEY")
    assert alice.key_availability(room_id, stranger.split(":")[1]) is KeyAvailability.UNAVAILABLE


def test_content_states(devices):
    alice = devices()
    room_id = group(alice)
    envelope = alice.encrypt(room_id, "정상")
    prefix, key_id, commitment, sender, nonce, ciphertext, signature = envelope.split(":")
    raw = bytearray(base64.b64decode(ciphertext))
    raw[0] ^= 1
    tampered = ":".join((prefix, key_id, commitment, sender, nonce, base64.b64encode(bytes(raw)).decode(), signature))
    unsigned = alice.keyring(room_id).encrypt("v3, as before signatures")
    cases = {
        envelope: (ContentState.READABLE, None),
        unsigned: (ContentState.READABLE, None),
        tampered: (ContentState.TAMPERED, "E2E_SIGNATURE_INVALID"),
        f"v5:{key_id}:short:abc=": (ContentState.MALFORMED, "E2E_MALFORMED"),
        f"v3:{key_id}:short:abc=": (ContentState.MALFORMED, "E2E_MALFORMED"),
        "no envelope at all": (ContentState.NOT_ENCRYPTED, "E2E_NOT_ENCRYPTED"),
    }
    for content, expected in cases.items():
        result = read(alice, room_id, content)
        assert (result.state, result.error_code) == expected, content
    assert read(alice, room_id, tampered).text is None
    # Signed (v5) and not signed (v3, still readable) are told apart.
    assert (read(alice, room_id, envelope).signed, read(alice, room_id, unsigned).signed) == (True, False)
    plain = read_content(alice, room_id, "평문", encrypted=False)
    assert (plain.text, plain.end_to_end) == ("평문", False)
    not_a_file = read_content(alice, room_id, alice.encrypt(room_id, "not json"), encrypted=True, message_type="file")
    assert not_a_file.state is ContentState.MALFORMED
    assert read_content(None, room_id, envelope, encrypted=True).state is ContentState.WAITING_FOR_KEYS


def test_key_backup_merges_when_another_device_wrote_first_and_restores_elsewhere(devices):
    first = devices()
    second = devices(first.username)
    first.approve_device(second.device_session_id, second.verification_code())
    assert second.refresh_verified()  # a live device hears of its approval by itself
    room_a, room_b = group(first), group(second)
    envelope_a, envelope_b = first.encrypt(room_a, "in a"), second.encrypt(room_b, "in b")
    stored = second.directory.store_backup
    raced = []

    def first_writes_in_between(blob, version):
        if not raced:
            raced.append(first.write_backup("우리 집 금고 암호 2026"))
        return stored(blob, version)

    second.directory.store_backup = first_writes_in_between
    assert second.write_backup("우리 집 금고 암호 2026") == 2  # version 1 was taken: reloaded, merged, version 2
    assert raced == [1]
    assert second.write_backup("우리 집 금고 암호 2026") == 2  # nothing new: nothing written

    third = devices(first.username)
    assert third.sync_room(room_a).waiting_for_keys
    assert third.restore_backup("우리 집 금고 암호 2026") == 2
    assert read(third, room_a, envelope_a).text == "in a"
    assert read(third, room_b, envelope_b).text == "in b"
    # The restored versions were sealed to the device itself: nothing is missing any more.
    assert third.directory.my_keys(room_a)["missing_versions"] == []
    assert third.directory.open_requests(room_a) == []


def test_a_wrong_backup_passphrase_is_refused_and_start_over_replaces_the_backup(devices):
    keys = devices()
    room_id = group(keys)
    envelope = keys.encrypt(room_id, "x")
    keys.write_backup("first passphrase")
    for attempt in (lambda: keys.restore_backup("a wrong passphrase"), lambda: keys.write_backup("a wrong passphrase")):
        with pytest.raises(E2EError) as caught:
            attempt()
        assert caught.value.code == "E2E_BACKUP_PASSPHRASE_WRONG"
    assert keys.write_backup("new passphrase", start_over=True) == 2
    other = devices(keys.username)
    assert other.restore_backup("new passphrase") == 1
    assert read(other, room_id, envelope).text == "x"


def test_a_short_passphrase_is_refused_before_anything_is_sent(devices):
    keys = devices()
    keys.encrypt(group(keys), "x")
    with pytest.raises(E2EError) as caught:
        keys.write_backup("eleven char")
    assert caught.value.code == "E2E_BACKUP_PASSPHRASE_WEAK"
    assert keys.directory.backup() is None


def test_the_login_password_is_refused_as_backup_passphrase_even_after_a_restart(devices):
    keys = devices()
    keys.encrypt(group(keys), "x")
    keys.remember_login_password(PASSWORD)
    again = E2EKeys(keys.api, keys.store, backup_cost=CHEAP_BACKUP)
    again.start()  # the check is in the sealed cache, not the password
    try:
        for device in (keys, again):
            with pytest.raises(E2EError) as caught:
                device.write_backup(PASSWORD)
            assert caught.value.code == "E2E_BACKUP_PASSPHRASE_IS_PASSWORD"
        assert keys.directory.backup() is None
        assert again.write_backup(PASSWORD + " and more") == 1
    finally:
        again.close()


def test_a_recovery_key_backup_is_bound_to_its_user_and_version(devices, server):
    """Under the recovery key the backup needs no slow derivation (160 random bits); an older
    backup the server passes off as the current one, or another user's, does not open."""
    first = devices()
    recovery = first.take_new_recovery_key()
    assert recovery is not None and first.take_new_recovery_key() is None  # shown once
    room_id = group(first)
    first.encrypt(room_id, "one")
    assert first.write_backup(recovery) == 1
    version_one = first.directory.backup()["blob"]
    assert version_one.startswith("r1:")
    other_room = group(first)
    first.encrypt(other_room, "in another room")
    assert first.write_backup(recovery) == 2
    with sqlite3.connect(server.data_dir / "messenger.db", isolation_level=None) as db:  # a rollback
        db.execute("UPDATE key_backups SET blob = ? WHERE user_id = ?", (version_one, first.user_id))
    laptop = devices(first.username)
    with pytest.raises(E2EError) as caught:
        laptop.restore_backup(recovery)
    assert caught.value.code == "E2E_BACKUP_PASSPHRASE_WRONG"
    stranger = devices()
    assert stranger.write_backup(stranger.take_new_recovery_key()) == 1
    with sqlite3.connect(server.data_dir / "messenger.db", isolation_level=None) as db:  # another user's
        db.execute("UPDATE key_backups SET blob = (SELECT blob FROM key_backups WHERE user_id = ?), version = 1 "
                   "WHERE user_id = ?", (stranger.user_id, first.user_id))
    with pytest.raises(E2EError):
        laptop.restore_backup(recovery)


def test_the_recovery_key_approves_a_device_and_restores_its_backup(devices):
    first = devices()
    recovery = first.take_new_recovery_key()
    room_id = group(first)
    envelope = first.encrypt(room_id, "kept by the recovery key")
    first.write_backup(recovery)
    laptop = devices(first.username)
    assert not laptop.verified
    with pytest.raises(E2EError) as caught:
        laptop.recover("AAAA " * 7 + "AAAA")
    assert caught.value.code == "E2E_RECOVERY_KEY_WRONG"
    assert laptop.recover(recovery.lower()) == 1
    assert laptop.verified and read(laptop, room_id, envelope).text == "kept by the recovery key"
    assert [d["verified"] for d in first.own_devices()] == [True, True]
    laptop.approve_device(first.device_session_id, first.verification_code())  # it holds the identity now


def test_a_remembered_passphrase_backs_up_new_keys_by_itself(devices):
    keys = devices(live=True)
    keys.remember_backup_passphrase("kept in memory only")
    room_id = group(keys)
    keys.encrypt(room_id, "x")
    wait_until(lambda: keys.directory.backup() is not None, timeout=20)
    other = devices(keys.username)
    assert other.restore_backup("kept in memory only") == 1


def test_sending_in_a_room_left_is_refused(devices):
    alice, bob = devices(), devices()
    room_id = group(alice, bob)
    bob.api.leave_room(room_id)
    with pytest.raises(E2EError) as caught:
        bob.encrypt(room_id, "x", timeout=5)
    assert caught.value.code == "ROOM_NOT_FOUND"
    assert not bob.status(room_id).is_member


def test_a_device_shown_later_with_other_keys_is_not_sealed_to(devices):
    alice, bob = devices(), devices()
    known = group(bob, alice)
    bob.encrypt(known, "bob has now seen alice's device")
    listed = bob.directory.room_devices
    attacker = DeviceKeys.generate()

    def swapped(room_id):  # what a server would answer that puts its own key in alice's place
        return [{**d, "encryption_key": attacker.public_key} if d["device_session_id"] == alice.device_session_id
                else d for d in listed(room_id)]

    restarted = E2EKeys(bob.api, bob.store)  # the pin survives a restart (it is in the sealed cache)
    restarted.start()
    restarted.directory.room_devices = swapped
    room_id = group(bob, alice)
    envelope = restarted.encrypt(room_id, "not for the attacker")
    restarted.close()
    assert alice.directory.my_keys(room_id)["packages"] == []
    assert alice.sync_room(room_id).missing_versions == (1,)
    assert read(alice, room_id, envelope).state is ContentState.WAITING_FOR_KEYS


def test_a_changed_identity_is_refused_until_trusted_and_its_safety_number_changes(devices):
    """Bob lost every device and his recovery key: his new identity is not believed by Alice's
    device (nothing is sealed to his device) until she accepts it after comparing numbers."""
    alice, old_bob, carol, dave = devices(), devices(), devices(), devices()
    room_id = group(alice, old_bob, carol, dave)
    alice.encrypt(room_id, "before")
    number_before = alice.safety_number(old_bob.user_id)
    assert number_before == old_bob.safety_number(alice.user_id)
    old_bob.forget(identity=True)
    bob = devices(old_bob.username)
    assert not bob.verified
    recovery = bob.reset_identity()
    assert bob.verified and recovery and bob.take_new_recovery_key() is None

    alice.api.kick(room_id, carol.user_id)  # the next message needs a new version, sealed now
    alice.encrypt(room_id, "not for the new identity yet")
    assert alice.identity_changes() == {bob.user_id: alice.directory.user_keys(bob.user_id)["identity_key"]}
    assert bob.directory.my_keys(room_id)["packages"] == []
    assert alice.safety_number(bob.user_id) == number_before  # still the pinned one
    new_number = alice.safety_number(bob.user_id, changed=True)  # the one to compare before trusting
    assert new_number != number_before and new_number == bob.safety_number(alice.user_id)
    alice.trust_identity(bob.user_id)
    assert alice.identity_changes() == {}
    number_after = alice.safety_number(bob.user_id)
    assert number_after != number_before and number_after == bob.safety_number(alice.user_id)
    alice.api.kick(room_id, dave.user_id)
    envelope = alice.encrypt(room_id, "for bob again")
    bob.sync_room(room_id)
    assert read(bob, room_id, envelope).text == "for bob again"


def test_an_approved_device_that_resets_the_identity_signs_its_messages_with_the_new_one(devices):
    """Bob's desk was approved under his first identity; after a reset its v5 envelopes must carry
    the new identity's signature, or contacts who trust the new identity see them as tampered."""
    alice, bob = devices(), devices()
    room_id = group(alice, bob)
    assert bob.verified
    bob.reset_identity()
    alice.trust_identity(bob.user_id)
    envelope = bob.encrypt(room_id, "after the reset")
    alice.sync_room(room_id)
    assert read(alice, room_id, envelope).text == "after the reset"


def test_a_device_that_loses_the_race_to_make_the_identity_takes_the_winners(devices, server, tmp_path):
    first = devices()
    store = SessionStore(tmp_path / "racer", backend=fail.Keyring())
    api = ApiClient(server.url, store)
    api.sign_in(first.username, PASSWORD, device_name="racer")
    racer = E2EKeys(api, store)
    looked = racer.directory.identity

    def first_look():
        """No identity yet, as the server said a moment before the first device published one."""
        del racer.directory.identity  # later looks ask the server again
        return None

    racer.directory.identity = first_look
    try:
        racer.start()
        assert not racer.verified and racer.take_new_recovery_key() is None
        assert store.load_token(server.url, f"{first.username}#identity") is None
        assert racer.verification_code() == first.verification_code(racer.device_session_id)
        first.approve_device(racer.device_session_id, racer.verification_code())
        assert racer.refresh_verified() and looked()["identity_key"] == first.directory.identity()["identity_key"]
    finally:
        racer.close()
        api.close()


def test_legacy_history_opens_off_the_readers_thread_once_and_is_remembered(devices, monkeypatch):
    """An imported v4 room's v1/v2 history (its l1: key restored here) costs a PBKDF2 per v2
    message: with `legacy_in_background` a reader (the GUI) never pays it, listeners hear the
    room when it is open, and each envelope is opened once (a bad one too: it is not retried)."""
    from messenger.client.services.keys import BACKUP_FORMAT
    from messenger.core.e2e import RoomKeyring, encrypt_key_backup, legacy_room_key

    keys = devices()
    keys.legacy_in_background = True
    room_id = group(keys)
    v4_key = base64.b64encode(os.urandom(32)).decode()
    backup = json.dumps({"format": BACKUP_FORMAT, "rooms": {str(room_id): [legacy_room_key(v4_key)]}}).encode()
    keys.directory.store_backup(encrypt_key_backup(backup, "옛 사무실", CHEAP_BACKUP), 1)
    assert keys.restore_backup("옛 사무실") == 1
    texts = [f"옛 메시지 {n}" for n in range(6)]
    envelopes = [encrypt_envelope(text, v4_key, "v1" if n == 0 else "v2") for n, text in enumerate(texts)]
    forged = encrypt_envelope("forged", "another key", "v2")
    opened_on = []
    real_decrypt = RoomKeyring.decrypt
    monkeypatch.setattr(RoomKeyring, "decrypt", lambda self, envelope: (
        opened_on.append((envelope, threading.current_thread().name)), real_decrypt(self, envelope))[1])
    heard = threading.Event()
    keys.add_listener(lambda changed: heard.set() if changed == room_id else None)

    first = [read(keys, room_id, envelope) for envelope in [*envelopes, forged]]
    assert {r.state for r in first} == {ContentState.WAITING_FOR_KEYS}
    assert heard.wait(15)
    wait_until(lambda: all(read(keys, room_id, e).state is not ContentState.WAITING_FOR_KEYS
                           for e in [*envelopes, forged]), 15)
    assert [read(keys, room_id, envelope).text for envelope in envelopes] == texts
    assert read(keys, room_id, forged).state is ContentState.CANNOT_DECRYPT
    assert sorted(envelope for envelope, _ in opened_on) == sorted([*envelopes, forged])  # once each
    assert all(thread.startswith("e2e-legacy") for _, thread in opened_on)


def test_a_sealed_file_name_is_its_last_part_without_direction_overrides(devices):
    """The sender chose the name inside the envelope; no path and no override survives reading it."""
    alice = devices()
    room_id = group(alice)
    described = json.dumps({"name": "../../\u202eevil.exe", "size": 3, "mime": "text/plain", "file_key": "k"})
    shared = read_content(alice, room_id, alice.encrypt(room_id, described), encrypted=True, message_type="file").file
    assert shared.name == "evil.exe"
