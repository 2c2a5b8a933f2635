"""User identities: a device signature holds only for its user, device and keys; codes and safety
numbers agree only when both sides see the same keys; the recovery key opens only its own blob."""

import base64
import re

import pytest

from messenger.core.e2e import AuthenticationFailed, DeviceKeys, MalformedEnvelope
from messenger.core.e2e.identity import (
    IdentityKeys,
    codes_match,
    device_signed_by,
    is_recovery_key,
    new_recovery_key,
    normalize_recovery_key,
    open_with_recovery_key,
    safety_number,
    seal_with_recovery_key,
    verification_code,
)

IDENTITY, OTHER = IdentityKeys.generate(), IdentityKeys.generate()
DEVICE, THIRD = DeviceKeys.generate(), DeviceKeys.generate()
KEYS = (DEVICE.public_key, DEVICE.signing_public_key)


def test_a_device_signature_holds_only_for_its_identity_user_device_and_keys():
    signature = IDENTITY.sign_device(7, 42, *KEYS)
    assert device_signed_by(IDENTITY.public_key, signature, 7, 42, *KEYS)
    assert not device_signed_by(OTHER.public_key, signature, 7, 42, *KEYS)
    assert not device_signed_by(IDENTITY.public_key, signature, 8, 42, *KEYS)
    assert not device_signed_by(IDENTITY.public_key, signature, 7, 43, *KEYS)
    assert not device_signed_by(IDENTITY.public_key, signature, 7, 42, THIRD.public_key, DEVICE.signing_public_key)
    assert not device_signed_by(IDENTITY.public_key, signature, 7, 42, DEVICE.public_key, THIRD.signing_public_key)
    for missing in (None, "", "not base64!", base64.b64encode(b"short").decode()):
        assert not device_signed_by(IDENTITY.public_key, missing, 7, 42, *KEYS)
        assert not device_signed_by(missing, signature, 7, 42, *KEYS)


def test_identity_keys_export_and_load():
    assert IdentityKeys.load(IDENTITY.export()).public_key == IDENTITY.public_key
    for bad in ("i1:" + base64.b64encode(b"x" * 31).decode(), "d1:abc", "i1"):
        with pytest.raises(MalformedEnvelope):
            IdentityKeys.load(bad)


def test_the_verification_code_changes_with_any_key_and_compares_loosely():
    code = verification_code(IDENTITY.public_key, 7, 42, *KEYS)
    assert re.fullmatch(r"\d{5} \d{5} \d{5}", code)
    assert code == verification_code(IDENTITY.public_key, 7, 42, *KEYS)
    others = {verification_code(OTHER.public_key, 7, 42, *KEYS), verification_code(IDENTITY.public_key, 7, 43, *KEYS),
              verification_code(IDENTITY.public_key, 7, 42, THIRD.public_key, DEVICE.signing_public_key)}
    assert code not in others
    assert codes_match(code.replace(" ", "-"), code) and codes_match(code.replace(" ", ""), code)
    assert not codes_match(code[:-1] + str((int(code[-1]) + 1) % 10), code)


def test_a_safety_number_is_the_same_on_both_sides_and_changes_with_either_identity():
    number = safety_number(1, IDENTITY.public_key, 2, OTHER.public_key)
    assert re.fullmatch(r"(\d{5} ){11}\d{5}", number)
    assert number == safety_number(2, OTHER.public_key, 1, IDENTITY.public_key)
    assert number != safety_number(1, IDENTITY.public_key, 2, IdentityKeys.generate().public_key)


def test_a_recovery_key_has_160_bits_in_printable_groups_and_is_read_as_typed():
    key = new_recovery_key()
    assert re.fullmatch(r"([A-Z2-7]{4} ){7}[A-Z2-7]{4}", key)
    assert len(base64.b32decode(key.replace(" ", ""))) * 8 == 160
    assert key != new_recovery_key()
    assert normalize_recovery_key(key.lower().replace(" ", "-")) == key and is_recovery_key(key.replace(" ", ""))
    for bad in ("", key[:-1], key + "A", key.replace(key[0], "1")):
        assert not is_recovery_key(bad)


def test_the_recovery_key_opens_only_its_own_blob_for_its_user_and_purpose():
    key = new_recovery_key()
    blob = seal_with_recovery_key(IDENTITY.export().encode(), key, "identity", 7)
    assert open_with_recovery_key(blob, key.lower(), "identity", 7) == IDENTITY.export().encode()
    for args in ((new_recovery_key(), "identity", 7), (key, "identity", 8), (key, "room-keys:1", 7)):
        with pytest.raises(AuthenticationFailed):
            open_with_recovery_key(blob, *args)
    prefix, nonce, ciphertext = blob.split(":")
    changed = base64.b64encode(bytes([base64.b64decode(ciphertext)[0] ^ 1]) + base64.b64decode(ciphertext)[1:])
    with pytest.raises(AuthenticationFailed):
        open_with_recovery_key(f"{prefix}:{nonce}:{changed.decode()}", key, "identity", 7)
    for malformed in ("r1:abc", "b1:" + blob[3:], blob + ":x"):
        with pytest.raises(MalformedEnvelope):
            open_with_recovery_key(malformed, key, "identity", 7)
    with pytest.raises(MalformedEnvelope):
        open_with_recovery_key(blob, "not a recovery key", "identity", 7)
