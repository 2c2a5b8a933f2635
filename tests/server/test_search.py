"""Search (contract section 7) against a real server: only what the server may read, only
in the caller's rooms, kept in step with edits and deletes, paged and rate limited."""

from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import select

from harness import Socket, register_and_login
from messenger.server.db import database_of
from messenger.server.db.models import Message, Room, RoomFile, RoomMember, User
from messenger.server.db.search import search_messages
from messenger.server.extensions import database
from uploading import BLOB, PDF, assert_refused, group, send_file, send_text, start_server, uploaded

pytestmark = pytest.mark.contract  # run on SQLite and on PostgreSQL (conftest)


@pytest.fixture(scope="module")
def plain(tmp_path_factory, database_env):
    """A server whose admin turned E2E off, so plaintext file names exist to be searched."""
    server = start_server(tmp_path_factory.mktemp("search"), e2e_policy="off", env=database_env())
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


def test_search_is_rate_limited_per_user(tmp_path, database_env):
    server = start_server(tmp_path / "limited", search_per_minute=3, env=database_env())
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


# --- PostgreSQL's way (trigram index and word beginnings), against FTS5 on the same data ------

TEXTS = [
    "Budget review today", "quarterly budget meeting", "BUDGETING tips", "the e-mail from finance",
    "email etiquette", "내일 오전 10시 분기 회의는 3층 회의실에서 합니다", "회의록 정리 부탁드립니다",
    "예산안 검토 부탁드립니다", "2024년 예산 초안", "대회의실 예약", "출장 일정 공유: 부산, 대구",
    "회의_자료 and budget_v2 attached",
]
QUERIES = [
    ["budget"], ["budg"], ["udget"], ["BUDGET", "review"], ["e-mail"], ["mail"], ["email"], ["회의"],
    ["의는"], ["회의실"], ["회의", "3층"], ["예산"], ["산안"], ["2024년"], ["24년"], ["부산"], ["대구"],
    ["자료"], ["v2"], ["budget", "회의"], ["분기", "회의는"], ["pdf"], ["4분기"], ["분기"], ["nothing"],
    ["--"], ["e-"],
]


def _office_searched(database_url: str, data_dir) -> dict:
    """Every query of QUERIES on an office with TEXTS (plus what must never be found), on one database."""
    from messenger.server.app import create_app
    from messenger.server.config import ServerConfig

    app, _ = create_app(ServerConfig(data_dir=data_dir, database_url=database_url, async_mode="threading",
                                     testing=True))
    try:
        with app.app_context():
            kim = User(username="kim", password_hash="!", nickname="kim")
            mine, other = Room(name="mine", type="group"), Room(name="other", type="group")
            database.session.add_all([kim, mine, other])
            database.session.flush()
            database.session.add(RoomMember(room_id=mine.id, user_id=kim.id))
            say = lambda content, **kw: Message(room_id=mine.id, sender_id=kim.id, content=content,  # noqa: E731
                                                encrypted=False, **kw)
            rows = [say(content) for content in TEXTS] + [
                say("budget room created 회의", message_type="system"),
                Message(room_id=mine.id, sender_id=kim.id, content="budget 회의", encrypted=True),
                say("budget 회의", deleted_at=datetime.now(timezone.utc)),
                Message(room_id=other.id, sender_id=kim.id, content="budget 회의", encrypted=False),
                say("x", message_type="file"), say("x", message_type="file"),
            ]
            database.session.add_all(rows)
            database.session.flush()
            for message, encrypted in ((rows[-2], False), (rows[-1], True)):
                database.session.add(RoomFile(room_id=mine.id, message_id=message.id, file_path=str(message.id),
                                              file_name="4분기_예산안 budget.pdf", file_size=1, file_type="file",
                                              uploaded_by=kim.id, encrypted=encrypted))
            database.session.commit()
            my_rooms = select(RoomMember.room_id).where(RoomMember.user_id == kim.id)
            found = {}
            for terms in QUERIES:
                for filters in ({}, {"file_only": True}, {"limit": 2, "offset": 1}):
                    key = (" ".join(terms), *sorted(filters.items()))
                    found[key] = [hit.message_id for hit in search_messages(terms, my_rooms, **filters)]
            return found
    finally:
        database_of(app).close()


def test_postgresql_finds_what_fts5_finds_on_the_same_data(tmp_path, postgres):
    fts5 = _office_searched(f"sqlite:///{tmp_path / 'sqlite' / 'messenger.db'}", tmp_path / "sqlite")
    trigram = _office_searched(postgres.database("search_compared"), tmp_path / "postgresql")
    assert trigram == fts5
    # And both find what FTS5's word-beginning rule says (ids follow TEXTS, from 1).
    assert fts5[("budg",)] == [17, 13, 12, 3, 2, 1] and fts5[("udget",)] == []
    assert fts5[("회의",)] == [13, 12, 7, 6] and fts5[("의는",)] == [] and fts5[("산안",)] == []
    assert fts5[("e-mail",)] == [4] and fts5[("mail",)] == [4]
    assert fts5[("budget", ("file_only", True))] == [17]
