"""Device keys, sealed packages, key backups and encrypted files: only the right key opens them."""

import base64
import unicodedata

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from messenger.core.e2e import (
    AuthenticationFailed,
    BackupCost,
    DeviceKeys,
    EnvelopeError,
    MalformedEnvelope,
    UnverifiedSender,
    WrongRoomKey,
    decrypt_file,
    decrypt_image,
    decrypt_key_backup,
    encrypt_file,
    encrypt_key_backup,
    load_public_key,
    load_signing_public_key,
    open_sealed,
    seal_to_device,
)

ALICE, BOB, MALLORY = DeviceKeys.generate(), DeviceKeys.generate(), DeviceKeys.generate()
CHEAP = BackupCost(memory_kib=256, time_cost=1, parallelism=1)  # fast, for tests that run argon2 often


def flip_bit(text: str, part: int, index: int, bit: int) -> str:
    """`text` with one bit changed in the raw bytes of its base64 part `part` (0 = the prefix)."""
    parts = text.split(":")
    raw = bytearray(base64.b64decode(parts[part]))
    raw[index % len(raw)] ^= 1 << bit
    parts[part] = base64.b64encode(raw).decode()
    return ":".join(parts)


def test_device_keys_export_and_load():
    loaded = DeviceKeys.load(ALICE.export())
    assert loaded.public_key == ALICE.public_key
    assert loaded.signing_public_key == ALICE.signing_public_key
    assert ALICE.export().startswith("d1:")
    assert len(base64.b64decode(ALICE.public_key)) == 32
    assert len(base64.b64decode(ALICE.signing_public_key)) == 32
    assert ALICE.public_key != BOB.public_key


def test_public_keys_load_from_base64():
    assert load_public_key(ALICE.public_key).public_bytes_raw() == base64.b64decode(ALICE.public_key)
    assert load_signing_public_key(ALICE.signing_public_key).public_bytes_raw() == base64.b64decode(
        ALICE.signing_public_key
    )


@pytest.mark.parametrize("text", ["", "d1:", "d1:AAAA:AAAA", "d2:" + ALICE.export()[3:], ALICE.export() + ":x"],
                         ids=["empty", "d1-empty", "d1-short", "d2", "a-part-too-many"])  # ALICE is random
def test_malformed_device_keys_raise(text):
    with pytest.raises(MalformedEnvelope):
        DeviceKeys.load(text)


@pytest.mark.parametrize("text", ["", "AAAA", ALICE.public_key[:-4], "not base64!"],
                         ids=["empty", "short", "truncated", "not-base64"])
def test_malformed_public_keys_raise(text):
    with pytest.raises(MalformedEnvelope):
        load_public_key(text)
    with pytest.raises(MalformedEnvelope):
        load_signing_public_key(text)


@settings(max_examples=50, deadline=None)
@given(payload=st.binary(max_size=2000), as_text=st.booleans())
def test_sealed_package_opens_for_its_device(payload, as_text):
    recipient = BOB.public_key if as_text else BOB.exchange.public_key()
    sealed = seal_to_device(payload, recipient)
    assert sealed.startswith("s1:")
    assert open_sealed(sealed, BOB.exchange) == payload


def test_sealing_twice_gives_different_packages():
    assert seal_to_device(b"room key", BOB.public_key) != seal_to_device(b"room key", BOB.public_key)


def test_sealed_package_does_not_open_for_another_device():
    with pytest.raises(AuthenticationFailed) as caught:
        open_sealed(seal_to_device(b"room key", BOB.public_key), MALLORY.exchange)
    assert isinstance(caught.value, WrongRoomKey)
    assert caught.value.code == "E2E_AUTH_FAILED"


def test_signed_package_proves_its_sender():
    sealed = seal_to_device(b"room key", BOB.public_key, sender=ALICE.signing)
    assert open_sealed(sealed, BOB.exchange, sender_public_key=ALICE.signing_public_key) == b"room key"
    assert open_sealed(sealed, BOB.exchange, sender_public_key=ALICE.signing.public_key()) == b"room key"
    assert open_sealed(sealed, BOB.exchange) == b"room key"
    with pytest.raises(UnverifiedSender) as caught:
        open_sealed(sealed, BOB.exchange, sender_public_key=MALLORY.signing_public_key)
    assert caught.value.code == "E2E_UNVERIFIED_SENDER"


def test_unsigned_package_fails_when_a_sender_is_expected():
    # Anyone who knows Bob's public key (the server too) can seal to him; only a signature says who did.
    sealed = seal_to_device(b"forged room key", BOB.public_key)
    with pytest.raises(UnverifiedSender):
        open_sealed(sealed, BOB.exchange, sender_public_key=ALICE.signing_public_key)


@settings(max_examples=100, deadline=None)
@given(data=st.data(), signed=st.booleans())
def test_sealed_package_any_flipped_bit_raises(data, signed):
    sealed = seal_to_device(b"room key", BOB.public_key, sender=ALICE.signing if signed else None)
    part = data.draw(st.integers(1, 3), label="part (ephemeral key, nonce, ct)")
    changed = flip_bit(sealed, part, data.draw(st.integers(0, 1000)), data.draw(st.integers(0, 7)))
    with pytest.raises(EnvelopeError):
        open_sealed(changed, BOB.exchange, sender_public_key=ALICE.signing_public_key if signed else None)


@pytest.mark.parametrize(
    "sealed",
    [
        "",
        "s1:",
        "s1:a:b:c",
        "s2:AAAA:AAAA:AAAA",
        "s1:AAAA:AAAAAAAAAAAAAAAA:" + "A" * 24,  # 3-byte ephemeral key
        "s1:" + "A" * 43 + "=:AAAAAAAAAAAAAAAA:" + "A" * 24,  # all-zero (low-order) ephemeral key
        "s1:" + "B" * 43 + "=:AAAAAAAAAAAAAAAA:AAAA",  # shorter than the tag
    ],
)
def test_malformed_sealed_packages_raise_malformed(sealed):
    with pytest.raises(MalformedEnvelope):
        open_sealed(sealed, BOB.exchange)


def test_key_backup_round_trip_with_default_cost():
    blob = encrypt_key_backup(ALICE.export().encode(), "correct horse battery staple")
    assert blob.startswith("b1:m=65536,t=3,p=4:")
    restored = DeviceKeys.load(decrypt_key_backup(blob, "correct horse battery staple").decode())
    assert restored.public_key == ALICE.public_key
    with pytest.raises(AuthenticationFailed) as caught:
        decrypt_key_backup(blob, "correct horse battery stapler")
    assert isinstance(caught.value, WrongRoomKey)


@settings(max_examples=20, deadline=None)
@given(payload=st.binary(max_size=500), passphrase=st.text())
def test_key_backup_round_trips_any_payload_and_passphrase(payload, passphrase):
    assert decrypt_key_backup(encrypt_key_backup(payload, passphrase, CHEAP), passphrase) == payload


def test_key_backup_passphrase_is_the_same_however_it_was_composed():
    passphrase = "비밀번호 한글 암호"
    blob = encrypt_key_backup(b"keys", unicodedata.normalize("NFD", passphrase), CHEAP)
    assert decrypt_key_backup(blob, unicodedata.normalize("NFC", passphrase)) == b"keys"


@settings(max_examples=40, deadline=None)
@given(data=st.data())
def test_key_backup_any_flipped_bit_raises(data):
    blob = encrypt_key_backup(b"device and room keys", "pass phrase", CHEAP)
    part = data.draw(st.integers(2, 4), label="part (salt, nonce, ct)")
    changed = flip_bit(blob, part, data.draw(st.integers(0, 1000)), data.draw(st.integers(0, 7)))
    with pytest.raises(AuthenticationFailed):
        decrypt_key_backup(changed, "pass phrase")


def test_key_backup_cost_is_authenticated():
    blob = encrypt_key_backup(b"keys", "pass phrase", CHEAP)
    with pytest.raises(AuthenticationFailed):
        decrypt_key_backup(blob.replace("m=256,", "m=264,"), "pass phrase")


@pytest.mark.parametrize(
    "cost",
    [
        "m=256,t=1",
        "m=0256,t=1,p=1",
        "m=256,t=1,p=0",
        "m=4,t=1,p=1",
        "m=99999999,t=1,p=1",  # hostile: 95 GiB
        "m=256,t=999,p=1",
        "m=256,t=1,p=64",
        "t=1,m=256,p=1",
    ],
)
def test_key_backup_with_a_bad_cost_raises_malformed_without_running_argon2(cost):
    rest = encrypt_key_backup(b"keys", "pass phrase", CHEAP).split(":", 2)[2]
    with pytest.raises(MalformedEnvelope):
        decrypt_key_backup(f"b1:{cost}:{rest}", "pass phrase")


@pytest.mark.parametrize("blob", ["", "b1:", "b2:m=256,t=1,p=1:AAAA:AAAA:AAAA", "b1:m=256,t=1,p=1:AAAA:AAAA:AAAA"])
def test_malformed_key_backups_raise_malformed(blob):
    with pytest.raises(MalformedEnvelope):
        decrypt_key_backup(blob, "pass phrase")


@pytest.mark.parametrize("cost", [dict(memory_kib=4), dict(time_cost=0), dict(parallelism=0), dict(memory_kib=2 << 20)])
def test_backup_cost_refuses_out_of_bounds_values(cost):
    with pytest.raises(ValueError):
        BackupCost(**cost)


@settings(max_examples=50, deadline=None)
@given(data=st.binary(max_size=5000))
def test_file_round_trip(data):
    blob, file_key = encrypt_file(data)
    assert len(base64.b64decode(file_key)) == 32
    assert decrypt_file(blob, file_key) == data


def test_file_blob_is_opaque_and_keyed_per_file():
    data = b"quarterly report " * 100
    (blob, key), (blob2, key2) = encrypt_file(data), encrypt_file(data)
    assert b"quarterly" not in blob
    assert key != key2 and blob != blob2
    assert len(blob) == len(data) + 4 + 12 + 16


def test_file_with_another_key_raises():
    blob, _ = encrypt_file(b"contents")
    _, other_key = encrypt_file(b"contents")
    with pytest.raises(AuthenticationFailed):
        decrypt_file(blob, other_key)


@settings(max_examples=100, deadline=None)
@given(index=st.integers(0, 10_000), bit=st.integers(0, 7))
def test_file_any_flipped_bit_raises(index, bit):
    blob, key = encrypt_file(b"\x89PNG\r\n\x1a\n image bytes")
    changed = bytearray(blob)
    changed[index % len(blob)] ^= 1 << bit
    with pytest.raises(EnvelopeError):
        decrypt_file(bytes(changed), key)


@pytest.mark.parametrize(
    "blob, key",
    [
        (b"", "A" * 43 + "="),
        (b"E2F1" + bytes(27), "A" * 43 + "="),  # shorter than nonce and tag
        (b"XXXX" + bytes(40), "A" * 43 + "="),
        (b"E2F1" + bytes(40), "AAAA"),
        (b"E2F1" + bytes(40), "not base64"),
    ],
)
def test_malformed_files_raise_malformed(blob, key):
    with pytest.raises(MalformedEnvelope):
        decrypt_file(blob, key)


@pytest.mark.parametrize(
    "data, kind",
    [
        (b"\x89PNG\r\n\x1a\n" + bytes(20), "png"),
        (b"\xff\xd8\xff\xe0" + bytes(20), "jpeg"),
        (b"GIF89a" + bytes(20), "gif"),
        (b"GIF87a" + bytes(20), "gif"),
        (b"RIFF\x00\x00\x00\x00WEBPVP8 " + bytes(20), "webp"),
        (b"<svg xmlns='http://www.w3.org/2000/svg'/>", None),
        (b"MZ\x90\x00 an executable named photo.png", None),
        (b"", None),
    ],
)
def test_decrypted_image_type_comes_from_its_bytes(data, kind):
    blob, key = encrypt_file(data)
    assert decrypt_image(blob, key) == (data, kind)
