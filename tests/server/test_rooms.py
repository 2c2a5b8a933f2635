"""Rooms (contract section 3) against a real server: HTTP calls, several sockets at once."""

import secrets

import pytest

from harness import PASSWORD

pytestmark = pytest.mark.contract  # run on SQLite and on PostgreSQL (conftest)


def create(api, *others, name=None, field="members"):
    body = {field: [o.user["id"] for o in others]}
    if name is not None:
        body["name"] = name
    return api.post("/api/rooms", json=body)


def make_room(api, *others, name=None) -> dict:
    reply = create(api, *others, name=name)
    assert reply.status_code in (200, 201), reply.text
    return reply.json()["room"]


def make_group(api, *others, name="room") -> dict:
    """A group whatever its size: the creator opens it alone, then invites the others
    (two people at creation would make the direct room)."""
    reply = api.post("/api/rooms", json={"members": [], "name": name})
    assert reply.status_code == 201, reply.text
    room = reply.json()["room"]
    if others:
        invited = api.post(f"/api/rooms/{room['id']}/members", json={"user_ids": [o.user["id"] for o in others]})
        assert invited.status_code == 200, invited.text
    return room


def listed(api, **params) -> dict:
    """The caller's room list, by room id."""
    reply = api.get("/api/rooms", params=params)
    assert reply.status_code == 200, reply.text
    return {room["id"]: room for room in reply.json()["rooms"]}


def info(api, room_id) -> dict:
    reply = api.get(f"/api/rooms/{room_id}/info")
    assert reply.status_code == 200, reply.text
    return reply.json()["room"]


def roles(api, room_id) -> dict:
    return {m["id"]: m["role"] for m in info(api, room_id)["members"]}


def send(sock, room_id, content, encrypted=False) -> int:
    ack = sock.call("send_message", {"room_id": room_id, "content": content, "type": "text",
                                     "encrypted": encrypted, "client_msg_id": secrets.token_hex(8)})
    assert ack["ok"], ack
    return ack["message_id"]


def of_room(room_id):
    return lambda data: data.get("room_id") == room_id


def assert_refused(reply, status, code):
    assert reply.status_code == status, reply.text
    assert reply.json()["error_code"] == code


# --- creation ----------------------------------------------------------------------------

def test_direct_room_is_reused_from_both_sides(users):
    alice, bob = users(2)
    first = create(alice, bob)
    assert first.status_code == 201 and first.json()["created"] is True
    room = first.json()["room"]
    assert room["type"] == "direct" and room["member_count"] == 2
    assert room["partner"]["id"] == bob.user["id"]

    again = create(alice, bob)
    reverse = create(bob, alice, field="member_ids")
    assert again.status_code == reverse.status_code == 200
    assert again.json()["created"] is reverse.json()["created"] is False
    assert again.json()["room"]["id"] == reverse.json()["room"]["id"] == room["id"]
    assert reverse.json()["room"]["partner"]["id"] == alice.user["id"]
    assert [r["type"] for r in listed(alice).values()] == ["direct"]
    # Both sides of a DM are admins: neither has power over the other.
    assert roles(alice, room["id"]) == {alice.user["id"]: "admin", bob.user["id"]: "admin"}


def test_group_creation_makes_creator_admin_and_reaches_every_member(users, sockets):
    alice, bob, carol = users(3)
    bob_sock, carol_sock = sockets(bob), sockets(carol)
    reply = create(alice, bob, carol, name="  개발팀  ")
    assert reply.status_code == 201 and reply.json()["created"] is True
    room = reply.json()["room"]
    assert room["type"] == "group" and room["name"] == "개발팀" and room["member_count"] == 3
    assert room["created_by"] == alice.user["id"] and room["role"] == "admin"
    assert roles(alice, room["id"]) == {alice.user["id"]: "admin", bob.user["id"]: "member",
                                        carol.user["id"]: "member"}
    for sock in (bob_sock, carol_sock):
        event = sock.wait_for("room_updated", of_room(room["id"]))
        assert event["action"] == "created" and event["room"]["role"] == "member"
        assert event["room"]["member_count"] == 3 and "event_id" in event
    # The members' live sockets joined the room channel without reconnecting.
    alice.put(f"/api/rooms/{room['id']}/name", json={"name": "새 이름"})
    assert bob_sock.wait_for("room_name_updated", of_room(room["id"]))["name"] == "새 이름"
    assert carol_sock.wait_for("room_name_updated", of_room(room["id"]))["name"] == "새 이름"


def test_two_people_with_a_name_still_make_the_direct_room(users):
    alice, bob = users(2)
    room = make_room(alice, bob, name="ignored")
    assert room["type"] == "direct" and room["name"] is None


def test_creator_alone_makes_a_group_and_own_id_is_not_counted_twice(users):
    alice, bob = users(2)
    alone = alice.post("/api/rooms", json={"members": []})
    assert alone.status_code == 201 and alone.json()["room"]["type"] == "group"
    with_self = alice.post("/api/rooms", json={"members": [alice.user["id"], bob.user["id"]]})
    assert with_self.json()["room"]["type"] == "direct"


def test_unknown_or_deleted_member_refuses_creation_and_changes_nothing(server, users):
    alice, bob, gone = users(3)
    assert gone.request("DELETE", "/api/me", json={"password": PASSWORD}).status_code == 200
    for ids in ([bob.user["id"], 999_999_999], [gone.user["id"]], [bob.user["id"], gone.user["id"]]):
        assert_refused(alice.post("/api/rooms", json={"members": ids}), 404, "USER_NOT_FOUND")
    assert listed(alice) == {} and listed(bob) == {}


@pytest.mark.parametrize("body", [
    {},
    {"members": "2"},
    {"members": ["2"]},
    {"members": [True]},
    {"members": [1.5]},
    {"member_ids": None},
    {"members": [], "name": 5},
    {"members": [], "name": "x" * 101},
])
def test_create_with_bad_input_is_refused(user, body):
    assert_refused(user.post("/api/rooms", json=body), 400, "VALIDATION_ERROR")
    assert listed(user) == {}


def test_create_with_non_json_body_is_refused(user):
    reply = user.post("/api/rooms", content=b"members=1", headers={"Content-Type": "application/json"})
    assert_refused(reply, 400, "INVALID_JSON")
    assert_refused(user.post("/api/rooms", json=[1, 2]), 400, "INVALID_JSON")
    assert listed(user) == {}


# --- who may do what ---------------------------------------------------------------------

ROOM_CALLS = [
    ("GET", "/info", None),
    ("POST", "/members", {"user_ids": []}),
    ("POST", "/leave", None),
    ("DELETE", "/members/{uid}", None),
    ("PUT", "/name", {"name": "x"}),
    ("POST", "/pin", {"pinned": True}),
    ("POST", "/mute", {"muted": True}),
    ("GET", "/admins", None),
    ("POST", "/admins", {"user_id": 1, "is_admin": True}),
    ("GET", "/admin-check", None),
    ("GET", "/pins", None),
    ("POST", "/pins", {"content": "공지"}),
    ("DELETE", "/pins/{pin}", None),
]


def test_non_member_gets_404_on_every_room_call(users):
    """Someone never in the room, someone kicked out of it, and a room that does not exist
    all answer the same 404."""
    alice, bob, outsider, kicked = users(4)
    room = make_room(alice, bob, kicked, name="room")
    pin = alice.post(f"/api/rooms/{room['id']}/pins", json={"content": "공지"}).json()["pin"]
    assert alice.delete(f"/api/rooms/{room['id']}/members/{kicked.user['id']}").status_code == 200
    for stranger in (outsider, kicked):
        for method, path, body in ROOM_CALLS:
            path = path.format(uid=bob.user["id"], pin=pin["id"])
            for room_id in (room["id"], 987_654_321):
                reply = stranger.request(method, f"/api/rooms/{room_id}{path}", json=body)
                assert_refused(reply, 404, "ROOM_NOT_FOUND")
        assert room["id"] not in listed(stranger)
    after = info(alice, room["id"])
    assert after["name"] == "room" and [m["id"] for m in after["members"]] == [alice.user["id"], bob.user["id"]]
    assert len(alice.get(f"/api/rooms/{room['id']}/pins").json()["pins"]) == 1


def test_member_lacking_the_role_gets_403_and_nothing_changes(users):
    alice, bob, carol = users(3)
    room = make_room(alice, bob, carol, name="room")
    pin = alice.post(f"/api/rooms/{room['id']}/pins", json={"content": "공지"}).json()["pin"]
    base = f"/api/rooms/{room['id']}"
    assert_refused(bob.delete(f"{base}/members/{carol.user['id']}"), 403, "ROOM_ADMIN_REQUIRED")
    assert_refused(bob.put(f"{base}/name", json={"name": "mine"}), 403, "ROOM_ADMIN_REQUIRED")
    assert_refused(bob.post(f"{base}/admins", json={"user_id": bob.user["id"], "is_admin": True}), 403,
                   "ROOM_ADMIN_REQUIRED")
    assert_refused(bob.delete(f"{base}/pins/{pin['id']}"), 403, "ROOM_ADMIN_REQUIRED")
    assert bob.get(f"{base}/admin-check").json() == {"is_admin": False}
    assert alice.get(f"{base}/admin-check").json() == {"is_admin": True}
    after = info(bob, room["id"])
    assert after["name"] == "room" and after["member_count"] == 3
    assert roles(bob, room["id"])[bob.user["id"]] == "member"
    assert [p["id"] for p in bob.get(f"{base}/pins").json()["pins"]] == [pin["id"]]


# --- invite, kick, leave -----------------------------------------------------------------

def test_any_member_invites_and_the_newcomer_joins_live(users, sockets):
    alice, bob, dave = users(3)
    room = make_group(alice, bob, name="room")
    alice_sock, dave_sock = sockets(alice), sockets(dave)
    reply = bob.post(f"/api/rooms/{room['id']}/members", json={"user_ids": [dave.user["id"], alice.user["id"]]})
    assert reply.status_code == 200 and reply.json()["added"] == [dave.user["id"]]
    event = alice_sock.wait_for("room_members_updated", of_room(room["id"]))
    assert event["action"] == "added" and event["user_ids"] == [dave.user["id"]]
    assert {m["id"] for m in event["members"]} == {alice.user["id"], bob.user["id"], dave.user["id"]}
    arrived = dave_sock.wait_for("room_updated", of_room(room["id"]))
    assert arrived["action"] == "added" and arrived["room"]["role"] == "member"
    assert roles(alice, room["id"])[dave.user["id"]] == "member"
    # Dave's socket is in the room channel now.
    alice.put(f"/api/rooms/{room['id']}/name", json={"name": "with dave"})
    assert dave_sock.wait_for("room_name_updated", of_room(room["id"]))["name"] == "with dave"

    again = bob.post(f"/api/rooms/{room['id']}/members", json={"user_ids": [dave.user["id"]]})
    assert again.status_code == 200 and again.json()["added"] == []


def test_invite_refuses_unknown_users_bad_input_and_direct_rooms(users):
    alice, bob, carol = users(3)
    group = make_group(alice, bob, name="room")
    url = f"/api/rooms/{group['id']}/members"
    assert_refused(alice.post(url, json={"user_ids": [carol.user["id"], 999_999_999]}), 404, "USER_NOT_FOUND")
    for body in ({}, {"user_ids": [str(carol.user["id"])]}, {"user_ids": [True]}, {"user_ids": carol.user["id"]}):
        assert_refused(alice.post(url, json=body), 400, "VALIDATION_ERROR")
    assert_refused(alice.post(url, content=b"{", headers={"Content-Type": "application/json"}), 400, "INVALID_JSON")
    assert info(alice, group["id"])["member_count"] == 2
    direct = make_room(alice, bob)
    assert_refused(alice.post(f"/api/rooms/{direct['id']}/members", json={"user_ids": [carol.user["id"]]}),
                   409, "ROOM_DIRECT_FIXED")
    assert info(alice, direct["id"])["member_count"] == 2 and group["id"] not in listed(carol)


def test_kicked_user_sockets_leave_the_room_at_once(users, sockets):
    alice, bob, carol = users(3)
    room = make_room(alice, bob, carol, name="room")
    bob_sock, carol_sock, carol_second = sockets(bob), sockets(carol), sockets(carol)
    reply = alice.delete(f"/api/rooms/{room['id']}/members/{carol.user['id']}")
    assert reply.status_code == 200

    members = bob_sock.wait_for("room_members_updated", of_room(room["id"]))
    assert members["action"] == "removed" and members["user_ids"] == [carol.user["id"]]
    assert members["reason"] == "kicked"
    for sock in (carol_sock, carol_second):
        notice = sock.wait_for("room_updated", of_room(room["id"]))
        assert notice["action"] == "removed" and notice["reason"] == "kicked"

    # Room events after the kick reach Bob, never Carol's sockets.
    alice.put(f"/api/rooms/{room['id']}/name", json={"name": "after kick"})
    alice.post(f"/api/rooms/{room['id']}/pins", json={"content": "after kick"})
    send(sockets(alice), room["id"], "after kick")
    bob_sock.wait_for("room_name_updated", of_room(room["id"]))
    bob_sock.wait_for("pin_updated", of_room(room["id"]))
    bob_sock.wait_for("new_message", of_room(room["id"]))
    for sock in (carol_sock, carol_second):
        room_events = [name for name, data in sock.drain(0.5) if isinstance(data, dict)
                       and data.get("room_id") == room["id"] and name != "room_updated"]
        assert room_events == []
    assert carol.get(f"/api/rooms/{room['id']}/info").status_code == 404
    assert room["id"] not in listed(carol)


def test_kick_refuses_admins_non_members_and_direct_rooms(users):
    alice, bob, carol, dave = users(4)
    room = make_room(alice, bob, carol, name="room")
    alice.post(f"/api/rooms/{room['id']}/admins", json={"user_id": bob.user["id"], "is_admin": True})
    base = f"/api/rooms/{room['id']}/members"
    assert_refused(alice.delete(f"{base}/{bob.user['id']}"), 403, "ROOM_CANNOT_KICK_ADMIN")
    assert_refused(alice.delete(f"{base}/{alice.user['id']}"), 403, "ROOM_CANNOT_KICK_ADMIN")
    assert_refused(alice.delete(f"{base}/{dave.user['id']}"), 404, "ROOM_NOT_MEMBER")
    assert_refused(alice.delete(f"{base}/999999999"), 404, "ROOM_NOT_MEMBER")
    assert alice.delete(f"{base}/abc").status_code == 404
    assert info(alice, room["id"])["member_count"] == 3
    direct = make_room(alice, bob)
    assert_refused(alice.delete(f"/api/rooms/{direct['id']}/members/{bob.user['id']}"), 409, "ROOM_DIRECT_FIXED")


def test_last_admin_leaving_promotes_the_longest_standing_member(users, sockets):
    alice, bob, carol = users(3)  # bob's id is lower than carol's
    room = make_group(alice, carol)
    alice.post(f"/api/rooms/{room['id']}/members", json={"user_ids": [bob.user["id"]]})
    alice_sock, bob_sock = sockets(alice), sockets(bob)

    assert alice.post(f"/api/rooms/{room['id']}/leave").status_code == 200
    promoted = bob_sock.wait_for("admin_updated", of_room(room["id"]))
    # Carol joined first, so she outranks Bob despite his lower id.
    assert promoted == {**promoted, "user_id": carol.user["id"], "is_admin": True}
    left = bob_sock.wait_for("room_members_updated", of_room(room["id"]))
    assert left["action"] == "removed" and left["user_ids"] == [alice.user["id"]] and left["reason"] == "left"
    assert roles(bob, room["id"]) == {bob.user["id"]: "member", carol.user["id"]: "admin"}
    assert alice_sock.wait_for("room_updated", of_room(room["id"]))["action"] == "removed"

    # The leaver's socket is out of the room channel at once.
    carol.put(f"/api/rooms/{room['id']}/name", json={"name": "without alice"})
    bob_sock.wait_for("room_name_updated", of_room(room["id"]))
    assert "room_name_updated" not in alice_sock.names(0.5)
    assert alice.get(f"/api/rooms/{room['id']}/info").status_code == 404


def test_promotion_tie_on_join_time_goes_to_the_lowest_user_id(users):
    alice, bob, carol = users(3)
    room = make_room(alice, carol, bob, name="room")  # bob and carol joined together
    alice.post(f"/api/rooms/{room['id']}/leave")
    assert roles(bob, room["id"]) == {bob.user["id"]: "admin", carol.user["id"]: "member"}


def test_leaving_when_another_admin_remains_promotes_no_one(users):
    alice, bob, carol = users(3)
    room = make_room(alice, bob, carol, name="room")
    alice.post(f"/api/rooms/{room['id']}/admins", json={"user_id": carol.user["id"], "is_admin": True})
    alice.post(f"/api/rooms/{room['id']}/leave")
    assert roles(bob, room["id"]) == {bob.user["id"]: "member", carol.user["id"]: "admin"}


def test_a_left_direct_room_keeps_its_messages_and_reopens(users, sockets):
    alice, bob = users(2)
    room = make_room(alice, bob)
    first = send(sockets(alice), room["id"], "안녕하세요")
    bob_sock = sockets(bob)
    assert alice.post(f"/api/rooms/{room['id']}/leave").status_code == 200
    event = bob_sock.wait_for("room_members_updated", of_room(room["id"]))
    assert event["user_ids"] == [alice.user["id"]]
    assert listed(bob)[room["id"]]["member_count"] == 1
    assert listed(bob)[room["id"]]["partner"]["id"] == alice.user["id"]  # still known from the DM's key
    assert bob.post(f"/api/rooms/{room['id']}/leave").status_code == 200  # nobody left in it

    reopened = create(bob, alice)
    assert reopened.status_code == 200 and reopened.json()["created"] is False
    again = reopened.json()["room"]
    assert again["id"] == room["id"] and again["member_count"] == 2
    assert again["last_message"]["id"] == first and again["last_message_preview"] == "안녕하세요"
    assert again["unread_count"] == 0  # a returning member starts with everything read
    assert roles(alice, room["id"]) == {alice.user["id"]: "admin", bob.user["id"]: "admin"}


# --- name, per-user flags, admins --------------------------------------------------------

@pytest.mark.parametrize("body", [{}, {"name": ""}, {"name": "   "}, {"name": "x" * 101}, {"name": 7},
                                  {"name": None}, {"name": ["a"]}])
def test_rename_with_bad_input_changes_nothing(users, body):
    alice, bob = users(2)
    room = make_group(alice, bob, name="before")
    assert_refused(alice.put(f"/api/rooms/{room['id']}/name", json=body), 400, "VALIDATION_ERROR")
    assert info(alice, room["id"])["name"] == "before"


def test_rename_is_broadcast_to_the_room(users, sockets):
    alice, bob = users(2)
    room = make_group(alice, bob, name="before")
    bob_sock = sockets(bob)
    reply = alice.put(f"/api/rooms/{room['id']}/name", json={"name": "x" * 100})
    assert reply.status_code == 200
    event = bob_sock.wait_for("room_name_updated", of_room(room["id"]))
    assert event == {**event, "room_id": room["id"], "name": "x" * 100}
    assert listed(bob)[room["id"]]["name"] == "x" * 100


@pytest.mark.parametrize("flag,endpoint", [("pinned", "pin"), ("muted", "mute")])
def test_pin_and_mute_are_per_user_and_reach_only_the_callers_devices(users, sockets, flag, endpoint):
    alice, bob = users(2)
    room = make_group(alice, bob, name="room")
    alice_other_device, bob_sock = sockets(alice), sockets(bob)
    url = f"/api/rooms/{room['id']}/{endpoint}"
    for bad in ({}, {flag: "true"}, {flag: 1}, {flag: None}, {flag: [True]}):
        assert_refused(alice.post(url, json=bad), 400, "VALIDATION_ERROR")
    assert listed(alice)[room["id"]][flag] is False

    reply = alice.post(url, json={flag: True})
    assert reply.status_code == 200 and reply.json()["room"][flag] is True
    event = alice_other_device.wait_for("room_updated", of_room(room["id"]))
    assert event["action"] == "updated" and event["room"][flag] is True
    assert listed(alice)[room["id"]][flag] is True
    assert listed(bob)[room["id"]][flag] is False
    assert "room_updated" not in bob_sock.names(0.5)
    alice.post(url, json={flag: False})
    assert listed(alice)[room["id"]][flag] is False


def test_admins_can_be_granted_and_taken_back_but_not_the_last(users, sockets):
    alice, bob, carol, dave = users(4)
    room = make_room(alice, bob, carol, name="room")
    url = f"/api/rooms/{room['id']}/admins"
    carol_sock = sockets(carol)
    assert [a["id"] for a in alice.get(url).json()["admins"]] == [alice.user["id"]]
    assert_refused(alice.post(url, json={"user_id": alice.user["id"], "is_admin": False}), 409, "ROOM_LAST_ADMIN")

    granted = alice.post(url, json={"user_id": bob.user["id"], "is_admin": True})
    assert granted.status_code == 200 and granted.json()["changed"] is True
    event = carol_sock.wait_for("admin_updated", of_room(room["id"]))
    assert event == {**event, "user_id": bob.user["id"], "is_admin": True}
    assert bob.get(f"/api/rooms/{room['id']}/admin-check").json() == {"is_admin": True}
    assert {a["id"] for a in carol.get(url).json()["admins"]} == {alice.user["id"], bob.user["id"]}

    # With two admins one may step down; then the other is the last and stays.
    assert alice.post(url, json={"user_id": alice.user["id"], "is_admin": False}).status_code == 200
    assert_refused(bob.post(url, json={"user_id": bob.user["id"], "is_admin": False}), 409, "ROOM_LAST_ADMIN")
    assert_refused(alice.post(url, json={"user_id": bob.user["id"], "is_admin": False}), 403, "ROOM_ADMIN_REQUIRED")
    assert_refused(bob.post(url, json={"user_id": dave.user["id"], "is_admin": True}), 404, "ROOM_NOT_MEMBER")
    assert [a["id"] for a in carol.get(url).json()["admins"]] == [bob.user["id"]]


@pytest.mark.parametrize("body", [{}, {"user_id": "2", "is_admin": True}, {"user_id": True, "is_admin": True},
                                  {"user_id": 2}, {"user_id": 2, "is_admin": "yes"}, {"user_id": 2, "is_admin": 0}])
def test_admin_change_with_bad_input_changes_nothing(users, body):
    alice, bob = users(2)
    room = make_group(alice, bob, name="room")
    body = {k: (bob.user["id"] if v == 2 else v) for k, v in body.items()}
    assert_refused(alice.post(f"/api/rooms/{room['id']}/admins", json=body), 400, "VALIDATION_ERROR")
    assert roles(alice, room["id"])[bob.user["id"]] == "member"


def test_direct_room_roles_are_fixed(users):
    alice, bob = users(2)
    room = make_room(alice, bob)
    reply = alice.post(f"/api/rooms/{room['id']}/admins", json={"user_id": bob.user["id"], "is_admin": False})
    assert_refused(reply, 409, "ROOM_DIRECT_FIXED")
    assert roles(alice, room["id"])[bob.user["id"]] == "admin"


# --- the room list -----------------------------------------------------------------------

def test_list_counts_unread_and_previews_the_last_live_message(users, sockets):
    alice, bob = users(2)
    room = make_group(alice, bob, name="room")
    alice_sock, bob_sock = sockets(alice), sockets(bob)
    send(alice_sock, room["id"], "from alice")
    first = send(bob_sock, room["id"], "one")
    send(bob_sock, room["id"], "two")
    envelope = "v2:" + "A" * 300  # ciphertext is never cut: clients decrypt it whole
    last = send(bob_sock, room["id"], envelope, encrypted=True)

    mine = listed(alice)[room["id"]]
    assert mine["unread_count"] == 3
    assert mine["last_message_preview"] == envelope
    assert mine["last_message"] == {**mine["last_message"], "id": last, "sender_id": bob.user["id"],
                                    "encrypted": True, "message_type": "text"}
    assert mine["last_message_at"] is not None
    assert listed(bob)[room["id"]]["unread_count"] == 1  # the own messages never count

    assert alice_sock.call("message_read", {"room_id": room["id"], "message_id": first})["ok"]
    assert listed(alice)[room["id"]]["unread_count"] == 2

    # A deleted message neither counts nor previews.
    assert bob_sock.call("delete_message", {"message_id": last})["ok"]
    mine = listed(alice)[room["id"]]
    assert mine["unread_count"] == 1 and mine["last_message_preview"] == "two"


def test_list_puts_pinned_first_then_latest_activity(users, sockets):
    alice, bob = users(2)
    older = make_group(alice, bob, name="older")
    middle = make_group(alice, bob, name="middle")
    newest = make_group(alice, bob, name="newest")
    assert list(listed(alice)) == [newest["id"], middle["id"], older["id"]]
    send(sockets(bob), older["id"], "wake up")
    assert list(listed(alice)) == [older["id"], newest["id"], middle["id"]]
    alice.post(f"/api/rooms/{middle['id']}/pin", json={"pinned": True})
    assert list(listed(alice)) == [middle["id"], older["id"], newest["id"]]
    assert list(listed(bob)) == [older["id"], newest["id"], middle["id"]]  # pins are per user


def test_list_fields_and_members_on_request(users):
    alice, bob, carol = users(3)
    group = make_room(alice, bob, carol, name="room")
    direct = make_room(alice, bob)
    rooms = listed(alice)
    assert set(rooms[group["id"]]) >= {"id", "name", "type", "created_by", "created_at", "member_count",
                                       "last_message_at", "last_message_preview", "unread_count", "pinned",
                                       "muted", "role", "partner"}
    assert rooms[group["id"]]["partner"] is None and rooms[group["id"]]["last_message_preview"] is None
    assert rooms[direct["id"]]["partner"]["id"] == bob.user["id"]
    assert "members" not in rooms[group["id"]]
    with_members = listed(alice, include_members=1)
    assert [m["id"] for m in with_members[group["id"]]["members"]] == [alice.user["id"], bob.user["id"],
                                                                       carol.user["id"]]
    assert with_members[group["id"]]["members"][0]["role"] == "admin"
    assert {m["id"] for m in with_members[direct["id"]]["members"]} == {alice.user["id"], bob.user["id"]}


# --- room notices ------------------------------------------------------------------------

def test_any_member_posts_a_text_notice_and_the_room_hears(users, sockets):
    alice, bob = users(2)
    room = make_group(alice, bob, name="room")
    alice_sock = sockets(alice)
    reply = bob.post(f"/api/rooms/{room['id']}/pins", json={"content": "배포는 금요일"})
    assert reply.status_code == 201
    pin = reply.json()["pin"]
    assert pin == {**pin, "room_id": room["id"], "content": "배포는 금요일", "message_id": None,
                   "pinned_by": bob.user["id"], "message": None}
    event = alice_sock.wait_for("pin_updated", of_room(room["id"]))
    assert event["action"] == "added" and event["pin"]["id"] == pin["id"]
    assert [p["id"] for p in alice.get(f"/api/rooms/{room['id']}/pins").json()["pins"]] == [pin["id"]]


def test_a_message_of_the_room_can_be_pinned_once(users, sockets):
    alice, bob = users(2)
    room = make_group(alice, bob, name="room")
    other = make_group(alice, bob, name="other")
    sock = sockets(alice)
    message_id = send(sock, room["id"], "pin me")
    elsewhere = send(sock, other["id"], "not here")
    url = f"/api/rooms/{room['id']}/pins"

    first = bob.post(url, json={"message_id": message_id})
    assert first.status_code == 201
    pin = first.json()["pin"]
    assert pin["message_id"] == message_id and pin["message"]["content"] == "pin me"
    again = alice.post(url, json={"message_id": message_id})
    assert again.status_code == 200 and again.json()["created"] is False and again.json()["pin"]["id"] == pin["id"]
    assert_refused(alice.post(url, json={"message_id": elsewhere}), 404, "MESSAGE_NOT_FOUND")
    assert_refused(alice.post(url, json={"message_id": 999_999_999}), 404, "MESSAGE_NOT_FOUND")
    gone = send(sock, room["id"], "deleted soon")
    assert sock.call("delete_message", {"message_id": gone})["ok"]
    assert_refused(alice.post(url, json={"message_id": gone}), 409, "MESSAGE_DELETED")
    assert [p["id"] for p in alice.get(url).json()["pins"]] == [pin["id"]]


@pytest.mark.parametrize("body", [{}, {"content": ""}, {"content": "   "}, {"content": "x" * 1001},
                                  {"content": 5}, {"message_id": "1"}, {"message_id": True},
                                  {"message_id": 1, "content": "both"}])
def test_notice_with_bad_input_is_refused(users, body):
    alice, bob = users(2)
    room = make_group(alice, bob, name="room")
    assert_refused(alice.post(f"/api/rooms/{room['id']}/pins", json=body), 400, "VALIDATION_ERROR")
    assert alice.get(f"/api/rooms/{room['id']}/pins").json()["pins"] == []


def test_notice_is_removed_by_its_pinner_or_a_room_admin(users, sockets):
    alice, bob, carol = users(3)
    room = make_room(alice, bob, carol, name="room")
    other = make_group(alice, bob, name="other")
    url = f"/api/rooms/{room['id']}/pins"
    by_bob = bob.post(url, json={"content": "x" * 1000}).json()["pin"]
    by_carol = carol.post(url, json={"content": "carol's"}).json()["pin"]
    foreign = alice.post(f"/api/rooms/{other['id']}/pins", json={"content": "other room"}).json()["pin"]
    carol_sock = sockets(carol)

    assert_refused(carol.delete(f"{url}/{by_bob['id']}"), 403, "ROOM_ADMIN_REQUIRED")
    assert_refused(alice.delete(f"{url}/{foreign['id']}"), 404, "PIN_NOT_FOUND")
    assert_refused(alice.delete(f"{url}/999999999"), 404, "PIN_NOT_FOUND")
    assert bob.delete(f"{url}/{by_bob['id']}").status_code == 200
    event = carol_sock.wait_for("pin_updated", of_room(room["id"]))
    assert event["action"] == "removed" and event["pin"]["id"] == by_bob["id"]
    assert alice.delete(f"{url}/{by_carol['id']}").status_code == 200  # a room admin
    assert alice.get(url).json()["pins"] == []
    assert [p["id"] for p in alice.get(f"/api/rooms/{other['id']}/pins").json()["pins"]] == [foreign["id"]]


# --- account deletion goes through remove_membership -------------------------------------

def test_deleted_account_leaves_its_rooms_and_hands_over_admin(users, sockets):
    alice, bob, carol = users(3)
    room = make_room(alice, bob, carol, name="room")
    bob_sock = sockets(bob)
    assert alice.request("DELETE", "/api/me", json={"password": PASSWORD}).status_code == 200
    left = bob_sock.wait_for("room_members_updated", of_room(room["id"]))
    assert left["user_ids"] == [alice.user["id"]] and left["reason"] == "account_deleted"
    assert bob_sock.wait_for("admin_updated", of_room(room["id"]))["user_id"] == bob.user["id"]
    assert roles(bob, room["id"]) == {bob.user["id"]: "admin", carol.user["id"]: "member"}


# --- the room list costs the same whatever the number of rooms ---------------------------


def test_room_list_runs_a_constant_number_of_queries(in_process):
    from sqlalchemy import event

    from messenger.server.actions.rooms import direct_key, room_summaries
    from messenger.server.db.models import Message, Room, RoomMember, User

    session = in_process.session
    people = [User(username=f"user{i}", password_hash="!", nickname=f"user{i}") for i in range(4)]
    session.add_all(people)
    session.flush()
    me = people[0]

    def add_rooms(count):
        """Groups, plus the DMs with each other person (a DM exists once per pair)."""
        for i in range(count):
            other = people[1 + i % 3]
            key = direct_key(me.id, other.id)
            direct = session.query(Room).filter_by(direct_key=key).first() is None
            room = Room(name=None if direct else f"room {i}", type="direct" if direct else "group",
                        created_by=me.id, direct_key=key if direct else None)
            session.add(room)
            session.flush()
            session.add_all([RoomMember(room_id=room.id, user_id=me.id, role="admin"),
                             RoomMember(room_id=room.id, user_id=other.id)])
            session.add_all(Message(room_id=room.id, sender_id=sender.id, content="hi", encrypted=False)
                            for sender in (me, other, other))
        session.commit()

    statements = []
    event.listen(in_process.engine, "before_cursor_execute", lambda *args: statements.append(args[2]))

    def queries_for_listing() -> int:
        statements.clear()
        summaries = room_summaries([me.id], include_members=True)
        assert all(s["unread_count"] == 2 and len(s["members"]) == 2 for _, s in summaries)
        return len(statements)

    add_rooms(3)
    few = queries_for_listing()
    add_rooms(30)
    assert len(room_summaries([me.id])) == 33
    assert queries_for_listing() == few <= 3
