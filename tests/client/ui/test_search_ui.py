"""Local search in the tray client against a real server: desk B finds the end-to-end
encrypted messages desk A sent (Korean inside longer words), edits and deletions change
what is found, history pages are indexed, and a result asks to open its room there."""

from desk_kit import WAIT_MS, sign_in
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest
from test_chat import group_room, say, signed_in_desks

from messenger.client.ui.search import HIT_BACKGROUND, SearchDialog


def search_dialog(qtbot, window) -> SearchDialog:
    dialog = SearchDialog(window.session, window, lambda room_id: window.rooms.room(room_id).title)
    qtbot.addWidget(dialog)
    dialog.show()
    return dialog


def indexed(qtbot, session, query: str, count: int) -> None:
    """Wait until the desk's index holds `count` messages matching `query` (it is fed asynchronously)."""
    qtbot.waitUntil(lambda: len(session.search_index.search(query)) == count, timeout=WAIT_MS)


def search(qtbot, dialog: SearchDialog, query: str) -> list:
    dialog.query.setText(query)
    dialog.search()
    qtbot.waitUntil(lambda: dialog.searched == query, timeout=WAIT_MS)
    return dialog.results.hits()


def test_desk_b_finds_the_encrypted_messages_desk_a_sent(server, users, desks, qtbot):
    kim, lee, park = users(3)
    room_id = group_room(kim, [lee, park], "기획팀")
    kim_window, lee_window = signed_in_desks(qtbot, desks, ("kim", server.url, kim), ("lee", server.url, lee))
    qtbot.waitUntil(lambda: lee_window.rooms.room(room_id) is not None, timeout=WAIT_MS)

    kim_window.session.send_text(room_id, "오늘 회의는 삼층 회의실에서 합니다")
    kim_window.session.send_text(room_id, "점심은 김치찌개")
    indexed(qtbot, lee_window.session, "회의실", 1)
    indexed(qtbot, lee_window.session, "김치", 1)
    stored = kim.get(f"/api/rooms/{room_id}/messages").json()["messages"]
    assert all(m["encrypted"] and m["content"].startswith("v5:") for m in stored)  # the server cannot search them

    dialog = search_dialog(qtbot, lee_window)
    [hit] = search(qtbot, dialog, "회의실")  # inside a longer Korean word
    assert hit.body == "오늘 회의는 삼층 회의실에서 합니다" and hit.room_id == room_id
    assert hit.sender_name == kim.user["nickname"]
    assert dialog.status.text() == "1 found"
    shown = dialog.results.data(dialog.results.index(0))
    assert "기획팀" in shown and f'background:{HIT_BACKGROUND}; font-weight:600">회의실</span>' in shown
    assert [h.body for h in search(qtbot, dialog, "찌개")] == ["점심은 김치찌개"]  # two letters
    assert search(qtbot, dialog, "회의 찌개") == []
    assert dialog.status.text() == "No messages found."

    search(qtbot, dialog, "회의")
    with qtbot.waitSignal(dialog.open_room, timeout=WAIT_MS) as chosen:
        dialog.view.setFocus()
        QTest.keyClick(dialog.view, Qt.Key.Key_Return)
    assert chosen.args == [room_id, hit.message_id]
    assert not dialog.isVisible()


def test_a_result_from_far_back_opens_its_room_with_that_message_in_view(server, users, sockets, desks, qtbot):
    kim, lee = users(2)
    room_id = group_room(kim, [lee], "Team")
    lee_window = sign_in(qtbot, desks.start("lee"), server.url, lee.user["username"])
    qtbot.waitUntil(lambda: lee_window.rooms.room(room_id) is not None, timeout=WAIT_MS)
    kim_socket = sockets(kim)
    wanted = say(kim_socket, room_id, "분기 보고서는 금요일 마감입니다")
    for number in range(300):  # the first page and one older page hold only these
        say(kim_socket, room_id, f"message {number}")
    say(kim_socket, room_id, "마지막 안내")
    indexed(qtbot, lee_window.session, "마지막", 1)  # the index is fed in order: all of them are in

    dialog = lee_window.search()
    [hit] = search(qtbot, dialog, "보고서")
    dialog.view.setFocus()
    QTest.keyClick(dialog.view, Qt.Key.Key_Return)

    view = lee_window.chat_view
    qtbot.waitUntil(lambda: lee_window.chat.row_of_message(wanted) is not None, timeout=WAIT_MS)
    row = lee_window.chat.row_of_message(wanted)
    qtbot.waitUntil(lambda: view.viewport().rect().intersects(view.visualRect(lee_window.chat.index(row))),
                    timeout=WAIT_MS)
    assert lee_window.chat.room_id == room_id and hit.message_id == wanted


def test_edits_and_deletions_on_desk_a_change_what_desk_b_finds(server, users, desks, qtbot):
    kim, lee = users(2)
    room_id = group_room(kim, [lee], "Team")
    kim_window, lee_window = signed_in_desks(qtbot, desks, ("kim", server.url, kim), ("lee", server.url, lee))
    qtbot.waitUntil(lambda: lee_window.rooms.room(room_id) is not None, timeout=WAIT_MS)

    kim_window.session.send_text(room_id, "내일 출장 갑니다")
    indexed(qtbot, lee_window.session, "출장", 1)
    [hit] = lee_window.session.search_index.search("출장")

    kim_window.session.edit_message(room_id, hit.message_id, "내일 휴가 갑니다")
    indexed(qtbot, lee_window.session, "휴가", 1)
    assert lee_window.session.search_index.search("출장") == []

    kim_window.session.delete_message(hit.message_id)
    indexed(qtbot, lee_window.session, "휴가", 0)


def test_history_pages_are_indexed(server, users, sockets, desks, qtbot):
    kim, lee = users(2)
    room_id = group_room(kim, [lee], "Team")
    say(sockets(kim), room_id, "지난주 회의록 공유합니다")  # before Lee's desk ever ran
    lee_window = sign_in(qtbot, desks.start("lee"), server.url, lee.user["username"])
    session = lee_window.session
    assert session.search_index.search("회의록") == []

    lee_window.open_room(room_id)  # the room's history page is indexed as it arrives
    indexed(qtbot, session, "회의록", 1)
