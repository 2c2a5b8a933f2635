"""Realtime against a real server: live events, reconnects, gap fill exactly once and in order."""

import uuid

import pytest
from client_kit import Recorder

from messenger.client.services.api import ServerRefused as ApiError
from messenger.client.services.realtime import ConnectionState, NotConnected, Realtime


def text(room_id: int, content: str) -> dict:
    return {"room_id": room_id, "content": content, "encrypted": False, "client_msg_id": uuid.uuid4().hex}


def new_messages(recorder: Recorder, room_id: int) -> list[str]:
    return [data["content"] for event, data in recorder.calls if event == "new_message" and data["room_id"] == room_id]


def wait_for_contents(recorder: Recorder, room_id: int, expected: list[str], timeout: float = 20) -> None:
    """Wait until the room's new_message contents are `expected`, then check no extra ones."""
    recorder.wait_for(lambda calls: len(new_messages(recorder, room_id)) >= len(expected), timeout)
    assert new_messages(recorder, room_id) == expected


def started(live: Realtime, timeout: float = 15) -> Realtime:
    live.start()
    assert live.wait_synced(timeout), f"not connected: {live.state}"
    return live


def test_live_messages_reach_callbacks_and_the_ack_has_the_message_id(clients, realtimes):
    kim, lee = clients(), clients()
    room_id = kim.create_room([lee.user["id"]])["room_id"]
    heard, any_event, states = Recorder(), Recorder(), Recorder()
    listener = realtimes(lee)
    listener.on("new_message", heard)
    listener.on_any(any_event)
    listener.on_state(states)
    started(listener)
    sender = started(realtimes(kim))
    ack = sender.send_message(room_id, "안녕하세요", encrypted=False, client_msg_id=uuid.uuid4().hex)
    assert ack["ok"] is True and isinstance(ack["message_id"], int)
    message = heard.wait_for(lambda calls: calls)[0]
    assert message["id"] == ack["message_id"] and message["content"] == "안녕하세요"
    assert message["event_id"] > 0
    assert ("new_message", message) in any_event.calls
    assert [state for state, _ in states.calls][:2] == [ConnectionState.CONNECTING, ConnectionState.CONNECTED]
    assert listener.cursor >= message["event_id"]


def test_a_repeated_client_msg_id_gives_the_first_message_and_no_second_event(clients, realtimes):
    kim, lee = clients(), clients()
    room_id = kim.create_room([lee.user["id"]])["room_id"]
    heard = Recorder()
    listener = realtimes(lee)
    listener.on_any(heard)
    started(listener)
    sender = started(realtimes(kim))
    payload = text(room_id, "once")
    first = sender.send_message(**payload)
    again = sender.send_message(**payload)
    assert again["message_id"] == first["message_id"] and again.get("duplicate") is True
    sender.send_message(**text(room_id, "marker"))
    wait_for_contents(heard, room_id, ["once", "marker"])


def test_refusals_come_back_as_api_error_and_a_stopped_client_cannot_send(clients, realtimes):
    kim, outsider = clients(), clients()
    room_id = kim.create_room([clients().user["id"]])["room_id"]
    live = started(realtimes(outsider, cursor=0))
    with pytest.raises(ApiError) as refused:
        live.send_message(**text(room_id, "let me in"))
    assert refused.value.code == "ROOM_NOT_FOUND" and refused.value.status is None
    assert refused.value.message_localized == "대화방을 찾을 수 없습니다."
    live.stop()
    assert live.state is ConnectionState.DISCONNECTED
    with pytest.raises(NotConnected):
        live.send_message(**text(room_id, "late"))


def test_a_new_client_starts_at_the_current_cursor_without_replaying_history(clients, realtimes):
    kim, lee = clients(), clients()
    room_id = kim.create_room([lee.user["id"]])["room_id"]
    early = started(realtimes(kim))
    early.send_message(**text(room_id, "before lee started"))
    heard = Recorder()
    listener = realtimes(lee)
    listener.on("new_message", heard)
    started(listener)
    early.send_message(**text(room_id, "after"))
    heard.wait_for(lambda calls: calls)
    assert [m["content"] for m in heard.calls] == ["after"]


def test_gap_fill_after_a_cut_delivers_every_message_once_in_order(server, clients, realtimes, relay):
    """Messages sent while the listener's network is down arrive after it reconnects,
    after the ones it saw live, each exactly once."""
    link = relay(server.url)
    kim = clients()
    lee = clients(url=link.url)
    room_id = kim.create_room([lee.user["id"]])["room_id"]
    heard, states = Recorder(), Recorder()
    listener = realtimes(lee)
    listener.on_any(heard)
    listener.on_state(states)
    started(listener)
    sender = started(realtimes(kim))
    sender.send_message(**text(room_id, "live 1"))
    wait_for_contents(heard, room_id, ["live 1"])

    link.down()
    states.wait_for(lambda calls: (ConnectionState.DISCONNECTED, "connection_lost") in calls)
    missed = [f"missed {i}" for i in range(12)]
    for content in missed:
        sender.send_message(**text(room_id, content))
    link.up()
    wait_for_contents(heard, room_id, ["live 1", *missed])
    sender.send_message(**text(room_id, "live 2"))
    wait_for_contents(heard, room_id, ["live 1", *missed, "live 2"])
    event_ids = [data["event_id"] for event, data in heard.calls if isinstance(data, dict) and "event_id" in data]
    assert len(event_ids) == len(set(event_ids))


def test_messages_sent_during_the_reconnect_itself_are_not_lost_or_doubled(server, clients, realtimes, relay):
    """Live events racing the catch-up: whatever arrives both live and by cursor counts once."""
    link = relay(server.url)
    kim = clients()
    lee = clients(url=link.url)
    room_id = kim.create_room([lee.user["id"]])["room_id"]
    heard = Recorder()
    listener = realtimes(lee)
    listener.on_any(heard)
    started(listener)
    sender = started(realtimes(kim))
    expected = []
    for round_number in range(3):
        link.cut()  # the listener reconnects at once, while messages keep coming
        for i in range(15):
            expected.append(f"r{round_number} m{i}")
            sender.send_message(**text(room_id, expected[-1]))
    wait_for_contents(heard, room_id, expected, timeout=30)


def test_gap_fill_across_a_server_crash_and_restart(fresh_server, clients, realtimes, relay):
    box = fresh_server()
    link = relay(box.url)
    kim = clients(on=box)
    lee = clients(on=box, url=link.url)
    room_id = kim.create_room([lee.user["id"]])["room_id"]
    heard, states = Recorder(), Recorder()
    listener = realtimes(lee)
    listener.on_any(heard)
    listener.on_state(states)
    started(listener)
    sender = started(realtimes(kim))
    sender.send_message(**text(room_id, "before the crash"))
    wait_for_contents(heard, room_id, ["before the crash"])

    link.down()  # lee stays away a little longer than the server
    box.kill()
    box.start()
    link.retarget(box.url)
    kim_again = clients(kim.user["username"], on=box)
    missed = [f"while lee was away {i}" for i in range(5)]
    sender_again = started(realtimes(kim_again))
    for content in missed:
        sender_again.send_message(**text(room_id, content))
    link.up()
    wait_for_contents(heard, room_id, ["before the crash", *missed], timeout=30)
    assert (ConnectionState.DISCONNECTED, "unreachable") in states.calls  # it kept trying meanwhile


def test_reconnect_uses_the_rotated_token(server, clients, realtimes, relay):
    link = relay(server.url)
    kim = clients()
    lee = clients(url=link.url)
    room_id = kim.create_room([lee.user["id"]])["room_id"]
    heard, states = Recorder(), Recorder()
    listener = realtimes(lee)
    listener.on("new_message", heard)
    listener.on_state(states)
    started(listener)
    lee.refresh()  # the token the socket connected with is dead now
    link.cut()
    states.wait_for(lambda calls: (ConnectionState.DISCONNECTED, "connection_lost") in calls)
    assert listener.wait_synced(15)
    started(realtimes(kim)).send_message(**text(room_id, "after rotation"))
    heard.wait_for(lambda calls: calls)
    assert lee.token is not None
    assert (ConnectionState.DISCONNECTED, "session_ended") not in states.calls


def test_a_revoked_device_stops_reconnecting_and_forgets_its_session(clients, realtimes):
    kim = clients()
    phone = clients(kim.user["username"])
    states, revoked = Recorder(), Recorder()
    live = realtimes(kim)
    live.on_state(states)
    live.on("session_revoked", revoked)
    started(live)
    current = next(s["id"] for s in kim.device_sessions() if s["is_current"])
    phone.revoke_device_session(current)
    states.wait_for(lambda calls: (ConnectionState.DISCONNECTED, "session_ended") in calls)
    assert revoked.calls and revoked.calls[0]["reason"]
    assert kim.token is None
    assert not live.connected


def test_a_dead_token_is_refused_at_connect_and_ends_the_session(server, clients, realtimes, file_store):
    kim = clients(store=file_store)
    name = kim.user["username"]
    phone = clients(name)
    phone.revoke_device_session(next(s["id"] for s in kim.device_sessions() if s["is_current"]))
    states = Recorder()
    live = realtimes(kim, cursor=0)  # a saved cursor: the first thing it does is connect
    live.on_state(states)
    live.start()
    states.wait_for(lambda calls: (ConnectionState.DISCONNECTED, "session_ended") in calls)
    assert kim.token is None
    assert file_store.load_token(server.url, name) is None


def test_a_saved_cursor_resumes_where_the_last_run_stopped(clients, realtimes):
    kim, lee = clients(), clients()
    room_id = kim.create_room([lee.user["id"]])["room_id"]
    sender = started(realtimes(kim))
    seen = Recorder()
    first_run = realtimes(lee)
    first_run.on("new_message", seen)
    started(first_run)
    sender.send_message(**text(room_id, "seen in the first run"))
    seen.wait_for(lambda calls: calls)
    first_run.stop()
    saved = first_run.cursor
    sender.send_message(**text(room_id, "while the app was closed"))
    heard = Recorder()
    second_run = realtimes(lee, cursor=saved)
    second_run.on("new_message", heard)
    started(second_run)
    sender.send_message(**text(room_id, "live again"))
    heard.wait_for(lambda calls: len(calls) >= 2)
    assert [m["content"] for m in heard.calls] == ["while the app was closed", "live again"]


def test_reconnect_on_request_comes_back_and_misses_nothing(clients, realtimes):
    kim, lee = clients(), clients()
    room_id = kim.create_room([lee.user["id"]])["room_id"]
    heard, states = Recorder(), Recorder()
    listener = realtimes(lee)
    listener.on_any(heard)
    listener.on_state(states)
    started(listener)
    sender = started(realtimes(kim))
    expected = []
    for i in range(3):
        listener.reconnect()
        for j in range(5):
            expected.append(f"{i}.{j}")
            sender.send_message(**text(room_id, expected[-1]))
    wait_for_contents(heard, room_id, expected)
    assert [s for s in states.calls if s[1] == "connection_lost"]
    assert listener.wait_synced(15)
