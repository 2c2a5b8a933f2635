"""Message envelopes: the old system's v1/v2 read exactly as it wrote them, v3 sealed and authenticated."""

import base64
import json
import re
from pathlib import Path

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from messenger.core.e2e import (
    AuthenticationFailed,
    EnvelopeError,
    EnvelopeTampered,
    MalformedEnvelope,
    RoomKeyring,
    UnverifiedSender,
    WrongRoomKey,
    decrypt_envelope,
    encrypt_envelope,
    legacy_room_key,
    new_room_key,
    room_key_id,
)
from messenger.core.e2e import envelopes

VECTORS_PATH = Path(__file__).resolve().parents[1] / "fixtures/e2e-compat-vectors.json"  # tests/fixtures/README.md
VECTORS = json.loads(VECTORS_PATH.read_text(encoding="utf-8"))

LEGACY_KEY = "2OoCUHOPPvEJhWUuq3rD+R9M8Z9z18AN3pzm2aLBT90="
V3_KEY = new_room_key()
OTHER_V3_KEY = new_room_key()
KNOWN_PREFIXES = ("v2:", "v3:", "U2FsdGVkX1")


def vector_id(vector: dict) -> str:
    return f"{vector['format']}-{len(vector['plaintext'])}-{vector['envelope'][-8:]}"


def flip_bit(envelope: str, part: int, index: int, bit: int) -> str:
    """`envelope` with one bit changed in the raw bytes of one of its base64 parts (0-based after the prefix)."""
    prefix, *parts = envelope.split(":")
    raw = bytearray(base64.b64decode(parts[part]))
    raw[index % len(raw)] ^= 1 << bit
    parts[part] = base64.b64encode(raw).decode()
    return ":".join([prefix, *parts])


def test_vectors_cover_both_legacy_formats():
    assert {v["format"] for v in VECTORS} == {"v1", "v2"}


@pytest.mark.parametrize("vector", VECTORS, ids=vector_id)
def test_vector_decrypts_to_its_plaintext(vector):
    assert decrypt_envelope(vector["envelope"], vector["room_key"]) == vector["plaintext"]


@pytest.mark.parametrize("vector", VECTORS, ids=vector_id)
def test_vector_plaintext_round_trips_in_its_format(vector):
    envelope = encrypt_envelope(vector["plaintext"], vector["room_key"], vector["format"])
    assert envelope != vector["envelope"]  # fresh salt every time
    assert decrypt_envelope(envelope, vector["room_key"]) == vector["plaintext"]


@pytest.mark.parametrize("vector", VECTORS, ids=vector_id)
def test_vector_under_another_rooms_key_raises(vector):
    other_key = next(v["room_key"] for v in VECTORS if v["room_key"] != vector["room_key"])
    expected = AuthenticationFailed if vector["format"] == "v2" else WrongRoomKey
    with pytest.raises(expected):
        decrypt_envelope(vector["envelope"], other_key)


@pytest.mark.parametrize("fmt", ["v1", "v2", "v3"])
def test_encrypted_text_never_appears_in_the_envelope(fmt):
    key = V3_KEY if fmt == "v3" else LEGACY_KEY
    envelope = encrypt_envelope("secret-word " * 4, key, fmt)
    assert "secret" not in envelope and "c2VjcmV0" not in envelope


@settings(max_examples=60, deadline=None)
@given(plaintext=st.text(), room_key=st.text(min_size=1))
def test_v1_round_trips_any_text(plaintext, room_key):
    assert decrypt_envelope(encrypt_envelope(plaintext, room_key, "v1"), room_key) == plaintext


@settings(max_examples=25, deadline=None)
@given(plaintext=st.text(), room_key=st.text(min_size=1))
def test_v2_round_trips_any_text(plaintext, room_key):
    envelope = encrypt_envelope(plaintext, room_key, "v2")
    assert envelope.startswith("v2:")
    assert decrypt_envelope(envelope, room_key) == plaintext


@settings(max_examples=200, deadline=None)
@given(plaintext=st.text())
def test_v3_round_trips_any_text(plaintext):
    assert decrypt_envelope(encrypt_envelope(plaintext, V3_KEY, "v3"), V3_KEY) == plaintext


def test_default_format_is_v2():
    assert encrypt_envelope("hi", LEGACY_KEY).startswith("v2:")


def test_v3_envelope_layout():
    envelope = encrypt_envelope("hello", V3_KEY, "v3")
    key_id, nonce, ciphertext = envelope.split(":")[1:]
    assert re.fullmatch(r"v3:[0-9a-f]{16}:[A-Za-z0-9+/]{16}:[A-Za-z0-9+/=]+", envelope)
    assert key_id == room_key_id(V3_KEY)
    assert len(base64.b64decode(nonce)) == 12
    assert len(base64.b64decode(ciphertext)) == len(b"hello") + 16
    assert encrypt_envelope("hello", V3_KEY, "v3") != envelope  # random nonce


def test_new_room_keys_are_fresh_and_well_formed():
    keys = {new_room_key() for _ in range(20)}
    assert len(keys) == 20
    for key in keys:
        assert key.startswith("k1:") and len(base64.b64decode(key[3:], validate=True)) == 32
        assert re.fullmatch(r"[0-9a-f]{16}", room_key_id(key))
    assert len({room_key_id(key) for key in keys}) == 20
    assert room_key_id(V3_KEY) == room_key_id(V3_KEY)


@pytest.mark.parametrize("room_key", [LEGACY_KEY, "k1:", "k1:AAAA", "k2:" + V3_KEY[3:], ""],
                         ids=["legacy", "k1-empty", "k1-short", "k2", "empty"])  # keys are random: ids stay the same
def test_v3_encryption_needs_a_k1_room_key(room_key):
    with pytest.raises(ValueError):
        encrypt_envelope("hi", room_key, "v3")


def test_unknown_format_is_refused():
    with pytest.raises(ValueError):
        encrypt_envelope("hi", LEGACY_KEY, "v4")


@settings(max_examples=15, deadline=None)
@given(data=st.data(), plaintext=st.text(max_size=40))
def test_v2_any_flipped_bit_in_any_part_raises(data, plaintext):
    envelope = encrypt_envelope(plaintext, LEGACY_KEY, "v2")
    part = data.draw(st.integers(0, 3), label="part (salt, iv, ct, mac)")
    changed = flip_bit(envelope, part, data.draw(st.integers(0, 10_000)), data.draw(st.integers(0, 7)))
    with pytest.raises(AuthenticationFailed):
        decrypt_envelope(changed, LEGACY_KEY)


@settings(max_examples=200, deadline=None)
@given(data=st.data(), plaintext=st.text(max_size=40))
def test_v3_any_flipped_bit_in_nonce_or_ciphertext_raises_tampered(data, plaintext):
    envelope = encrypt_envelope(plaintext, V3_KEY, "v3")
    part = data.draw(st.integers(1, 2), label="part (nonce, ct)")
    changed = flip_bit(envelope, part, data.draw(st.integers(0, 10_000)), data.draw(st.integers(0, 7)))
    with pytest.raises(EnvelopeTampered):
        decrypt_envelope(changed, V3_KEY)


@pytest.mark.parametrize("fmt", ["v2", "v3"])
@settings(max_examples=40, deadline=None)
@given(data=st.data())
def test_any_changed_character_after_the_prefix_raises(fmt, data):
    key = V3_KEY if fmt == "v3" else LEGACY_KEY
    envelope = encrypt_envelope(data.draw(st.text(max_size=30)), key, fmt)
    index = data.draw(st.integers(3, len(envelope) - 1), label="index")
    char = data.draw(st.characters().filter(lambda c: c != envelope[index]), label="new character")
    with pytest.raises(EnvelopeError):
        decrypt_envelope(envelope[:index] + char + envelope[index + 1 :], key)


def test_v3_key_id_names_the_key_and_is_bound_to_the_ciphertext():
    keyring = RoomKeyring([V3_KEY, OTHER_V3_KEY])
    envelope = encrypt_envelope("hi", V3_KEY, "v3")
    swapped = envelope.replace(room_key_id(V3_KEY), room_key_id(OTHER_V3_KEY))
    with pytest.raises(EnvelopeTampered):
        keyring.decrypt(swapped)
    with pytest.raises(WrongRoomKey):
        decrypt_envelope(envelope.replace(room_key_id(V3_KEY), "0" * 16), V3_KEY)


@pytest.mark.parametrize("room_key", [OTHER_V3_KEY, LEGACY_KEY], ids=["other-v3", "legacy"])
def test_v3_under_a_wrong_key_raises(room_key):
    with pytest.raises(WrongRoomKey) as caught:
        decrypt_envelope(encrypt_envelope("hi", V3_KEY, "v3"), room_key)
    assert caught.value.code == "E2E_WRONG_KEY"


@settings(max_examples=10, deadline=None)
@given(plaintext=st.text(max_size=40), room_key=st.text(min_size=1))
def test_v2_under_a_wrong_key_raises(plaintext, room_key):
    assume(room_key != LEGACY_KEY)
    envelope = encrypt_envelope(plaintext, LEGACY_KEY, "v2")
    with pytest.raises(WrongRoomKey):
        decrypt_envelope(envelope, room_key)


@settings(max_examples=200)
@given(text=st.text().filter(lambda t: not t.startswith(KNOWN_PREFIXES)))
def test_text_without_a_known_prefix_is_plaintext(text):
    assert decrypt_envelope(text, LEGACY_KEY) == text
    assert RoomKeyring().decrypt(text) == text


@pytest.mark.parametrize("text", ["", "hello", "v4:a:b:c", "V2:a:b:c:d", "v1:abc", "k1:abc", "U2Fsd", "[삭제된 메시지]"])
def test_examples_without_a_known_prefix_are_plaintext(text):
    assert decrypt_envelope(text, V3_KEY) == text


def _valid(fmt: str) -> str:
    return encrypt_envelope("sixteen bytes!!!" * 2, V3_KEY if fmt == "v3" else LEGACY_KEY, fmt)


MALFORMED = [
    "v2:",
    "v2:a:b:c:d",
    "v2:" + ":".join(_valid("v2").split(":")[1:4]),  # a part missing
    _valid("v2") + ":AAAA",  # a part too many
    _valid("v2").replace(":", "::", 1),
    "v2:" + "!!!!:" * 3 + "AAAA",
    "v2:AAAAAAAAAAAAAAAAAAAAAA==:AAAAAAAAAAAAAAAAAAAAAA==:AAAA:" + "A" * 43 + "=",  # ct not whole blocks
    "v2:AAAA:AAAAAAAAAAAAAAAAAAAAAA==:" + "A" * 22 + "==:" + "A" * 43 + "=",  # short salt
    "v2:가나:다라:마바:사아",
    "v3:",
    "v3:zz:AAAA:AAAA",
    "v3:" + ":".join(_valid("v3").split(":")[1:3]),
    "v3:" + "0" * 16 + ":AAAA:" + "A" * 24,  # 3-byte nonce
    "v3:" + "0" * 16 + ":AAAAAAAAAAAAAAAA:AAAA",  # shorter than the tag
    "v3:" + "0" * 16 + ":AAAAAAAAAAAAAAAA:" + "A" * 23,  # non-canonical base64
    "v3:" + "0" * 15 + "G:AAAAAAAAAAAAAAAA:" + "A" * 24,  # key id not hex
    "v3:" + "0" * 16 + ":AAAAAAAAAAAAAAA=:" + "A" * 24,
    "U2FsdGVkX1",
    "U2FsdGVkX1+AAAAAAAAAAA==",  # salt, no ciphertext
    "U2FsdGVkX1+AAAAAAAAAAAAAAAAA",  # ciphertext not whole blocks
    "U2FsdGVkX1 not base64 at all",
    _valid("v1")[:-4],
    _valid("v1") + "\n",
    _valid("v2")[:-2],
    _valid("v3") + " ",
]


@pytest.mark.parametrize("envelope", MALFORMED, ids=[str(n) for n in range(len(MALFORMED))])  # some are random
def test_malformed_envelopes_raise_malformed(envelope):
    with pytest.raises(MalformedEnvelope) as caught:
        decrypt_envelope(envelope, V3_KEY if envelope.startswith("v3") else LEGACY_KEY)
    assert caught.value.code == "E2E_MALFORMED"


@pytest.mark.parametrize("fmt", ["v1", "v2", "v3"])
@settings(max_examples=30, deadline=None)
@given(data=st.data())
def test_truncated_envelopes_raise_an_envelope_error(fmt, data):
    envelope = _valid(fmt)
    cut = data.draw(st.integers(len("U2FsdGVkX1") if fmt == "v1" else 3, len(envelope) - 1))
    with pytest.raises(EnvelopeError):
        decrypt_envelope(envelope[:cut], V3_KEY if fmt == "v3" else LEGACY_KEY)


base64_part = st.binary(max_size=70).map(lambda b: base64.b64encode(b).decode())


@settings(max_examples=300, deadline=None)
@given(
    prefix=st.sampled_from(KNOWN_PREFIXES),
    rest=st.one_of(st.text(), st.lists(base64_part | st.text(max_size=5), max_size=6).map(":".join)),
)
def test_garbage_after_a_known_prefix_raises_only_envelope_errors(prefix, rest):
    with pytest.raises(EnvelopeError):
        decrypt_envelope(prefix + rest, LEGACY_KEY)
    with pytest.raises(EnvelopeError):
        RoomKeyring([V3_KEY], legacy_key=LEGACY_KEY).decrypt(prefix + rest)


@pytest.mark.parametrize(
    "error, code",
    [
        (EnvelopeError, "E2E_ERROR"),
        (MalformedEnvelope, "E2E_MALFORMED"),
        (WrongRoomKey, "E2E_WRONG_KEY"),
        (EnvelopeTampered, "E2E_TAMPERED"),
        (AuthenticationFailed, "E2E_AUTH_FAILED"),
        (UnverifiedSender, "E2E_UNVERIFIED_SENDER"),
    ],
)
def test_error_codes_are_stable(error, code):
    assert error.code == code
    assert issubclass(error, EnvelopeError)


def test_a_failed_mac_is_both_a_wrong_key_and_a_change():
    assert issubclass(AuthenticationFailed, WrongRoomKey) and issubclass(AuthenticationFailed, EnvelopeTampered)


def test_keyring_opens_every_version_and_seals_with_the_newest():
    keyring = RoomKeyring([V3_KEY], legacy_key=LEGACY_KEY)
    old = keyring.encrypt("before rotation")
    newest = new_room_key()
    assert keyring.add(newest) == room_key_id(newest)
    assert keyring.add(V3_KEY) == room_key_id(V3_KEY)  # held already: stays the older one
    assert keyring.key_ids == [room_key_id(V3_KEY), room_key_id(newest)]
    new = keyring.encrypt("after rotation")
    assert new.split(":")[1] == room_key_id(newest)
    assert keyring.decrypt(old) == "before rotation"
    assert keyring.decrypt(new) == "after rotation"
    assert decrypt_envelope(new, newest) == "after rotation"
    assert keyring.decrypt(VECTORS[0]["envelope"]) == VECTORS[0]["plaintext"]
    assert keyring.decrypt(encrypt_envelope("old v1", LEGACY_KEY, "v1")) == "old v1"
    assert keyring.decrypt("plain") == "plain"


def test_keyring_without_the_needed_key_raises_wrong_key():
    keyring = RoomKeyring([OTHER_V3_KEY])
    with pytest.raises(WrongRoomKey):
        keyring.decrypt(encrypt_envelope("hi", V3_KEY, "v3"))
    with pytest.raises(WrongRoomKey):
        keyring.decrypt(VECTORS[0]["envelope"])  # no legacy key held


def test_empty_keyring_cannot_encrypt():
    with pytest.raises(LookupError):
        RoomKeyring(legacy_key=LEGACY_KEY).encrypt("hi")


def test_v3_keys_are_derived_once_per_key_version(monkeypatch):
    calls = []
    real = envelopes.hkdf_sha256
    monkeypatch.setattr(envelopes, "hkdf_sha256", lambda *args: calls.append(args) or real(*args))
    room_key = new_room_key()
    sealed = [encrypt_envelope(f"message {i}", room_key, "v3") for i in range(50)]
    assert [decrypt_envelope(e, room_key) for e in sealed] == [f"message {i}" for i in range(50)]
    keyring = RoomKeyring([room_key])
    assert all(keyring.decrypt(e) for e in sealed)
    assert len(calls) == 3  # the key id, the message key and the key commitment, once


@pytest.mark.parametrize("vector", VECTORS, ids=vector_id)
def test_an_l1_key_in_a_keyring_opens_the_old_systems_history(vector):
    """A legacy key sealed between devices as `l1:` (an imported v4 office) becomes the legacy key."""
    held = legacy_room_key(vector["room_key"])
    keyring = RoomKeyring([held, V3_KEY])
    assert keyring.legacy_key == vector["room_key"]
    assert keyring.key_ids == [room_key_id(V3_KEY)]  # never a v3 version: nothing is sealed under it
    assert keyring.decrypt(vector["envelope"]) == vector["plaintext"]
    assert keyring.encrypt("new").split(":")[1] == room_key_id(V3_KEY)


def test_an_l1_key_id_is_a_one_way_name_of_that_key_only():
    key_id = room_key_id(legacy_room_key(LEGACY_KEY))
    assert re.fullmatch(r"[0-9a-f]{16}", key_id)
    assert key_id != room_key_id(legacy_room_key(LEGACY_KEY[:-2] + "A="))
    assert LEGACY_KEY.encode().hex()[:16] != key_id
    for bad in ("", "x" * 257, "tab\there"):
        with pytest.raises(ValueError):
            legacy_room_key(bad)
    with pytest.raises(ValueError):
        encrypt_envelope("text", legacy_room_key(LEGACY_KEY), "v3")
