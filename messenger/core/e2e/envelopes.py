"""Message envelopes: the text a room's messages travel in, end-to-end encrypted.

- v3, for new messages: AES-256-GCM under a key derived once per room-key version; the envelope
  names that version by its key id.
- v2 and v1, written by the old system: read forever, written only to test compatibility.
- Text that starts with no known prefix is a plaintext message and passes through unchanged.

Byte layouts, key ids and the threat model are in spec/e2e.md. Every failure to open an envelope
is an `EnvelopeError` with a stable `code`.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes, padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

FORMATS = ("v1", "v2", "v3")
V1_PREFIX = "U2FsdGVkX1"  # base64 of the first 60 bits of b"Salted__", OpenSSL's salted header
V2_PREFIX = "v2:"
V3_PREFIX = "v3:"
ROOM_KEY_PREFIX = "k1:"
# A v4 room key carried between devices like a v3 one (sealed), for the v1/v2 history only.
LEGACY_KEY_PREFIX = "l1:"
MAX_LEGACY_KEY_CHARS = 256

_V1_MAGIC = b"Salted__"
_V2_ROUNDS = 10_000
_KEY_ID = re.compile(r"[0-9a-f]{16}")


class EnvelopeError(Exception):
    """Base of every E2E failure; `code` is a stable machine code that never changes."""

    code = "E2E_ERROR"


class MalformedEnvelope(EnvelopeError):
    """Not a well-formed instance of its format: part count, base64, sizes or parameters."""

    code = "E2E_MALFORMED"


class WrongRoomKey(EnvelopeError):
    """The key at hand (room key, device key, file key or passphrase) is not the one that sealed it."""

    code = "E2E_WRONG_KEY"


class EnvelopeTampered(EnvelopeError):
    """Sealed with the key at hand, but changed since."""

    code = "E2E_TAMPERED"


class AuthenticationFailed(WrongRoomKey, EnvelopeTampered):
    """It does not authenticate, and its format cannot tell a wrong key from a change.

    Both `except WrongRoomKey` and `except EnvelopeTampered` catch it: it is one of the two.
    """

    code = "E2E_AUTH_FAILED"


class UnverifiedSender(EnvelopeError):
    """A sealed package opened, but it was not signed by the device the caller expected; or a v5
    envelope's device is not signed by its user's pinned identity."""

    code = "E2E_UNVERIFIED_SENDER"


class SignatureInvalid(EnvelopeTampered):
    """A v5 envelope whose signature does not check for the room it is shown in."""

    code = "E2E_SIGNATURE_INVALID"


class MessageMisplaced(EnvelopeTampered):
    """A v5 envelope shown with another sender, type or target than it was signed with, again
    under another message id, or out of its sender's order; `code` says which."""

    def __init__(self, code: str, detail: str):
        super().__init__(detail)
        self.code = code


def encode_b64(data: bytes) -> str:
    """Standard base64 with padding, as every E2E format writes it."""
    return base64.b64encode(data).decode("ascii")


def decode_b64(text: str, what: str) -> bytes:
    """The bytes of canonical standard base64 `text`, else MalformedEnvelope naming `what`.

    Only the canonical spelling is accepted, so that no two texts carry the same bytes: any
    changed character is a changed envelope.
    """
    try:
        data = base64.b64decode(text, validate=True)
    except ValueError:  # binascii.Error, and non-ASCII text
        raise MalformedEnvelope(f"{what} is not base64") from None
    if encode_b64(data) != text:
        raise MalformedEnvelope(f"{what} is not canonical base64")
    return data


def split_parts(text: str, prefix: str, count: int) -> list[str]:
    """The `count` colon-separated parts after `prefix:`, else MalformedEnvelope."""
    parts = text.split(":")
    if parts[0] != prefix or len(parts) != count + 1:
        raise MalformedEnvelope(f"a {prefix} text has {count} parts after its prefix")
    return parts[1:]


def hkdf_sha256(material: bytes, info: bytes, length: int = 32) -> bytes:
    """HKDF-SHA256 (no salt) of `material` for the purpose named by `info`."""
    return HKDF(algorithm=hashes.SHA256(), length=length, salt=None, info=info).derive(material)


def _utf8(data: bytes, fmt: str) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise MalformedEnvelope(f"the {fmt} plaintext is not UTF-8") from None


# v1 and v2 (legacy): AES-256-CBC with PKCS7 padding.


def _cbc_encrypt(key: bytes, iv: bytes, data: bytes) -> bytes:
    padder = padding.PKCS7(128).padder()
    encryptor = Cipher(algorithms.AES(key), modes.CBC(iv)).encryptor()
    return encryptor.update(padder.update(data) + padder.finalize()) + encryptor.finalize()


def _cbc_decrypt(key: bytes, iv: bytes, ciphertext: bytes) -> bytes:
    """The unpadded plaintext; ValueError if the padding is wrong."""
    decryptor = Cipher(algorithms.AES(key), modes.CBC(iv)).decryptor()
    unpadder = padding.PKCS7(128).unpadder()
    padded = decryptor.update(ciphertext) + decryptor.finalize()
    return unpadder.update(padded) + unpadder.finalize()


def _is_cbc_ciphertext(data: bytes) -> bool:
    return len(data) > 0 and len(data) % 16 == 0


def _evp_bytes_to_key(passphrase: bytes, salt: bytes) -> tuple[bytes, bytes]:
    """OpenSSL's EVP_BytesToKey (MD5, one round): a 32-byte key and a 16-byte IV."""
    derived, block = b"", b""
    while len(derived) < 48:
        block = hashlib.md5(block + passphrase + salt).digest()
        derived += block
    return derived[:32], derived[32:48]


def _encrypt_v1(plaintext: bytes, room_key: str) -> str:
    salt = os.urandom(8)
    key, iv = _evp_bytes_to_key(room_key.encode(), salt)
    return encode_b64(_V1_MAGIC + salt + _cbc_encrypt(key, iv, plaintext))


def _decrypt_v1(envelope: str, room_key: str) -> str:
    raw = decode_b64(envelope, "v1 envelope")
    salt, ciphertext = raw[8:16], raw[16:]
    if not raw.startswith(_V1_MAGIC) or not _is_cbc_ciphertext(ciphertext):
        raise MalformedEnvelope("a v1 envelope is Salted__, an 8-byte salt and whole AES blocks")
    key, iv = _evp_bytes_to_key(room_key.encode(), salt)
    try:
        return _cbc_decrypt(key, iv, ciphertext).decode("utf-8")
    except ValueError:  # bad padding, or UnicodeDecodeError
        # v1 has no MAC: a wrong key shows only as garbage, and not always (spec/e2e.md).
        raise WrongRoomKey("the v1 envelope does not decrypt with this room key") from None


def _v2_keys(room_key: str, salt: bytes) -> tuple[bytes, bytes]:
    """The AES key and the HMAC key: one 64-byte PBKDF2 output, the AES half first."""
    derived = hashlib.pbkdf2_hmac("sha256", room_key.encode(), salt, _V2_ROUNDS, 64)
    return derived[:32], derived[32:]


def _encrypt_v2(plaintext: bytes, room_key: str) -> str:
    salt, iv = os.urandom(16), os.urandom(16)
    aes_key, mac_key = _v2_keys(room_key, salt)
    ciphertext = _cbc_encrypt(aes_key, iv, plaintext)
    mac = hmac.digest(mac_key, salt + iv + ciphertext, "sha256")
    return V2_PREFIX + ":".join(map(encode_b64, (salt, iv, ciphertext, mac)))


def _decrypt_v2(envelope: str, room_key: str) -> str:
    texts = split_parts(envelope, "v2", 4)
    salt, iv, ciphertext, mac = (
        decode_b64(text, f"v2 {what}") for text, what in zip(texts, ("salt", "iv", "ciphertext", "mac"))
    )
    if len(salt) != 16 or len(iv) != 16 or not _is_cbc_ciphertext(ciphertext) or len(mac) != 32:
        raise MalformedEnvelope("a v2 envelope has a 16-byte salt and iv, whole AES blocks, a 32-byte mac")
    aes_key, mac_key = _v2_keys(room_key, salt)
    # Authenticate before decrypting anything, in constant time.
    if not hmac.compare_digest(hmac.digest(mac_key, salt + iv + ciphertext, "sha256"), mac):
        raise AuthenticationFailed("the v2 envelope has another room key, or was changed")
    try:
        plaintext = _cbc_decrypt(aes_key, iv, ciphertext)
    except ValueError:
        raise MalformedEnvelope("the v2 plaintext is not PKCS7-padded") from None
    return _utf8(plaintext, "v2")


def _decrypt_legacy(envelope: str, room_key: str | None) -> str:
    """A v2 or v1 envelope opened with the legacy `room_key`; any other text as it is."""
    if not envelope.startswith((V2_PREFIX, V1_PREFIX)):
        return envelope  # no known prefix: a plaintext message
    if room_key is None:
        raise WrongRoomKey("a v1/v2 envelope needs the room's legacy key")
    if envelope.startswith(V2_PREFIX):
        return _decrypt_v2(envelope, room_key)
    return _decrypt_v1(envelope, room_key)


# v3: AES-256-GCM under per-version keys.


@dataclass(frozen=True)
class _RoomKeyVersion:
    key_id: str
    aead: AESGCM
    commitment: bytes  # 256 bits that only this key gives: v5 names it, so a ciphertext opens under one key


@functools.lru_cache(maxsize=1024)
def _room_key_version(room_key: str) -> _RoomKeyVersion:
    """The key id and AEAD key of a `k1:` room key, derived once per key (cached); else ValueError."""
    prefix, _, text = room_key.partition(":")
    try:
        material = base64.b64decode(text, validate=True)
    except ValueError:
        material = b""
    if prefix + ":" != ROOM_KEY_PREFIX or len(material) != 32:
        raise ValueError("a v3 room key is 'k1:' and the base64 of 32 bytes (see new_room_key)")
    # The key id is a one-way hash of the key: it names the version without revealing it.
    key_id = hkdf_sha256(material, b"messenger e2e v3 key id", 8).hex()
    return _RoomKeyVersion(key_id, AESGCM(hkdf_sha256(material, b"messenger e2e v3 message key")),
                           hkdf_sha256(material, b"messenger e2e key commitment"))


def _encrypt_v3(plaintext: bytes, key: _RoomKeyVersion) -> str:
    header = V3_PREFIX + key.key_id
    nonce = os.urandom(12)
    ciphertext = key.aead.encrypt(nonce, plaintext, header.encode())
    return f"{header}:{encode_b64(nonce)}:{encode_b64(ciphertext)}"


def _decrypt_v3(envelope: str, keys: Mapping[str, _RoomKeyVersion]) -> str:
    key_id, nonce_text, ciphertext_text = split_parts(envelope, "v3", 3)
    nonce, ciphertext = decode_b64(nonce_text, "v3 nonce"), decode_b64(ciphertext_text, "v3 ciphertext")
    if not _KEY_ID.fullmatch(key_id) or len(nonce) != 12 or len(ciphertext) < 16:
        raise MalformedEnvelope("a v3 envelope has a 16-hex key id, a 12-byte nonce, a 16-byte tag")
    key = keys.get(key_id)
    if key is None:
        raise WrongRoomKey(f"no room key with id {key_id} at hand")
    try:
        plaintext = key.aead.decrypt(nonce, ciphertext, f"{V3_PREFIX}{key_id}".encode())
    except InvalidTag:
        # The key id is a hash of the key, so the right key is at hand: the envelope changed.
        raise EnvelopeTampered("the v3 envelope was changed") from None
    return _utf8(plaintext, "v3")


def new_room_key() -> str:
    """A fresh v3 room key: 'k1:' and the base64 of 32 random bytes. Share it only sealed."""
    return ROOM_KEY_PREFIX + encode_b64(os.urandom(32))


def legacy_room_key(v4_key: str) -> str:
    """The old system's room key (its v1/v2 passphrase) as devices hold and seal it: 'l1:' and
    the key. ValueError for an empty or oversized key."""
    if not v4_key or len(v4_key) > MAX_LEGACY_KEY_CHARS or not v4_key.isprintable():
        raise ValueError(f"a legacy room key is 1-{MAX_LEGACY_KEY_CHARS} printable characters")
    return LEGACY_KEY_PREFIX + v4_key


def room_key_id(room_key: str) -> str:
    """The key id (16 hex digits) of a `k1:` room key (the one its v3 envelopes carry) or of an
    `l1:` legacy key (a one-way hash naming it in the server's version list); else ValueError."""
    if room_key.startswith(LEGACY_KEY_PREFIX):
        return hkdf_sha256(legacy_room_key(room_key[len(LEGACY_KEY_PREFIX):]).encode(),
                           b"messenger e2e legacy key id", 8).hex()
    return _room_key_version(room_key).key_id


def encrypt_envelope(plaintext: str, room_key: str, format: str = "v2") -> str:
    """`plaintext` sealed in an envelope of `format` ("v1", "v2" or "v3") under `room_key`.

    v1 and v2 take any string as room key (the old system's passphrase); v3 takes a `k1:` key
    from `new_room_key`. ValueError for an unknown format or a v3 call without a `k1:` key.
    """
    data = plaintext.encode("utf-8")
    if format == "v3":
        return _encrypt_v3(data, _room_key_version(room_key))
    if format == "v2":
        return _encrypt_v2(data, room_key)
    if format == "v1":
        return _encrypt_v1(data, room_key)
    raise ValueError(f"unknown envelope format {format!r}; known: {', '.join(FORMATS)}")


def decrypt_envelope(envelope: str, room_key: str) -> str:
    """The plaintext in `envelope` under `room_key`; text with no known prefix comes back as it is.

    Raises only EnvelopeError subclasses: MalformedEnvelope, WrongRoomKey (v3 with another key
    id, v1 that decrypts to garbage), EnvelopeTampered (v3), AuthenticationFailed (v2).
    """
    if envelope.startswith(V3_PREFIX):
        try:
            key = _room_key_version(room_key)
        except ValueError:  # a legacy room key: it opens no v3 envelope
            return _decrypt_v3(envelope, {})
        return _decrypt_v3(envelope, {key.key_id: key})
    return _decrypt_legacy(envelope, room_key)


class RoomKeyring:
    """Every key version of one room: opens whichever version an envelope names, seals with the newest.

    Add v3 keys oldest first: the newest is the one added last. `legacy_key` is the old system's
    room key string, for the room's v1/v2 history; adding an `l1:` key sets it.
    """

    def __init__(self, room_keys: Iterable[str] = (), legacy_key: str | None = None) -> None:
        self.legacy_key = legacy_key
        self._versions: dict[str, _RoomKeyVersion] = {}
        for room_key in room_keys:
            self.add(room_key)

    def add(self, room_key: str) -> str:
        """Holds the `k1:` `room_key` as the newest version (unless held already), or an `l1:` key
        as the legacy key; returns its key id."""
        if room_key.startswith(LEGACY_KEY_PREFIX):
            key_id = room_key_id(room_key)
            self.legacy_key = room_key[len(LEGACY_KEY_PREFIX):]
            return key_id
        version = _room_key_version(room_key)
        self._versions.setdefault(version.key_id, version)
        return version.key_id

    @property
    def key_ids(self) -> list[str]:
        """The key ids held, oldest first."""
        return list(self._versions)

    def encrypt(self, plaintext: str) -> str:
        """A v3 envelope of `plaintext` under the newest key; LookupError if no v3 key is held."""
        if not self._versions:
            raise LookupError("this keyring holds no v3 room key")
        return _encrypt_v3(plaintext.encode("utf-8"), next(reversed(self._versions.values())))

    @property
    def newest_key_id(self) -> str:
        """The key id `encrypt` and `seal` write under; LookupError if no v3 key is held."""
        if not self._versions:
            raise LookupError("this keyring holds no v3 room key")
        return next(reversed(self._versions))

    def commitment(self, key_id: str) -> bytes:
        """The key commitment of the held version `key_id` (spec/e2e.md §2a); WrongRoomKey if not held."""
        key = self._versions.get(key_id)
        if key is None:
            raise WrongRoomKey(f"no room key with id {key_id} at hand")
        return key.commitment

    def seal(self, key_id: str, plaintext: bytes, associated: bytes) -> tuple[bytes, bytes]:
        """`(nonce, ciphertext)` of `plaintext` under the held version `key_id`, bound to
        `associated` (for formats built on v3's keys); KeyError if that version is not held."""
        nonce = os.urandom(12)
        return nonce, self._versions[key_id].aead.encrypt(nonce, plaintext, associated)

    def open(self, key_id: str, nonce: bytes, ciphertext: bytes, associated: bytes) -> bytes:
        """The plaintext `seal` gave. WrongRoomKey when the key is not held, EnvelopeTampered when
        it does not authenticate (the key id names the key: the content changed)."""
        key = self._versions.get(key_id)
        if key is None:
            raise WrongRoomKey(f"no room key with id {key_id} at hand")
        try:
            return key.aead.decrypt(nonce, ciphertext, associated)
        except InvalidTag:
            raise EnvelopeTampered("the envelope was changed") from None

    def decrypt(self, envelope: str) -> str:
        """As `decrypt_envelope`, with whichever held key the envelope needs."""
        if envelope.startswith(V3_PREFIX):
            return _decrypt_v3(envelope, self._versions)
        return _decrypt_legacy(envelope, self.legacy_key)
