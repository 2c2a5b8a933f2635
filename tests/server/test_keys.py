"""End-to-end key distribution (spec/e2e-keys.md) against a real server: device public keys,
room key versions and sealed packages, "waiting for keys", key requests, the key backup.

The server never sees a key, so most keys and packages here are random bytes (one test seals
for real): what is under test is who may publish, receive and ask for what, and what is
announced to whom.
"""

from __future__ import annotations

import base64
import os
from datetime import datetime, timezone

import pytest
from sqlalchemy import create_engine, inspect
from sqlalchemy import text as sql_text

from harness import PASSWORD, login, register_and_login, unique_name


def public_key() -> str:
    return base64.b64encode(os.urandom(32)).decode()


def sealed() -> str:
    """Stands in for a room key sealed to a device: opaque to the server."""
    return base64.b64encode(os.urandom(120)).decode()


def publish(api) -> dict:
    """Publish fresh public keys for `api`'s device; returns them."""
    keys = {"encryption_key": public_key(), "signing_key": public_key()}
    reply = api.put("/api/keys/device", json=keys)
    assert reply.status_code == 201, reply.text
    return keys


def keyed_user(server):
    """A new user whose signed-in device has published its keys."""
    api = register_and_login(server)
    publish(api)
    return api


def keyed_device(server, api, name: str = "second desk"):
    """Another signed-in device of `api`'s user, with its published keys in `.keys`."""
    other = login(server, api.user["username"], device_name=name)
    other.keys = publish(other)
    return other


def room_of(creator, *others) -> int:
    """A room of `creator` and `others`: a direct room for two people, else a group."""
    reply = creator.post("/api/rooms", json={"member_ids": [o.user["id"] for o in others], "name": unique_name("r")})
    assert reply.status_code == 201, reply.text
    return reply.json()["room_id"]


def kid(n: int) -> str:
    """A key id of the v3 form (16 hex digits); the real ones hash the room key."""
    return f"{n:016x}"


def share(api, room_id: int, version: int, *devices, key_id: str | None = None):
    """Post one key version sealed to each of `devices` (Api clients)."""
    return api.post(f"/api/rooms/{room_id}/keys", json={
        "key_version": version, "key_id": key_id or kid(version),
        "packages": [{"device_session_id": d.device_session_id, "sealed": sealed()} for d in devices]})


def state(api, room_id: int) -> dict:
    reply = api.get(f"/api/rooms/{room_id}/keys/state")
    assert reply.status_code == 200, reply.text
    return reply.json()


def mine(api, room_id: int) -> dict:
    reply = api.get(f"/api/rooms/{room_id}/keys/mine")
    assert reply.status_code == 200, reply.text
    return reply.json()


def error_code(reply) -> str:
    return reply.json()["error_code"]


# --- device keys ---------------------------------------------------------------------------

def test_device_publishes_its_keys_once_and_other_devices_hear_of_it(server, sockets):
    alice = register_and_login(server)
    first_sock = sockets(alice)
    second = login(server, alice.user["username"], device_name="노트북")
    keys = publish(second)
    heard = first_sock.wait_for("device_keys_published", lambda e: e["device_session_id"] == second.device_session_id)
    assert heard["user_id"] == alice.user["id"] and heard["encryption_key"] == keys["encryption_key"]
    assert heard["device_name"] == "노트북"

    again = second.put("/api/keys/device", json=keys)
    assert again.status_code == 200 and again.json()["created"] is False
    other = second.put("/api/keys/device", json={"encryption_key": public_key(), "signing_key": keys["signing_key"]})
    assert other.status_code == 409 and error_code(other) == "DEVICE_KEYS_ALREADY_PUBLISHED"
    listed = alice.get(f"/api/keys/users/{alice.user['id']}").json()["devices"]
    assert [(d["device_session_id"], d["encryption_key"], d["signing_key"]) for d in listed] == [
        (second.device_session_id, keys["encryption_key"], keys["signing_key"])]


def test_public_keys_are_listed_for_people_sharing_a_room_only(server):
    alice, bob, carol, stranger = (keyed_user(server) for _ in range(4))
    room_of(alice, bob, carol)
    bob_laptop = keyed_device(server, bob)
    listed = alice.get(f"/api/keys/users/{bob.user['id']}").json()["devices"]
    assert {d["device_session_id"] for d in listed} == {bob.device_session_id, bob_laptop.device_session_id}
    assert all(d["user_id"] == bob.user["id"] for d in listed)

    hidden = alice.get(f"/api/keys/users/{stranger.user['id']}")
    assert hidden.status_code == 404 and error_code(hidden) == "USER_NOT_FOUND"

    bob_laptop.delete("/api/device-sessions/current")
    listed = alice.get(f"/api/keys/users/{bob.user['id']}").json()["devices"]
    assert [d["device_session_id"] for d in listed] == [bob.device_session_id]


def test_room_devices_are_every_members_live_keyed_devices_for_members_only(server):
    alice, bob = keyed_user(server), keyed_user(server)
    carol = register_and_login(server)  # a member who has not published keys yet
    outsider = keyed_user(server)
    room_id = room_of(alice, bob, carol)
    alice_laptop = keyed_device(server, alice)
    reply = bob.get(f"/api/rooms/{room_id}/devices")
    assert reply.status_code == 200
    devices = reply.json()["devices"]
    assert {d["device_session_id"] for d in devices} == {alice.device_session_id, alice_laptop.device_session_id,
                                                          bob.device_session_id}
    assert set(devices[0]) >= {"device_session_id", "user_id", "device_name", "encryption_key", "signing_key",
                               "published_at"}
    refused = outsider.get(f"/api/rooms/{room_id}/devices")
    assert refused.status_code == 404 and error_code(refused) == "ROOM_NOT_FOUND"


# --- room key versions and packages --------------------------------------------------------

def test_new_room_needs_a_key_and_the_first_version_reaches_members_devices(server, sockets):
    alice, bob, carol = (keyed_user(server) for _ in range(3))
    room_id = room_of(alice, bob, carol)
    fresh = state(alice, room_id)
    assert fresh["current_version"] == 0 and fresh["rotation_required"] is True and fresh["versions"] == []
    assert fresh["history_visible_to_new_members"] is True
    bob_sock, carol_sock = sockets(bob), sockets(carol)

    reply = share(alice, room_id, 1, bob, carol)
    assert reply.status_code == 201, reply.text
    assert reply.json()["created"] is True and reply.json()["stored"] == 2
    available = bob_sock.wait_for("room_key_available", lambda e: e["room_id"] == room_id)
    assert available["key_version"] == 1 and available["key_id"] == kid(1)
    assert available["device_session_ids"] == [bob.device_session_id]
    created = carol_sock.wait_for("room_key_created", lambda e: e["room_id"] == room_id)
    assert created["key_version"] == 1 and created["created_by"] == alice.user["id"]

    now = state(bob, room_id)
    assert now["current_version"] == 1 and now["current_key_id"] == kid(1) and now["rotation_required"] is False
    bob_keys = mine(bob, room_id)
    assert [(p["key_version"], p["sender_device_session_id"]) for p in bob_keys["packages"]] == [
        (1, alice.device_session_id)]
    assert bob_keys["packages"][0]["sender_signing_key"] is not None and bob_keys["missing_versions"] == []
    # The device that made the version holds it without a package.
    assert mine(alice, room_id)["missing_versions"] == []


def test_a_room_key_sealed_on_one_device_opens_on_the_other(server):
    """The server relays real packages intact: what one device seals, the other opens and verifies."""
    from messenger.core.e2e.envelopes import new_room_key, room_key_id
    from messenger.core.e2e.keys import DeviceKeys, open_sealed, seal_to_device

    alice, bob = register_and_login(server), register_and_login(server)
    alice_keys, bob_keys = DeviceKeys.generate(), DeviceKeys.generate()
    for api, own in ((alice, alice_keys), (bob, bob_keys)):
        api.put("/api/keys/device", json={"encryption_key": own.public_key, "signing_key": own.signing_public_key})
    room_id = room_of(alice, bob)
    [bob_device] = [d for d in alice.get(f"/api/rooms/{room_id}/devices").json()["devices"]
                    if d["user_id"] == bob.user["id"]]
    room_key = new_room_key()
    reply = alice.post(f"/api/rooms/{room_id}/keys", json={
        "key_version": 1, "key_id": room_key_id(room_key),
        "packages": [{"device_session_id": bob_device["device_session_id"],
                      "sealed": seal_to_device(room_key.encode(), bob_device["encryption_key"],
                                               sender=alice_keys.signing)}]})
    assert reply.status_code == 201, reply.text
    [package] = mine(bob, room_id)["packages"]
    assert package["key_id"] == room_key_id(room_key)
    opened = open_sealed(package["sealed"], bob_keys.exchange, sender_public_key=package["sender_signing_key"])
    assert opened.decode() == room_key


def test_package_for_a_non_members_device_is_refused_and_nothing_is_stored(server, sockets):
    alice, bob, outsider = (keyed_user(server) for _ in range(3))
    room_id = room_of(alice, bob)
    outsider_sock = sockets(outsider)
    reply = share(alice, room_id, 1, bob, outsider)
    assert reply.status_code == 403 and error_code(reply) == "ROOM_KEY_TARGET_INVALID"
    assert str(outsider.device_session_id) in reply.json()["error"]
    assert state(alice, room_id)["current_version"] == 0
    assert mine(bob, room_id)["packages"] == []
    assert "room_key_available" not in outsider_sock.names()


def test_packages_for_revoked_or_unkeyed_devices_are_refused(server):
    alice, bob = keyed_user(server), keyed_user(server)
    bob_old = keyed_device(server, bob, "old desk")
    bob_unkeyed = login(server, bob.user["username"], device_name="not set up")
    room_id = room_of(alice, bob)
    bob_old.delete("/api/device-sessions/current")
    for target in (bob_old, bob_unkeyed):
        reply = share(alice, room_id, 1, bob, target)
        assert reply.status_code == 403 and error_code(reply) == "ROOM_KEY_TARGET_INVALID"
    assert state(alice, room_id)["current_version"] == 0


def test_key_version_must_be_the_next_one_or_an_existing_one_with_its_id(server):
    alice, bob = keyed_user(server), keyed_user(server)
    room_id = room_of(alice, bob)
    assert share(alice, room_id, 1).status_code == 201
    skipped = share(alice, room_id, 3, bob)
    assert skipped.status_code == 409 and error_code(skipped) == "ROOM_KEY_VERSION_CONFLICT"
    wrong_id = share(alice, room_id, 1, bob, key_id=kid(0xbad))
    assert wrong_id.status_code == 409 and error_code(wrong_id) == "ROOM_KEY_VERSION_CONFLICT"
    reused_id = share(bob, room_id, 2, alice, key_id=kid(1))
    assert reused_id.status_code == 409 and error_code(reused_id) == "ROOM_KEY_VERSION_CONFLICT"
    assert mine(bob, room_id)["packages"] == []
    assert [v["key_version"] for v in state(bob, room_id)["versions"]] == [1]

    resent = share(alice, room_id, 1, bob)
    assert resent.status_code == 200 and resent.json()["created"] is False
    assert share(bob, room_id, 2, alice).status_code == 201
    assert state(alice, room_id)["current_version"] == 2


def test_resending_to_a_device_replaces_the_senders_own_package(server):
    alice, bob = keyed_user(server), keyed_user(server)
    room_id = room_of(alice, bob)
    share(alice, room_id, 1, bob)
    second = alice.post(f"/api/rooms/{room_id}/keys", json={
        "key_version": 1, "key_id": kid(1), "packages": [{"device_session_id": bob.device_session_id,
                                                        "sealed": "second-try"}]})
    assert second.status_code == 200
    assert [p["sealed"] for p in mine(bob, room_id)["packages"]] == ["second-try"]


def test_sealing_needs_a_device_with_published_keys(server):
    alice, bob = keyed_user(server), keyed_user(server)
    room_id = room_of(alice, bob)
    unkeyed = login(server, alice.user["username"], device_name="fresh install")
    reply = share(unkeyed, room_id, 1, bob)
    assert reply.status_code == 409 and error_code(reply) == "DEVICE_KEYS_NOT_PUBLISHED"
    assert state(alice, room_id)["current_version"] == 0


def test_a_browser_session_is_a_key_holding_device_of_its_own(server):
    """The browser client (hybrid mode) is a device like a desk: its cookie session publishes keys
    (with its CSRF token) and then appears among the room's devices, so keys are sealed to it."""
    alice, bob = keyed_user(server), keyed_user(server)
    room_id = room_of(alice, bob)
    browser = server.api()
    signed_in = browser.post("/api/login", json={"username": alice.user["username"], "password": PASSWORD})
    assert signed_in.status_code == 200
    csrf, browser_id = signed_in.json()["csrf_token"], signed_in.json()["device_session_id"]
    assert error_code(browser.post(f"/api/rooms/{room_id}/keys/requests", json={"versions": [1]},
                                   headers={"X-CSRFToken": csrf})) == "DEVICE_KEYS_NOT_PUBLISHED"
    keys = {"encryption_key": public_key(), "signing_key": public_key()}
    assert browser.put("/api/keys/device", json=keys, headers={"X-CSRFToken": csrf}).status_code == 201
    listed = bob.get(f"/api/rooms/{room_id}/devices").json()["devices"]
    assert browser_id in {d["device_session_id"] for d in listed}
    browser.device_session_id = browser_id
    assert share(bob, room_id, 1, alice, browser).status_code == 201
    assert [p["key_version"] for p in mine(browser, room_id)["packages"]] == [1]


# --- a new device: waiting for keys, key requests ------------------------------------------

def test_new_device_waits_for_keys_until_another_device_answers_its_request(server, sockets):
    alice, bob = keyed_user(server), keyed_user(server)
    room_id = room_of(alice, bob)
    assert share(alice, room_id, 1, bob).status_code == 201
    assert share(bob, room_id, 2, alice).status_code == 201
    alice_sock, bob_sock = sockets(alice), sockets(bob)

    laptop = keyed_device(server, alice, "새 노트북")
    laptop_sock = sockets(laptop)
    waiting = mine(laptop, room_id)
    assert waiting["packages"] == [] and waiting["missing_versions"] == [1, 2]

    asked = laptop.post(f"/api/rooms/{room_id}/keys/requests", json={"versions": [1, 2]})
    assert asked.status_code == 201, asked.text
    heard = alice_sock.wait_for("room_key_requested", lambda e: e["device_session_id"] == laptop.device_session_id)
    assert heard["room_id"] == room_id and heard["versions"] == [1, 2] and heard["user_id"] == alice.user["id"]
    assert heard["encryption_key"] == laptop.keys["encryption_key"] and heard["device_name"] == "새 노트북"
    assert bob_sock.wait_for("room_key_requested")["request_id"] == heard["request_id"]
    listed = bob.get(f"/api/rooms/{room_id}/keys/requests").json()["requests"]
    assert [(r["device_session_id"], r["versions"]) for r in listed] == [(laptop.device_session_id, [1, 2])]

    # Alice's first device holds version 1 (it made it) and answers for that.
    assert share(alice, room_id, 1, laptop).status_code == 200
    got = laptop_sock.wait_for("room_key_available", lambda e: e["room_id"] == room_id)
    assert got["key_version"] == 1 and got["device_session_ids"] == [laptop.device_session_id]
    assert mine(laptop, room_id)["missing_versions"] == [2]
    assert [r["versions"] for r in bob.get(f"/api/rooms/{room_id}/keys/requests").json()["requests"]] == [[2]]

    # Bob's device answers the rest: the request is fulfilled and the wait is over.
    assert share(bob, room_id, 2, laptop).status_code == 200
    done = alice_sock.wait_for("room_key_request_fulfilled", lambda e: e["room_id"] == room_id)
    assert done["device_session_id"] == laptop.device_session_id
    resolved = mine(laptop, room_id)
    assert resolved["missing_versions"] == [] and [p["key_version"] for p in resolved["packages"]] == [1, 2]
    assert bob.get(f"/api/rooms/{room_id}/keys/requests").json()["requests"] == []


def test_device_restored_from_backup_seals_keys_to_itself(server):
    """A device that restored keys from the backup posts them to itself, so its wait ends too."""
    alice, bob = keyed_user(server), keyed_user(server)
    room_id = room_of(alice, bob)
    share(bob, room_id, 1, alice)
    laptop = keyed_device(server, alice)
    laptop.post(f"/api/rooms/{room_id}/keys/requests", json={"versions": [1]})
    assert share(laptop, room_id, 1, laptop).status_code == 200
    assert mine(laptop, room_id)["missing_versions"] == []
    assert alice.get(f"/api/rooms/{room_id}/keys/requests").json()["requests"] == []


def test_requests_need_known_versions_a_keyed_device_and_membership(server):
    alice, bob, outsider = (keyed_user(server) for _ in range(3))
    room_id = room_of(alice, bob)
    share(alice, room_id, 1, bob)
    unknown = bob.post(f"/api/rooms/{room_id}/keys/requests", json={"versions": [1, 7]})
    assert unknown.status_code == 400 and error_code(unknown) == "VALIDATION_ERROR"
    empty = bob.post(f"/api/rooms/{room_id}/keys/requests", json={"versions": []})
    assert empty.status_code == 400
    unkeyed = login(server, bob.user["username"])
    assert error_code(unkeyed.post(f"/api/rooms/{room_id}/keys/requests", json={"versions": [1]})) == \
        "DEVICE_KEYS_NOT_PUBLISHED"
    stranger = outsider.post(f"/api/rooms/{room_id}/keys/requests", json={"versions": [1]})
    assert stranger.status_code == 404 and error_code(stranger) == "ROOM_NOT_FOUND"
    assert alice.get(f"/api/rooms/{room_id}/keys/requests").json()["requests"] == []


# --- entitlement and policy ----------------------------------------------------------------

def test_by_default_a_new_member_is_entitled_to_earlier_versions(server):
    alice, bob, carol, dave = (keyed_user(server) for _ in range(4))
    room_id = room_of(alice, bob, carol)
    share(alice, room_id, 1, bob)
    assert alice.post(f"/api/rooms/{room_id}/members", json={"user_ids": [dave.user["id"]]}).status_code == 200
    assert state(alice, room_id)["rotation_required"] is False
    assert mine(dave, room_id)["missing_versions"] == [1]
    assert share(bob, room_id, 1, dave).status_code == 200
    assert mine(dave, room_id)["missing_versions"] == []


def test_with_history_hidden_a_new_member_gets_only_versions_made_after_joining(server, sockets):
    alice, bob, carol, dave = (keyed_user(server) for _ in range(4))
    room_id = room_of(alice, bob, carol)
    share(alice, room_id, 1, bob)
    bob_sock = sockets(bob)
    hide = alice.put(f"/api/rooms/{room_id}/keys/policy", json={"history_visible_to_new_members": False})
    assert hide.status_code == 200 and hide.json()["changed"] is True
    assert bob_sock.wait_for("room_key_policy_updated")["history_visible_to_new_members"] is False
    assert state(alice, room_id)["rotation_required"] is False

    alice.post(f"/api/rooms/{room_id}/members", json={"user_ids": [dave.user["id"]]})
    assert state(alice, room_id)["rotation_required"] is True
    assert mine(dave, room_id)["missing_versions"] == []
    old = share(bob, room_id, 1, dave)
    assert old.status_code == 403 and error_code(old) == "ROOM_KEY_NOT_ENTITLED"
    asked = dave.post(f"/api/rooms/{room_id}/keys/requests", json={"versions": [1]})
    assert asked.status_code == 403 and error_code(asked) == "ROOM_KEY_NOT_ENTITLED"
    assert mine(dave, room_id)["packages"] == []

    assert share(bob, room_id, 2, alice, dave).status_code == 201
    assert state(dave, room_id)["rotation_required"] is False
    assert [p["key_version"] for p in mine(dave, room_id)["packages"]] == [2]


def test_key_policy_is_for_room_admins(server):
    alice, bob = keyed_user(server), keyed_user(server)
    room_id = room_of(alice, bob, keyed_user(server))
    reply = bob.put(f"/api/rooms/{room_id}/keys/policy", json={"history_visible_to_new_members": False})
    assert reply.status_code == 403 and error_code(reply) == "ROOM_ADMIN_REQUIRED"
    assert state(alice, room_id)["history_visible_to_new_members"] is True


def test_member_leaving_requires_a_new_version_the_leaver_cannot_get(server):
    """Needs `mark_rotation_required` called from `remove_membership` (actions/rooms.py)."""
    alice, bob, carol = (keyed_user(server) for _ in range(3))
    room_id = room_of(alice, bob, carol)
    share(alice, room_id, 1, bob, carol)
    assert carol.post(f"/api/rooms/{room_id}/leave").status_code == 200
    assert state(alice, room_id)["rotation_required"] is True
    refused = share(alice, room_id, 2, bob, carol)
    assert refused.status_code == 403 and error_code(refused) == "ROOM_KEY_TARGET_INVALID"
    assert share(alice, room_id, 2, bob).status_code == 201
    assert state(bob, room_id)["rotation_required"] is False
    assert carol.get(f"/api/rooms/{room_id}/keys/mine").status_code == 404


# --- key backup ----------------------------------------------------------------------------

def test_key_backup_round_trip_and_stale_version_conflict(server, sockets):
    alice = register_and_login(server)
    laptop = login(server, alice.user["username"], device_name="laptop")
    laptop_sock = sockets(laptop)
    missing = alice.get("/api/keys/backup")
    assert missing.status_code == 404 and error_code(missing) == "KEY_BACKUP_NOT_FOUND"

    saved = alice.put("/api/keys/backup", json={"blob": "v1-encrypted", "version": 1})
    assert saved.status_code == 200 and saved.json()["version"] == 1 and "blob" not in saved.json()
    heard = laptop_sock.wait_for("key_backup_updated")
    assert heard["version"] == 1 and heard["device_session_id"] == alice.device_session_id and "blob" not in heard
    assert laptop.get("/api/keys/backup").json()["blob"] == "v1-encrypted"

    # Both devices read version 1; the laptop saves first, the desk's write is stale.
    assert laptop.put("/api/keys/backup", json={"blob": "v2-laptop", "version": 2}).status_code == 200
    stale = alice.put("/api/keys/backup", json={"blob": "v2-desk", "version": 2})
    assert stale.status_code == 409 and error_code(stale) == "KEY_BACKUP_VERSION_CONFLICT"
    first_again = alice.put("/api/keys/backup", json={"blob": "again", "version": 1})
    assert first_again.status_code == 409
    skipped = alice.put("/api/keys/backup", json={"blob": "v4", "version": 4})
    assert skipped.status_code == 409
    stored = alice.get("/api/keys/backup").json()
    assert (stored["version"], stored["blob"]) == (2, "v2-laptop")
    assert alice.put("/api/keys/backup", json={"blob": "v3-merged", "version": 3}).status_code == 200
    assert alice.get("/api/keys/backup").json()["blob"] == "v3-merged"


def test_account_deletion_deletes_the_key_backup(server):
    """Needs `delete_key_backup` called from `do_delete_account` (actions/accounts.py)."""
    alice, bob = register_and_login(server), register_and_login(server)
    for api in (alice, bob):
        assert api.put("/api/keys/backup", json={"blob": "encrypted", "version": 1}).status_code == 200
    assert alice.request("DELETE", "/api/me", json={"password": PASSWORD}).status_code == 200
    kept = server.sql("SELECT user_id FROM key_backups WHERE user_id IN (:alice, :bob)",
                      alice=alice.user["id"], bob=bob.user["id"])
    assert kept == [(bob.user["id"],)]


def signature() -> str:
    """Stands in for an identity's signature of a device: opaque to the server."""
    return base64.b64encode(os.urandom(64)).decode()


def test_an_identity_is_published_once_and_signs_the_users_own_devices_only(server, sockets):
    alice = keyed_user(server)
    laptop = keyed_device(server, alice, "laptop")
    bob = keyed_user(server)
    room_of(alice, bob)
    laptop_sock, bob_sock = sockets(laptop), sockets(bob)
    assert alice.get("/api/keys/identity").status_code == 404
    identity = public_key()
    first = alice.put("/api/keys/identity", json={"identity_key": identity, "recovery_blob": "r1:opaque"})
    assert first.status_code == 201 and first.json()["created"] is True
    for sock in (laptop_sock, bob_sock):
        assert sock.wait_for("identity_key_published", lambda e: e["user_id"] == alice.user["id"])[
            "identity_key"] == identity
    again = laptop.put("/api/keys/identity", json={"identity_key": identity})
    assert again.status_code == 200 and again.json()["created"] is False
    assert alice.get("/api/keys/identity").json()["recovery_blob"] == "r1:opaque"  # kept
    other = laptop.put("/api/keys/identity", json={"identity_key": public_key()})
    assert other.status_code == 409 and error_code(other) == "IDENTITY_KEY_ALREADY_PUBLISHED"

    signed = signature()
    reply = alice.put(f"/api/keys/devices/{laptop.device_session_id}/signature", json={"signature": signed})
    assert reply.status_code == 200 and reply.json()["device"]["identity_signature"] == signed
    assert laptop_sock.wait_for("device_signed", lambda e: e["device_session_id"] == laptop.device_session_id)
    seen_by_bob = bob.get(f"/api/keys/users/{alice.user['id']}").json()
    assert seen_by_bob["identity_key"] == identity
    assert {d["device_session_id"]: (d["identity_key"], d["identity_signature"]) for d in seen_by_bob["devices"]}[
        laptop.device_session_id] == (identity, signed)
    assert "recovery_blob" not in bob.get(f"/api/keys/users/{alice.user['id']}").json()
    for target in (bob.device_session_id, 10 ** 9):  # someone else's device, or none
        refused = alice.put(f"/api/keys/devices/{target}/signature", json={"signature": signature()})
        assert refused.status_code == 404 and error_code(refused) == "DEVICE_SESSION_NOT_FOUND"
    bad = alice.put(f"/api/keys/devices/{laptop.device_session_id}/signature", json={"signature": public_key()})
    assert bad.status_code == 400 and error_code(bad) == "VALIDATION_ERROR"

    replaced = laptop.put("/api/keys/identity", json={"identity_key": public_key(), "replace": True})
    assert replaced.status_code == 200  # every device and the recovery key lost: the old signatures go
    listed = alice.get(f"/api/keys/users/{alice.user['id']}").json()["devices"]
    assert [d["identity_signature"] for d in listed] == [None, None]
    assert alice.get("/api/keys/identity").json()["recovery_blob"] is None


def test_account_deletion_deletes_the_identity(server):
    alice = keyed_user(server)
    assert alice.put("/api/keys/identity", json={"identity_key": public_key()}).status_code == 201
    assert alice.request("DELETE", "/api/me", json={"password": PASSWORD}).status_code == 200
    assert server.sql("SELECT COUNT(*) FROM identity_keys WHERE user_id = :id", id=alice.user["id"]) == [(0,)]


def test_key_backup_is_the_users_own(server):
    alice, bob = register_and_login(server), register_and_login(server)
    alice.put("/api/keys/backup", json={"blob": "alice-only", "version": 1})
    assert bob.get("/api/keys/backup").status_code == 404


# --- bad input -----------------------------------------------------------------------------

GOOD_KEY = base64.b64encode(bytes(range(32))).decode()


@pytest.mark.parametrize("body", [
    {"encryption_key": "not base64!!", "signing_key": GOOD_KEY},
    {"encryption_key": base64.b64encode(os.urandom(31)).decode(), "signing_key": GOOD_KEY},
    {"encryption_key": base64.b64encode(os.urandom(33)).decode(), "signing_key": GOOD_KEY},
    {"encryption_key": base64.urlsafe_b64encode(b"\xff" * 32).decode(), "signing_key": GOOD_KEY},
    {"encryption_key": 12345, "signing_key": GOOD_KEY},
    {"encryption_key": GOOD_KEY},
    {"encryption_key": GOOD_KEY, "signing_key": GOOD_KEY},
    [GOOD_KEY, GOOD_KEY],
])
def test_bad_device_keys_are_refused_and_nothing_is_published(server, body):
    api = register_and_login(server)
    reply = api.put("/api/keys/device", json=body)
    assert reply.status_code == 400 and error_code(reply) in {"VALIDATION_ERROR", "INVALID_JSON"}
    assert api.get(f"/api/keys/users/{api.user['id']}").json()["devices"] == []


K1 = kid(1)
BOB = "<bob's device>"  # replaced by bob's device session id


def with_device(value, device_id: int):
    """A copy of `value` with BOB replaced by `device_id`."""
    if isinstance(value, dict):
        return {k: with_device(v, device_id) for k, v in value.items()}
    if isinstance(value, list):
        return [with_device(v, device_id) for v in value]
    return device_id if value == BOB else value


@pytest.mark.parametrize("body, status, code", [
    ({"key_version": 1, "key_id": K1, "packages": [{"device_session_id": "7", "sealed": "x"}]},
     400, "VALIDATION_ERROR"),
    ({"key_version": 1, "key_id": K1, "packages": [{"device_session_id": BOB, "sealed": 7}]},
     400, "VALIDATION_ERROR"),
    ({"key_version": 1, "key_id": K1, "packages": [{"device_session_id": BOB, "sealed": ""}]},
     400, "VALIDATION_ERROR"),
    ({"key_version": 1, "key_id": K1, "packages": [{"device_session_id": BOB, "sealed": "x" * 4097}]},
     413, "ROOM_KEY_PACKAGE_TOO_LARGE"),
    ({"key_version": 1, "key_id": K1, "packages": [{"device_session_id": BOB, "sealed": "x"},
                                                     {"device_session_id": BOB, "sealed": "y"}]},
     400, "VALIDATION_ERROR"),
    ({"key_version": 1, "key_id": K1, "packages": {"device_session_id": BOB, "sealed": "x"}},
     400, "VALIDATION_ERROR"),
    ({"key_version": 1, "key_id": K1, "packages": ["sealed"]}, 400, "VALIDATION_ERROR"),
    ({"key_version": True, "key_id": K1, "packages": []}, 400, "VALIDATION_ERROR"),
    ({"key_version": 0, "key_id": K1, "packages": []}, 400, "VALIDATION_ERROR"),
    ({"key_version": "1", "key_id": K1, "packages": []}, 400, "VALIDATION_ERROR"),
    ({"key_version": 1, "key_id": "key id w spaces!", "packages": []}, 400, "VALIDATION_ERROR"),
    ({"key_version": 1, "key_id": "ABCDEF0123456789", "packages": []}, 400, "VALIDATION_ERROR"),
    ({"key_version": 1, "key_id": K1 + "0", "packages": []}, 400, "VALIDATION_ERROR"),
    ({"key_version": 1, "packages": []}, 400, "VALIDATION_ERROR"),
])
def test_bad_packages_are_refused_and_nothing_is_stored(server, body, status, code):
    alice, bob = keyed_user(server), keyed_user(server)
    room_id = room_of(alice, bob)
    reply = alice.post(f"/api/rooms/{room_id}/keys", json=with_device(body, bob.device_session_id))
    assert reply.status_code == status and error_code(reply) == code, reply.text
    assert state(alice, room_id)["current_version"] == 0
    assert mine(bob, room_id)["packages"] == []


@pytest.mark.parametrize("body, status, code", [
    ({"blob": 42, "version": 1}, 400, "VALIDATION_ERROR"),
    ({"blob": "", "version": 1}, 400, "VALIDATION_ERROR"),
    ({"blob": "x" * 1_000_001, "version": 1}, 413, "KEY_BACKUP_TOO_LARGE"),
    ({"blob": "x", "version": 0}, 400, "VALIDATION_ERROR"),
    ({"blob": "x", "version": "1"}, 400, "VALIDATION_ERROR"),
    ({"blob": "x", "version": True}, 400, "VALIDATION_ERROR"),
    ({"blob": "x"}, 400, "VALIDATION_ERROR"),
])
def test_bad_backups_are_refused_and_nothing_is_stored(server, body, status, code):
    api = register_and_login(server)
    reply = api.put("/api/keys/backup", json=body)
    assert reply.status_code == status and error_code(reply) == code, reply.text
    assert api.get("/api/keys/backup").status_code == 404


def test_backup_over_the_request_limit_is_refused_before_it_is_read(server):
    api = register_and_login(server)
    reply = api.put("/api/keys/backup", json={"blob": "x" * (2 * 1024 * 1024), "version": 1})
    assert reply.status_code == 413
    assert api.get("/api/keys/backup").status_code == 404


# --- schema --------------------------------------------------------------------------------

@pytest.mark.contract  # the migrations, on each database
def test_a_database_made_at_0001_upgrades_and_keeps_its_users(fresh_server, database_env, tmp_path):
    """On each database: the migrations from the first schema on."""
    from alembic import command
    from alembic.config import Config

    from messenger.server.db import MIGRATIONS
    from messenger.server.passwords import hash_password

    data_dir = tmp_path / "at-0001"
    data_dir.mkdir()
    env = database_env()
    engine = create_engine(env.get("MESSENGER_DATABASE_URL") or f"sqlite:///{data_dir / 'messenger.db'}")
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as connection:
        cfg.attributes["connection"] = connection
        command.upgrade(cfg, "0001")
        connection.execute(sql_text(
            "INSERT INTO users (username, password_hash, nickname, status_message, is_admin, session_epoch, "
            "created_at) VALUES ('old_timer', :hash, 'old', '', false, 0, :now)"),
            {"hash": hash_password(PASSWORD), "now": datetime.now(timezone.utc).replace(tzinfo=None)})
    tables_before = set(inspect(engine).get_table_names())
    engine.dispose()
    assert "users" in tables_before and "device_keys" not in tables_before

    srv = fresh_server(data_dir=data_dir, env=env)
    api = login(srv, "old_timer")
    publish(api)
    assert [d["user_id"] for d in api.get(f"/api/keys/users/{api.user['id']}").json()["devices"]] == [api.user["id"]]
    assert api.put("/api/keys/backup", json={"blob": "b", "version": 1}).status_code == 200
