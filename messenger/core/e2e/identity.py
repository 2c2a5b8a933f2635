"""User identities (cross-signing, spec/e2e.md §4a): the key that says which devices are a user's.

Each user has one Ed25519 identity key pair, made on their first device. The identity signs each
of the user's devices (its user id, device id and both public keys), so that a device the server
adds to a user is not believed by anyone: it carries no signature of the identity that the other
devices pinned. A new device of one's own is signed by a device that holds the identity private
key after a person compared the device's verification code on both screens, or by the device
itself after it opened the identity with the user's recovery key.

Only public keys, signatures and the recovery blob (opaque without the recovery key) go to the server.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import re
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature, InvalidTag
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from messenger.core.e2e.envelopes import (
    AuthenticationFailed,
    MalformedEnvelope,
    decode_b64,
    encode_b64,
    hkdf_sha256,
    split_parts,
)

_DEVICE_SIGNATURE_CONTEXT = b"messenger e2e device signature v1\x00"
_CODE_CONTEXT = b"messenger e2e verification code v1\x00"
_SAFETY_CONTEXT = b"messenger e2e safety number v1\x00"
_RECOVERY_KEY_INFO = b"messenger e2e recovery key v1"
RECOVERY_KEY_BYTES = 20  # 160 bits: 32 base32 characters, 8 groups of 4
_RECOVERY_KEY_TEXT = re.compile(r"[A-Z2-7]{32}")
SIGNATURE_BYTES = 64


@dataclass(frozen=True)
class IdentityKeys:
    """A user's identity private key: it signs the user's devices."""

    signing: Ed25519PrivateKey

    @classmethod
    def generate(cls) -> IdentityKeys:
        return cls(Ed25519PrivateKey.generate())

    @property
    def public_key(self) -> str:
        """The Ed25519 public key (base64 of 32 raw bytes), what everyone pins for this user."""
        return encode_b64(self.signing.public_key().public_bytes_raw())

    def export(self) -> str:
        """The private key as 'i1:<ed25519 b64>', for the OS keyring or the recovery blob."""
        return "i1:" + encode_b64(self.signing.private_bytes_raw())

    @classmethod
    def load(cls, text: str) -> IdentityKeys:
        """The key `export` wrote; MalformedEnvelope if `text` is not such a string."""
        [raw] = (decode_b64(part, "identity key") for part in split_parts(text, "i1", 1))
        if len(raw) != 32:
            raise MalformedEnvelope("an identity private key is 32 bytes")
        return cls(Ed25519PrivateKey.from_private_bytes(raw))

    def sign_device(self, user_id: int, device_id: int, encryption_key: str, signing_key: str) -> str:
        """The identity's signature (base64 of 64 bytes) saying this device is the user's."""
        return encode_b64(self.signing.sign(_device_statement(user_id, device_id, encryption_key, signing_key)))


def _device_statement(user_id: int, device_id: int, encryption_key: str, signing_key: str) -> bytes:
    return _DEVICE_SIGNATURE_CONTEXT + json.dumps(
        [user_id, device_id, encryption_key, signing_key], separators=(",", ":")).encode()


def device_signed_by(identity_key: str | None, signature: str | None, user_id: int, device_id: int,
                     encryption_key: str, signing_key: str) -> bool:
    """Whether `signature` is `identity_key`'s signature of this device of this user (False for
    anything missing or malformed: an unsigned device is simply not verified)."""
    if not identity_key or not signature:
        return False
    try:
        public = Ed25519PublicKey.from_public_bytes(_exact(identity_key, 32, "identity public key"))
        public.verify(_exact(signature, SIGNATURE_BYTES, "device signature"),
                      _device_statement(user_id, device_id, encryption_key, signing_key))
    except (MalformedEnvelope, InvalidSignature, ValueError):
        return False
    return True


def _exact(text: str, size: int, what: str) -> bytes:
    raw = decode_b64(text, what)
    if len(raw) != size:
        raise MalformedEnvelope(f"a {what} is {size} bytes")
    return raw


def _digits(digest: bytes, count: int) -> str:
    """`count` decimal digits in groups of 5, each group from 5 bytes (its bias is negligible)."""
    groups = [int.from_bytes(digest[i * 5:i * 5 + 5], "big") % 100_000 for i in range(count // 5)]
    return " ".join(f"{group:05d}" for group in groups)


def verification_code(identity_key: str, user_id: int, device_id: int, encryption_key: str,
                      signing_key: str) -> str:
    """The short code a person compares on the new device and on the approving one: 3 groups
    of 5 digits over the user's identity and the new device's keys. Both screens show the same
    code only if both see the same identity and the same device keys, so a server that swapped
    either is caught before anything is signed (the SAS idea of Matrix and ZRTP, over a
    comparison of keys rather than a key exchange)."""
    digest = hashlib.sha256(_CODE_CONTEXT + json.dumps(
        [identity_key, user_id, device_id, encryption_key, signing_key], separators=(",", ":")).encode()).digest()
    return _digits(digest, 15)


def codes_match(shown: str, expected: str) -> bool:
    """Compare a typed code with the expected one, ignoring spaces and dashes."""
    def clean(code: str) -> bytes:
        return re.sub(r"[\s-]", "", code).encode()
    return hmac.compare_digest(clean(shown), clean(expected))


def safety_number(user_id: int, identity_key: str, other_user_id: int, other_identity_key: str) -> str:
    """What two people compare to know they pinned each other's real identity: 12 groups of 5
    digits, the same on both sides (as Signal's safety numbers)."""
    halves = sorted([(user_id, identity_key), (other_user_id, other_identity_key)])
    digest = b""
    for uid, key in halves:
        digest += hashlib.sha512(_SAFETY_CONTEXT + f"{uid}:{key}".encode()).digest()[:30]
    return _digits(digest, 60)


# --- the recovery key ------------------------------------------------------------------------

def new_recovery_key() -> str:
    """A fresh recovery key: 160 random bits as base32 in 8 groups of 4, shown to the user once."""
    text = base64.b32encode(os.urandom(RECOVERY_KEY_BYTES)).decode()
    return " ".join(text[i:i + 4] for i in range(0, len(text), 4))


def normalize_recovery_key(text: str) -> str:
    """The recovery key as typed (any case, spaces or dashes) in canonical form; ValueError if it
    is not one."""
    cleaned = re.sub(r"[\s-]", "", text).upper()
    if not _RECOVERY_KEY_TEXT.fullmatch(cleaned):
        raise ValueError("a recovery key is 32 characters A-Z and 2-7 (8 groups of 4)")
    return " ".join(cleaned[i:i + 4] for i in range(0, 32, 4))


def is_recovery_key(text: str) -> bool:
    """Whether `text` reads as a recovery key (as `normalize_recovery_key` takes it)."""
    try:
        normalize_recovery_key(text)
    except ValueError:
        return False
    return True


def _recovery_aead(recovery_key: str, purpose: str, user_id: int) -> tuple[AESGCM, bytes]:
    raw = base64.b32decode(normalize_recovery_key(recovery_key).replace(" ", ""))
    aad = f"{purpose}:{user_id}".encode()
    return AESGCM(hkdf_sha256(raw, _RECOVERY_KEY_INFO + b"\x00" + aad)), aad


def seal_with_recovery_key(payload: bytes, recovery_key: str, purpose: str, user_id: int) -> str:
    """`payload` encrypted under the recovery key, bound to `purpose` (e.g. 'r1' for the identity,
    'kb1:<version>' for a key backup) and the user id: 'r1:<nonce b64>:<ciphertext b64>'. The
    key has 160 random bits, so no slow derivation is needed, unlike a passphrase."""
    aead, aad = _recovery_aead(recovery_key, purpose, user_id)
    nonce = os.urandom(12)
    return "r1:" + ":".join(map(encode_b64, (nonce, aead.encrypt(nonce, payload, aad))))


def open_with_recovery_key(blob: str, recovery_key: str, purpose: str, user_id: int) -> bytes:
    """The payload of `seal_with_recovery_key`; MalformedEnvelope for a bad blob or key text,
    AuthenticationFailed for a wrong key, another user or purpose, or a changed blob."""
    nonce, ciphertext = (decode_b64(part, "recovery blob") for part in split_parts(blob, "r1", 2))
    if len(nonce) != 12:
        raise MalformedEnvelope("a recovery blob's nonce is 12 bytes")
    try:
        aead, aad = _recovery_aead(recovery_key, purpose, user_id)
    except ValueError as exc:
        raise MalformedEnvelope(str(exc)) from None
    try:
        return aead.decrypt(nonce, ciphertext, aad)
    except InvalidTag:
        raise AuthenticationFailed("wrong recovery key, or the blob changed") from None
