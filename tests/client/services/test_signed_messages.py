"""Signed, ordered messages (spec/e2e.md §2a) between real devices on a real server: what a reader
shows when the server re-attributes, replays, reorders, re-targets or moves a message, or a member
signs as another, and that a page read again is not verified again."""

import base64
import threading
import time
from types import SimpleNamespace

import pytest
from client_kit import group, wait_until

from messenger.client.services import keys as keys_package
from messenger.client.services.messages import SPLIT_AT, ContentState, open_ahead, read_message, send_text
from messenger.core.e2e.signed import SenderDevice, SignedEnvelope, seal_message


@pytest.fixture
def pair(devices, realtimes):
    """Alice (with a live connection to send on) and bob, each on a verified device, in one room."""
    alice, bob = devices(), devices()
    alice.realtime = realtimes(alice.api)
    alice.realtime.start()
    assert alice.realtime.wait_synced(15)
    return alice, bob, group(alice, bob)


def send(sender, room_id: int, text: str, reply_to: int | None = None) -> dict:
    """Seal and send `text` as the apps do; the message as the server stores it."""
    message_id = send_text(sender, sender.realtime, room_id, text, reply_to=reply_to)["message_id"]
    return next(m for m in sender.api.messages(room_id)["messages"] if m["id"] == message_id)


def shown(reader, message: dict):
    readable = read_message(reader, message)
    return readable.state, readable.error_code, readable.text


def test_the_reader_checks_sender_room_reply_and_place_and_shows_any_change_as_tampered(pair):
    alice, bob, room_id = pair
    first = send(alice, room_id, "첫째")
    second = send(alice, room_id, "둘째, 첫째에 답장", reply_to=first["id"])
    third = send(alice, room_id, "셋째")
    wait_until(lambda: shown(bob, first)[0] is ContentState.READABLE, timeout=20)
    for message, text in ((first, "첫째"), (second, "둘째, 첫째에 답장"), (third, "셋째")):
        assert shown(bob, message) == (ContentState.READABLE, None, text)
        assert read_message(bob, message).signed and read_message(bob, message).mark is None

    other_room = group(alice, bob)
    tampered = ContentState.TAMPERED
    assert shown(bob, {**first, "room_id": other_room})[:2] == (tampered, "E2E_SIGNATURE_INVALID")  # moved
    assert shown(bob, {**first, "sender_id": bob.user_id})[:2] == (tampered, "E2E_MISATTRIBUTED")  # re-attributed
    assert shown(bob, {**second, "reply_to": third["id"]})[:2] == (tampered, "E2E_MISATTRIBUTED")  # re-targeted
    assert shown(bob, {**third, "message_type": "file"})[:2] == (tampered, "E2E_MISATTRIBUTED")
    assert shown(bob, {**first, "id": third["id"] + 1})[:2] == (tampered, "E2E_REPLAYED")  # shown again later
    # Two of alice's messages shown in each other's place: the second one read is out of order.
    fourth, fifth = send(alice, room_id, "넷째"), send(alice, room_id, "다섯째")
    assert shown(bob, {**fifth, "id": fourth["id"]})[0] is ContentState.READABLE
    assert shown(bob, {**fourth, "id": fifth["id"]})[:2] == (tampered, "E2E_REORDERED")
    # What the server did not change still reads, however often it is read.
    assert shown(bob, second) == (ContentState.READABLE, None, "둘째, 첫째에 답장")
    assert shown(bob, {"content": first["content"], "encrypted": True, "room_id": room_id})[0] is ContentState.READABLE

    raw = first["content"].split(":")
    changed = bytearray(base64.b64decode(raw[5]))  # the ciphertext
    changed[-1] ^= 1
    raw[5] = base64.b64encode(bytes(changed)).decode()
    assert shown(bob, {**first, "content": ":".join(raw)})[:2] == (tampered, "E2E_SIGNATURE_INVALID")


def test_an_edit_names_the_message_it_replaces(pair):
    alice, bob, room_id = pair
    original, other = send(alice, room_id, "회의는 3시"), send(alice, room_id, "안건 없음")
    edit = alice.encrypt(room_id, "회의는 4시", edit_of=original["id"])
    alice.api.edit_message(original["id"], edit, encrypted=True)
    edited = next(m for m in bob.api.messages(room_id)["messages"] if m["id"] == original["id"])
    wait_until(lambda: shown(bob, edited)[0] is ContentState.READABLE, timeout=20)
    assert shown(bob, edited) == (ContentState.READABLE, None, "회의는 4시")
    assert shown(bob, {**other, "content": edit})[:2] == (ContentState.TAMPERED, "E2E_MISATTRIBUTED")


def test_a_member_cannot_sign_as_another_member(pair):
    alice, bob, room_id = pair
    honest = send(alice, room_id, "진짜 앨리스")
    wait_until(lambda: shown(bob, honest)[0] is ContentState.READABLE, timeout=20)
    # Bob holds the room key and his own device's keys; he claims to be alice.
    device = bob._require_device()
    claimed = SenderDevice(alice.user_id, bob.device_session_id, device.public_key, device.signing_public_key,
                           bob._own_identity_signature)
    forged = seal_message(bob.keyring(room_id), room_id, claimed, device.signing, "앨리스인 척", 2**52)
    assert shown(alice, {**honest, "content": forged, "id": honest["id"] + 100})[:2] == (
        ContentState.TAMPERED, "E2E_UNVERIFIED_SENDER")


def test_a_page_read_again_is_not_verified_again(pair, monkeypatch):
    alice, bob, room_id = pair
    page = [send(alice, room_id, f"줄 {n}") for n in range(5)]
    wait_until(lambda: shown(bob, page[0])[0] is ContentState.READABLE, timeout=20)
    checked = []
    real_read = SignedEnvelope.read.__func__
    monkeypatch.setattr(SignedEnvelope, "read", classmethod(lambda cls, *a: checked.append(a) or real_read(cls, *a)))
    assert [shown(bob, m)[2] for m in page] == [f"줄 {n}" for n in range(5)]
    assert len(checked) == 4  # the first one was opened (and kept) by the wait above
    assert [shown(bob, m)[2] for m in page] == [f"줄 {n}" for n in range(5)]
    assert len(checked) == 4


def test_a_page_opens_on_two_threads_and_is_then_read_in_order_without_opening_again(pair, monkeypatch):
    alice, bob, room_id = pair
    page = [send(alice, room_id, f"줄 {n}") for n in range(SPLIT_AT)]
    replayed = {**page[3], "id": page[-1]["id"] + 1}  # the server shows an envelope again, later
    wait_until(lambda: shown(bob, page[0])[0] is ContentState.READABLE, timeout=20)
    threads = set()
    real_read = SignedEnvelope.read.__func__
    monkeypatch.setattr(SignedEnvelope, "read", classmethod(
        lambda cls, *a: threads.add(threading.current_thread().name) or real_read(cls, *a)))

    open_ahead(bob, [*page, replayed])

    assert len(threads) == 2  # the second half on a thread of its own
    monkeypatch.setattr(SignedEnvelope, "read", classmethod(lambda cls, *a: pytest.fail("opened again")))
    assert [shown(bob, m) for m in page] == [(ContentState.READABLE, None, f"줄 {n}") for n in range(SPLIT_AT)]
    # Read in order, the mark falls on the later copy, whichever thread opened it.
    assert shown(bob, replayed)[:2] == (ContentState.TAMPERED, "E2E_REPLAYED")


def test_the_sequence_keeps_rising_across_a_restart_with_the_clock_set_back(devices, monkeypatch):
    alice = devices()
    room_id = group(alice)
    before = SignedEnvelope.read(alice.encrypt(room_id, "before"), room_id).open(alice.keyring(room_id)).seq
    monkeypatch.setattr(keys_package.signing, "time", SimpleNamespace(time=lambda: 1.0))  # set back to 1970
    again = keys_package.E2EKeys(alice.api, alice.store)
    again.start()
    try:
        after = SignedEnvelope.read(again.encrypt(room_id, "after"), room_id).open(again.keyring(room_id)).seq
    finally:
        again.close()
    assert after == before + 1


def test_what_verified_under_an_identity_trusted_at_the_time_stays_verified_after_it_changes(pair):
    """Alice resets her identity and bob trusts the new one: what her device signed before still
    reads as hers, after a restart too (as in Signal); her old certificate signing anything
    dated after the change (a lost laptop, say) is refused."""
    alice, bob, room_id = pair
    before = send(alice, room_id, "바뀌기 전")
    wait_until(lambda: shown(bob, before)[0] is ContentState.READABLE, timeout=20)
    device = alice._require_device()
    old_certificate = SenderDevice(alice.user_id, alice.device_session_id, device.public_key,
                                   device.signing_public_key, alice._own_identity_signature)
    alice.reset_identity()
    bob.look_at_identity(alice.user_id)
    assert alice.user_id in bob.identity_changes()
    bob.trust_identity(alice.user_id)
    after = send(alice, room_id, "바뀐 뒤")
    wait_until(lambda: shown(bob, after)[0] is ContentState.READABLE, timeout=20)
    assert shown(bob, before) == (ContentState.READABLE, None, "바뀌기 전")
    assert shown(bob, after) == (ContentState.READABLE, None, "바뀐 뒤")

    late = seal_message(alice.keyring(room_id), room_id, old_certificate, device.signing, "옛 인증서로",
                        int(time.time() * 1000) + 60_000)
    assert shown(bob, {**after, "content": late, "id": after["id"] + 100})[:2] == (
        ContentState.TAMPERED, "E2E_UNVERIFIED_SENDER")

    restarted = keys_package.E2EKeys(bob.api, bob.store)
    restarted.start()
    try:
        assert shown(restarted, before) == (ContentState.READABLE, None, "바뀌기 전")
    finally:
        restarted.close()
