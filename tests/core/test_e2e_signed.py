"""v5 envelopes: the vectors read as they say, any changed character fails, and a body or
target the server changes is caught by the comparison with what it shows."""

import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from messenger.core.e2e import (
    EnvelopeError,
    EnvelopeTampered,
    MessageMisplaced,
    RoomKeyring,
    SignatureInvalid,
    UnverifiedSender,
    new_room_key,
)
from messenger.core.e2e.identity import IdentityKeys, device_signed_by
from messenger.core.e2e.keys import DeviceKeys
from messenger.core.e2e.signed import SenderDevice, SignedEnvelope, seal_message

VECTORS = json.loads((Path(__file__).resolve().parents[1] / "fixtures/e2e-v5-vectors.json").read_text(encoding="utf-8"))


def read(envelope: str, room_id: int, identity_key: str, keyring: RoomKeyring):
    """Steps 1-4 of spec/e2e.md §2a, as a reader with `identity_key` pinned for the sender does them."""
    signed = SignedEnvelope.read(envelope, room_id)
    sender = signed.sender
    if not device_signed_by(identity_key, sender.identity_signature, sender.user_id, sender.device_id,
                            sender.encryption_key, sender.signing_key):
        raise UnverifiedSender("not signed by the pinned identity")
    return signed, signed.open(keyring)


@pytest.mark.parametrize("case", VECTORS["cases"], ids=lambda case: case["name"])
def test_vectors(case):
    keyring = RoomKeyring([VECTORS["room_key"]])
    if "error" in case:
        with pytest.raises(EnvelopeError) as caught:
            read(case["envelope"], VECTORS["room_id"], VECTORS["identity_public_key"], keyring)
        assert caught.value.code == case["error"]
        return
    signed, body = read(case["envelope"], VECTORS["room_id"], VECTORS["identity_public_key"], keyring)
    assert {"seq": body.seq, "type": body.type, "reply_to": body.reply_to, "edit_of": body.edit_of,
            "text": body.text} == case["body"]
    sender = VECTORS["sender"]
    assert (signed.sender.user_id, signed.sender.device_id, signed.sender.encryption_key,
            signed.sender.signing_key) == (sender["user_id"], sender["device_session_id"], sender["encryption_key"],
                                           sender["signing_key"])


DEVICE, IDENTITY = DeviceKeys.generate(), IdentityKeys.generate()
KEYS = (DEVICE.public_key, DEVICE.signing_public_key)
SENDER = SenderDevice(5, 9, *KEYS, IDENTITY.sign_device(5, 9, *KEYS))
KEYRING = RoomKeyring([new_room_key()])
ENVELOPE = seal_message(KEYRING, 1, SENDER, DEVICE.signing, "보고서 초안", 10, reply_to=3)


@settings(max_examples=200, deadline=None)
@given(st.data())
def test_any_changed_character_is_refused(data):
    at = data.draw(st.integers(0, len(ENVELOPE) - 1))
    replacement = data.draw(st.sampled_from("AZaz09+/=:.v5"))
    changed = ENVELOPE[:at] + replacement + ENVELOPE[at + 1:]
    if changed == ENVELOPE:
        return
    with pytest.raises(EnvelopeError):
        read(changed, 1, IDENTITY.public_key, KEYRING)


def test_the_comparison_with_the_server_catches_each_field():
    signed, body = read(ENVELOPE, 1, IDENTITY.public_key, KEYRING)
    honest = {"id": 20, "sender_id": 5, "message_type": "text", "reply_to": 3}
    body.check_against(signed.sender, honest)
    body.check_against(signed.sender, {})  # a preview: nothing to compare
    for changed in ({"sender_id": 6}, {"message_type": "image"}, {"reply_to": None}, {"reply_to": 4}):
        with pytest.raises(MessageMisplaced) as caught:
            body.check_against(signed.sender, {**honest, **changed})
        assert caught.value.code == "E2E_MISATTRIBUTED" and isinstance(caught.value, EnvelopeTampered)
    edit = seal_message(KEYRING, 1, SENDER, DEVICE.signing, "고침", 11, reply_to=3, edit_of=20)
    signed_edit, edit_body = read(edit, 1, IDENTITY.public_key, KEYRING)
    assert (edit_body.edit_of, edit_body.reply_to) == (20, None)  # an edit is no reply of its own
    edit_body.check_against(signed_edit.sender, honest)
    with pytest.raises(MessageMisplaced):
        edit_body.check_against(signed_edit.sender, {**honest, "id": 21})


def test_moved_to_another_room_the_signature_fails():
    with pytest.raises(SignatureInvalid):
        read(ENVELOPE, 2, IDENTITY.public_key, KEYRING)


@pytest.mark.parametrize("arguments", [{"seq": 0}, {"seq": 2**53}, {"message_type": "poll"}, {"reply_to": 0}])
def test_a_caller_mistake_is_a_value_error(arguments):
    with pytest.raises(ValueError):
        seal_message(KEYRING, 1, SENDER, DEVICE.signing, "x", **{"seq": 1, **arguments})
