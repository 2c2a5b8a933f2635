"""The local search index on a real SQLite file: Korean inside longer words, short terms,
end-to-end encrypted text read with the room key, edits and deletions, and the file's mode."""

import os
import stat
import sys

import pytest

import file_keyring
from messenger.client.services.keys import KeyAvailability
from messenger.client.services.local_db import forget_local_data_key, local_data_key
from messenger.client.services.search_index import SearchIndex, query_terms, search_index_path
from messenger.client.services.session_store import SessionStore
from messenger.core.e2e import RoomKeyring, new_room_key

ROOM = 7


def message(message_id: int, content: str, *, room_id: int = ROOM, encrypted: bool = False, **extra) -> dict:
    return {"id": message_id, "room_id": room_id, "sender_id": 3, "sender_name": "김민수", "content": content,
            "encrypted": encrypted, "message_type": "text", "created_at": f"2026-11-25T10:00:{message_id:02d}+00:00",
            "deleted": False, **extra}


class RoomKeys:
    """The part of E2EKeys that reading a message uses: one room's keyring, and any key it
    lacks is on its way."""

    def __init__(self, keyring: RoomKeyring):
        self._keyring = keyring

    def keyring(self, room_id: int) -> RoomKeyring:
        return self._keyring

    def key_availability(self, room_id: int, key_id: str) -> KeyAvailability:
        return KeyAvailability.HELD if key_id in self._keyring.key_ids else KeyAvailability.WAITING


@pytest.fixture
def index(tmp_path):
    made = SearchIndex(search_index_path(tmp_path, "http://127.0.0.1:5000", "kim"))
    yield made
    made.close()


def found(index: SearchIndex, query: str, **kwargs) -> list[int]:
    return [hit.message_id for hit in index.search(query, **kwargs)]


def test_a_korean_word_inside_a_longer_sentence_is_found(index):
    index.add([message(1, "오늘 회의는 삼층 회의실에서 합니다"), message(2, "점심 메뉴는 김치찌개"),
               message(3, "Meeting room booked")])
    assert found(index, "회의실") == [1]
    assert found(index, "회의") == [1]  # two letters: below a trigram, still found
    assert found(index, "찌개") == [2]
    assert found(index, "MEETING") == [3]  # case does not matter
    assert found(index, "oom") == [3]  # inside a word
    assert found(index, "회의 삼층") == [1]  # every term must occur
    assert found(index, "회의 김치") == []
    assert found(index, "") == []


def test_hits_come_newest_first_and_a_room_narrows_them(index):
    index.add([message(1, "보고서 초안"), message(2, "보고서 최종", room_id=8), message(3, "보고서 수정")])
    assert found(index, "보고서") == [3, 2, 1]
    assert found(index, "보고서", room_id=ROOM) == [3, 1]
    assert found(index, "보고서", limit=1) == [3]


def test_query_syntax_is_taken_as_plain_text(index):
    index.add([message(1, 'say "hi" AND NOT OR 100% a_b')])
    for query in ['"hi"', "AND", "NOT OR", "100%", "a_b", "*", "(", 'hi"']:
        assert index.search(query) is not None  # never an FTS5 syntax error
    assert found(index, '"hi"') == [1]
    assert found(index, "100%") == [1]
    assert found(index, "%") == [1]
    assert found(index, "a_") == [1]
    assert found(index, "_x") == []  # LIKE wildcards are escaped


def test_edits_and_deletions_change_what_is_found(index):
    index.add([message(1, "내일 출장 갑니다"), message(2, "다음 주 출장")])
    index.edit(ROOM, 1, "내일 휴가 갑니다", False)
    assert found(index, "출장") == [2]
    assert found(index, "휴가") == [1]
    index.remove(2)
    assert found(index, "출장") == []
    # A deleted message in a page of history leaves the index too.
    index.add([message(1, "", deleted=True)])
    assert found(index, "휴가") == []
    assert index.count() == 0
    # An edit of a message never indexed adds nothing.
    index.edit(ROOM, 9, "새 글", False)
    assert index.count() == 0


def test_encrypted_text_is_indexed_as_read_with_the_room_key(tmp_path):
    keyring = RoomKeyring([new_room_key()])
    index = SearchIndex(tmp_path / "index.sqlite3", keys=lambda: RoomKeys(keyring))
    try:
        index.add([message(1, keyring.encrypt("비밀 프로젝트 일정"), encrypted=True)])
        hits = index.search("프로젝트")
        assert [hit.body for hit in hits] == ["비밀 프로젝트 일정"]
        index.edit(ROOM, 1, keyring.encrypt("공개 일정"), True)
        assert found(index, "프로젝트") == []
        assert found(index, "공개") == [1]
    finally:
        index.close()
    # Without keys, encrypted messages are left out, never indexed as envelopes.
    index = SearchIndex(tmp_path / "other.sqlite3")
    try:
        index.add([message(1, keyring.encrypt("비밀 프로젝트 일정"), encrypted=True)])
        assert index.count() == 0
    finally:
        index.close()


def test_a_message_waiting_for_its_room_key_is_indexed_when_the_key_arrives(tmp_path):
    room_key = new_room_key()
    sender = RoomKeyring([room_key])
    mine = RoomKeyring()
    index = SearchIndex(tmp_path / "index.sqlite3", keys=lambda: RoomKeys(mine))
    try:
        index.add([message(1, sender.encrypt("열쇠가 늦게 온 메시지"), encrypted=True),
                   message(2, sender.encrypt("수정 전"), encrypted=True, room_id=8)])
        index.edit(8, 2, sender.encrypt("수정 후 메시지"), True)
        assert index.count() == 0
        mine.add(room_key)
        index.keys_changed(ROOM)
        assert found(index, "메시지") == [1]  # only the room whose keys changed is read again
        index.keys_changed(8)
        assert found(index, "메시지") == [2, 1]
        assert found(index, "수정 전") == []  # the edit waited with it
    finally:
        index.close()


def test_file_messages_are_found_by_their_name(index):
    index.add([message(1, "분기 보고서.pdf", message_type="file", file_name="분기 보고서.pdf", file_size=10)])
    assert found(index, "보고서") == [1]


def test_the_index_survives_a_restart_and_is_per_account(tmp_path):
    path = search_index_path(tmp_path, "http://127.0.0.1:5000", "kim")
    assert path != search_index_path(tmp_path, "http://127.0.0.1:5000", "lee")
    assert path.parent == tmp_path / "search"
    first = SearchIndex(path)
    first.add([message(1, "다시 열어도 남아 있음")])
    first.close()
    first.close()  # twice is harmless
    first.add([message(2, "닫힌 뒤에 온 것")])  # dropped, not an error
    again = SearchIndex(path)
    try:
        assert found(again, "남아") == [1]
        assert again.count() == 1
    finally:
        again.close()


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX file modes")
def test_only_this_os_account_can_read_the_index(index):
    index.add([message(1, "개인 메시지")])
    index.count()
    assert stat.S_IMODE(os.stat(index.path).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(index.path.parent).st_mode) == 0o700


def test_a_snippet_marks_every_hit_near_the_first_one(index):
    long_text = "가나다라 " * 30 + "중요한 회의 안건은 예산입니다. 회의 끝." + " 마바사" * 30
    index.add([message(1, long_text)])
    [hit] = index.search("회의")
    pieces = hit.snippet(60)
    assert pieces[0] == ("…", False) and pieces[-1] == ("…", False)
    assert [text for text, is_hit in pieces if is_hit] == ["회의", "회의"]
    assert sum(len(text) for text, _ in pieces[1:-1]) == 60
    assert query_terms("  Hello  hello 회의 ") == ("hello", "회의")


def test_sealed_at_rest_under_the_keyring_key_and_gone_after_forget(tmp_path, monkeypatch):
    """The index's file is opaque without the account's local data key, which a real keyring
    backend (a file, as the command-line tests use) keeps; forgetting both wipes it."""
    monkeypatch.setenv(file_keyring.PATH_ENV, str(tmp_path / "keyring.json"))
    store = SessionStore(tmp_path / "data", backend=file_keyring.FileKeyring())
    key = local_data_key(store, "http://127.0.0.1:5000", "kim")
    assert local_data_key(store, "http://127.0.0.1:5000", "kim") == key  # kept, not made again
    path = search_index_path(tmp_path / "data", "http://127.0.0.1:5000", "kim")
    first = SearchIndex(path, sealing_key=key)
    first.add([message(1, "삼층 회의실 비밀번호 7788")])
    first.close()
    assert path.read_bytes().startswith(b"E2I1") and "7788".encode() not in path.read_bytes()
    assert "회의실".encode() not in path.read_bytes()
    again = SearchIndex(path, sealing_key=key)
    assert found(again, "회의실") == [1]
    again.close()

    stranger = SearchIndex(path, sealing_key=os.urandom(32))  # another key: nothing opens, nothing stays
    assert stranger.count() == 0
    stranger.close()
    forget_local_data_key(store, "http://127.0.0.1:5000", "kim")
    assert local_data_key(store, "http://127.0.0.1:5000", "kim") != key
    last = SearchIndex(path, sealing_key=key)
    last.add([message(2, "다시")])
    last.forget()
    assert not path.exists()


def test_a_plaintext_index_from_before_is_wiped_when_sealing_starts(tmp_path):
    path = tmp_path / "index.sqlite3"
    plain = SearchIndex(path)
    plain.add([message(1, "평문으로 남은 회의록")])
    plain.close()
    assert "회의록".encode() in path.read_bytes()
    sealed = SearchIndex(path, sealing_key=os.urandom(32))
    assert sealed.count() == 0
    sealed.close()
    assert not path.exists() or "회의록".encode() not in path.read_bytes()
