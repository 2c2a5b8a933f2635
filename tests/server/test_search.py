"""Search (contract section 7) against a real server: only what the server may read, only
in the caller's rooms, kept in step with edits and deletes, paged and rate limited."""

from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import select

from harness import Socket, register_and_login
from messenger.server.db import Database
from messenger.server.db.models import Message, Room, RoomFile, RoomMember, User
from messenger.server.db.search import search_messages
from messenger.server.extensions import database
from uploading import BLOB, PDF, assert_refused, group, send_file, send_text, start_server, uploaded


@pytest.fixture(scope="module")
def plain(tmp_path_factory):
    """A server whose admin turned E2E off, so plaintext file names exist to be searched."""
    server = start_server(tmp_path_factory.mktemp("search"), e2e_policy="off")
    yield server
    server.stop()


@pytest.fixture
def people(plain):
    """Signed-in users of that server, each with a connected socket (`.socket`)."""
    made = []

    def make(n=1):
        for _ in range(n):
            api = register_and_login(plain)
            api.socket = Socket(plain.url, api.token)
            made.append(api)
        return made[-n:]

    yield make
    for api in made:
        api.socket.close()


def search(api, q, **params):
    reply = api.get("/api/search", params={"q": q, **params})
    assert reply.status_code == 200, reply.text
    return reply.json()


def found(api, q, **params) -> list[int]:
    return [r["message_id"] for r in search(api, q, **params)["results"]]


def test_plaintext_text_is_found_with_its_room_and_snippet(people):
    alice, bob = people(2)
    room_id = group(alice, bob)
    message_id = send_text(alice.socket, room_id, "내일 오전 10시 분기 회의는 3층 회의실에서 합니다")
    [hit] = search(bob, "분기 회의")["results"]
    assert hit["message_id"] == message_id and hit["room_id"] == room_id
    assert hit["sender_id"] == alice.user["id"] and hit["message_type"] == "text"
    assert "분기 회의는" in hit["snippet"]
    assert datetime.fromisoformat(hit["created_at"]).tzinfo is not None


def test_words_match_as_word_beginnings_and_all_must_be_there(people):
    alice, = people(1)
    room_id = group(alice)
    both = send_text(alice.socket, room_id, "quarterly budget review")
    send_text(alice.socket, room_id, "quarterly party")
    assert found(alice, "budg quart") == [both]
    assert found(alice, "udget") == []  # not a word beginning


def test_encrypted_text_is_never_searched(people):
    alice, = people(1)
    room_id = group(alice)
    send_text(alice.socket, room_id, "v2:c2FsdA==:aXY=:secretword:bWFj", encrypted=True)
    assert found(alice, "secretword") == []


def test_plaintext_file_names_are_found_and_encrypted_ones_are_not(people):
    alice, = people(1)
    room_id = group(alice)
    plain_file = uploaded(alice, room_id, "4분기_예산안.pdf", PDF)
    plain_id = send_file(alice.socket, room_id, plain_file["upload_token"])["message_id"]
    secret = uploaded(alice, room_id, "4분기_인사평가.pdf", BLOB, encrypted=True)
    send_file(alice.socket, room_id, secret["upload_token"], content="v2:encrypted", encrypted=True)
    send_text(alice.socket, room_id, "예산안 검토 부탁드립니다")
    [hit] = search(alice, "예산안", file_only=1)["results"]
    assert hit["message_id"] == plain_id and hit["file_name"] == "4분기_예산안.pdf" and hit["file_id"]
    assert len(found(alice, "예산안")) == 2  # the text message too
    assert found(alice, "인사평가") == []


def test_rooms_the_caller_is_not_in_are_never_searched(people):
    alice, bob = people(2)
    mine, theirs = group(alice), group(bob)
    mine_id = send_text(alice.socket, mine, "공유폴더 위치 알려주세요")
    send_text(bob.socket, theirs, "공유폴더 비밀 경로")
    assert found(alice, "공유폴더") == [mine_id]
    assert_refused(alice.get("/api/search", params={"q": "공유폴더", "room_id": theirs}), 404, "ROOM_NOT_FOUND")
    assert found(alice, "공유폴더", room_id=mine) == [mine_id]


def test_a_room_left_is_no_longer_searched(people):
    alice, bob = people(2)
    room_id = group(alice, bob)
    send_text(alice.socket, room_id, "퇴사자 인수인계 문서")
    assert len(found(bob, "인수인계")) == 1
    assert bob.post(f"/api/rooms/{room_id}/leave").status_code == 200
    assert found(bob, "인수인계") == []


def test_edits_and_deletes_keep_the_index_in_step(people):
    alice, = people(1)
    room_id = group(alice)
    edited = send_text(alice.socket, room_id, "회의 장소는 대회의실")
    deleted = send_text(alice.socket, room_id, "회의 취소 공지 초안")
    assert alice.socket.call("edit_message", {"message_id": edited, "content": "회의 장소는 소회의실",
                                              "encrypted": False})["ok"]
    assert alice.socket.call("delete_message", {"message_id": deleted})["ok"]
    assert found(alice, "대회의실") == [] and found(alice, "소회의실") == [edited]
    assert found(alice, "취소") == []


def test_results_are_paged_newest_first(people):
    alice, = people(1)
    room_id = group(alice)
    ids = [send_text(alice.socket, room_id, f"주간보고 {n}") for n in range(5)]
    pages = [search(alice, "주간보고", limit=2, offset=offset) for offset in (0, 2, 4)]
    assert [p["has_more"] for p in pages] == [True, True, False]
    assert [r["message_id"] for p in pages for r in p["results"]] == ids[::-1]


def test_dates_limit_the_results(people):
    alice, = people(1)
    room_id = group(alice)
    message_id = send_text(alice.socket, room_id, "출장 일정 공유")
    today = datetime.now(timezone.utc).date()
    tomorrow, yesterday = today + timedelta(days=1), today - timedelta(days=1)
    assert found(alice, "출장", date_from=today.isoformat(), date_to=today.isoformat()) == [message_id]
    assert found(alice, "출장", date_from=tomorrow.isoformat()) == []
    assert found(alice, "출장", date_to=yesterday.isoformat()) == []
    assert_refused(alice.get("/api/search", params={"q": "출장", "date_from": "어제"}), 400, "VALIDATION_ERROR")


@pytest.mark.parametrize("params", [{}, {"q": ""}, {"q": "   "}, {"q": "x" * 201}, {"q": "a", "limit": 101},
                                    {"q": "a", "limit": 0}, {"q": "a", "offset": -1}, {"q": "a", "room_id": "x"}])
def test_bad_search_input_is_refused(people, params):
    alice, = people(1)
    assert_refused(alice.get("/api/search", params=params), 400, "VALIDATION_ERROR")


@pytest.mark.parametrize("q", ['"', 'a" OR "b', "NEAR(a b)", "*", "file_name:x", "a AND", "(", "--", "%_\\"])
def test_query_syntax_in_input_is_taken_as_plain_words(people, q):
    alice, = people(1)
    room_id = group(alice)
    send_text(alice.socket, room_id, "평범한 메시지")
    assert search(alice, q)["results"] == []


def test_search_is_rate_limited_per_user(tmp_path):
    server = start_server(tmp_path / "limited", search_per_minute=3)
    try:
        alice, bob = register_and_login(server), register_and_login(server)
        for _ in range(3):
            assert alice.get("/api/search", params={"q": "a"}).status_code == 200
        refused = alice.get("/api/search", params={"q": "a"})
        assert_refused(refused, 429, "RATE_LIMITED")
        assert 1 <= int(refused.headers["Retry-After"]) <= 60
        assert bob.get("/api/search", params={"q": "a"}).status_code == 200  # per user
    finally:
        server.stop()


# --- the other databases' way (ILIKE), checked against FTS5 on the same data -----------------


def test_the_ilike_search_follows_the_same_rules_as_fts5(app, monkeypatch):
    kim = User(username="kim", password_hash="!", nickname="kim")
    database.session.add(kim)
    database.session.flush()
    mine, other = Room(name="mine", type="group"), Room(name="other", type="group")
    database.session.add_all([mine, other])
    database.session.flush()
    database.session.add(RoomMember(room_id=mine.id, user_id=kim.id))
    rows = {
        "text": Message(room_id=mine.id, sender_id=kim.id, content="Budget review today", encrypted=False),
        "system": Message(room_id=mine.id, sender_id=kim.id, content="budget room created", encrypted=False,
                          message_type="system"),
        "encrypted": Message(room_id=mine.id, sender_id=kim.id, content="budget", encrypted=True),
        "deleted": Message(room_id=mine.id, sender_id=kim.id, content="budget", encrypted=False,
                           deleted_at=datetime.now(timezone.utc)),
        "elsewhere": Message(room_id=other.id, sender_id=kim.id, content="budget", encrypted=False),
        "file": Message(room_id=mine.id, sender_id=kim.id, content="x", encrypted=False, message_type="file"),
        "sealed file": Message(room_id=mine.id, sender_id=kim.id, content="x", message_type="file"),
    }
    database.session.add_all(rows.values())
    database.session.flush()
    for key, encrypted in (("file", False), ("sealed file", True)):
        database.session.add(RoomFile(room_id=mine.id, message_id=rows[key].id, file_path=key, file_name="budget.pdf",
                                      file_size=1, file_type="file", uploaded_by=kim.id, encrypted=encrypted))
    database.session.commit()
    my_rooms = select(RoomMember.room_id).where(RoomMember.user_id == kim.id)

    def both_ways(*terms, **filters):
        fts = [hit.message_id for hit in search_messages(list(terms), my_rooms, **filters)]
        monkeypatch.setattr(Database, "is_sqlite", property(lambda self: False))
        ilike = [hit.message_id for hit in search_messages(list(terms), my_rooms, **filters)]
        monkeypatch.undo()
        assert fts == ilike
        return fts

    assert both_ways("budget") == [rows["file"].id, rows["system"].id, rows["text"].id]
    assert both_ways("budget", file_only=True) == [rows["file"].id]
    assert both_ways("budget", "review") == [rows["text"].id]
    assert both_ways("budget", limit=1, offset=1) == [rows["system"].id]
    assert both_ways("nothing") == []
