"""Polls in the tray client against a real server: made in the new-poll dialog on one desk,
voted on both, the vote changed, closed, and the results the same on both desks."""

from desk_kit import WAIT_MS, sign_in
from test_chat import group_room


def option_ids(poll: dict) -> dict[str, int]:
    return {o["text"]: o["id"] for o in poll["options"]}


def test_a_poll_made_voted_and_closed_shows_the_same_results_on_both_desks(server, users, desks, qtbot):
    kim, lee, park = users(3)
    room_id = group_room(kim, [lee, park], "Team")
    kim_window = sign_in(qtbot, desks.start("kim"), server.url, kim.user["username"])
    lee_window = sign_in(qtbot, desks.start("lee"), server.url, lee.user["username"])
    kim_polls, lee_polls = kim_window.polls(room_id), lee_window.polls(room_id)
    qtbot.waitUntil(lambda: kim_polls.loaded and lee_polls.loaded, timeout=WAIT_MS)

    new = kim_polls.new_poll()
    new.question.setText("점심 메뉴 Lunch?")
    new.option_edits[0].setText("김밥")
    new.option_edits[1].setText("Pizza")
    new.add_option().setText("Salad")
    new.anonymous.setChecked(False)
    with qtbot.waitSignal(new.created, timeout=WAIT_MS) as made:
        new.ok_button.click()
    poll_id = made.args[0]["id"]
    options = option_ids(made.args[0])
    assert list(options) == ["김밥", "Pizza", "Salad"]

    qtbot.waitUntil(lambda: lee_polls.model.poll(poll_id) is not None, timeout=WAIT_MS)
    assert lee_polls.select(poll_id)
    assert not lee_polls.card.close_button.isVisible()  # not Lee's poll, and Lee is no admin
    lee_polls.card.choose([options["Pizza"]])
    lee_polls.card.vote_button.click()
    qtbot.waitUntil(lambda: kim_polls.model.poll(poll_id)["options"][1]["vote_count"] == 1, timeout=WAIT_MS)

    # Lee changes the vote: the count moves, it does not add up.
    qtbot.waitUntil(lambda: lee_polls.card.vote_button.text() == "Change vote", timeout=WAIT_MS)
    lee_polls.card.choose([options["김밥"]])
    lee_polls.card.vote_button.click()
    qtbot.waitUntil(lambda: kim_polls.model.poll(poll_id)["options"][0]["vote_count"] == 1, timeout=WAIT_MS)
    assert kim_polls.model.poll(poll_id)["options"][1]["vote_count"] == 0
    assert kim_polls.model.poll(poll_id)["options"][0]["voters"] == [lee.user["id"]]

    assert kim_polls.select(poll_id)
    kim_polls.card.choose([options["김밥"]])
    kim_polls.card.vote_button.click()
    qtbot.waitUntil(lambda: lee_polls.card.counts()["김밥"] == 2, timeout=WAIT_MS)
    assert kim_polls.card.close_button.isVisible()
    kim_polls.card.close_button.click()

    qtbot.waitUntil(lambda: lee_polls.model.poll(poll_id)["closed"], timeout=WAIT_MS)
    qtbot.waitUntil(lambda: lee_polls.card.status.text() == "Closed", timeout=WAIT_MS)
    assert not lee_polls.card.vote_button.isEnabled()
    assert lee_polls.card.counts() == kim_polls.card.counts() == {"김밥": 2, "Pizza": 0, "Salad": 0}


def test_a_poll_needs_a_question_and_two_different_options(server, users, desks, qtbot):
    kim, lee = users(2)
    room_id = group_room(kim, [lee], "Pair")
    kim_window = sign_in(qtbot, desks.start("kim"), server.url, kim.user["username"])
    polls = kim_window.polls(room_id)
    qtbot.waitUntil(lambda: polls.loaded, timeout=WAIT_MS)

    new = polls.new_poll()
    new.question.setText("Same?")
    new.option_edits[0].setText("yes")
    new.option_edits[1].setText("yes")
    new.ok_button.click()
    assert new.error.text() == "Enter a question and 2 to 10 different options."
    for _ in range(20):
        new.add_option()
    assert len(new.option_edits) == 10 and not new.add_option_button.isEnabled()


def test_opening_the_polls_shows_the_newest_poll_at_once(server, users, desks, qtbot):
    kim, lee = users(2)
    room_id = group_room(kim, [lee], "Pair")
    for question in ("Older?", "Newest?"):
        made = kim.post(f"/api/rooms/{room_id}/polls", json={"question": question, "options": ["a", "b"]})
        assert made.status_code in (200, 201), made.text
    lee_window = sign_in(qtbot, desks.start("lee"), server.url, lee.user["username"])
    polls = lee_window.polls(room_id)
    qtbot.waitUntil(lambda: polls.loaded, timeout=WAIT_MS)
    qtbot.waitUntil(lambda: polls.card.poll is not None, timeout=WAIT_MS)
    assert polls.card.poll["question"] == "Newest?" and polls.card.vote_button.isVisible()
