"""Device keys, sealed packages, key backups and encrypted files.

What the server gets from this module is public or opaque: device public keys, packages sealed to
one device, backups that open with a passphrase, file blobs whose key travels inside an encrypted
message. Layouts in spec/e2e.md; failures are the `EnvelopeError` family of `envelopes`.
"""

from __future__ import annotations

import os
import re
import unicodedata
from dataclasses import dataclass

from argon2.exceptions import HashingError
from argon2.low_level import Type, hash_secret_raw
from argon2.profiles import RFC_9106_LOW_MEMORY
from cryptography.exceptions import InvalidSignature, InvalidTag
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from messenger.core.e2e.envelopes import (
    AuthenticationFailed,
    MalformedEnvelope,
    UnverifiedSender,
    decode_b64,
    encode_b64,
    hkdf_sha256,
    split_parts,
)
from messenger.core.media import sniff_image

_SEAL_AAD = b"s1"
_SEAL_KEY_INFO = b"messenger e2e s1 seal key"
_SEAL_SIGNATURE_CONTEXT = b"messenger e2e s1 signature"
_UNSIGNED, _SIGNED = b"\x00", b"\x01"
_BACKUP_COST = re.compile(r"m=([1-9][0-9]{0,9}),t=([1-9][0-9]{0,9}),p=([1-9][0-9]{0,9})")
_FILE_MAGIC = b"E2F1"


@dataclass(frozen=True)
class DeviceKeys:
    """One device's private keys: X25519 to open what is sealed to it, Ed25519 to sign what it seals."""

    exchange: X25519PrivateKey
    signing: Ed25519PrivateKey

    @classmethod
    def generate(cls) -> DeviceKeys:
        """Fresh keys for a new device."""
        return cls(X25519PrivateKey.generate(), Ed25519PrivateKey.generate())

    @property
    def public_key(self) -> str:
        """The X25519 public key (base64 of 32 raw bytes): what others seal to."""
        return encode_b64(self.exchange.public_key().public_bytes_raw())

    @property
    def signing_public_key(self) -> str:
        """The Ed25519 public key (base64 of 32 raw bytes): what recipients verify seals with."""
        return encode_b64(self.signing.public_key().public_bytes_raw())

    def export(self) -> str:
        """Both private keys as 'd1:<x25519 b64>:<ed25519 b64>', for the OS keyring or a backup."""
        raw = (self.exchange.private_bytes_raw(), self.signing.private_bytes_raw())
        return "d1:" + ":".join(map(encode_b64, raw))

    @classmethod
    def load(cls, text: str) -> DeviceKeys:
        """The keys `export` wrote; MalformedEnvelope if `text` is not such a string."""
        exchange, signing = (decode_b64(part, "device key") for part in split_parts(text, "d1", 2))
        if len(exchange) != 32 or len(signing) != 32:
            raise MalformedEnvelope("device private keys are 32 bytes each")
        return cls(X25519PrivateKey.from_private_bytes(exchange), Ed25519PrivateKey.from_private_bytes(signing))


def _public_bytes(text: str, what: str) -> bytes:
    raw = decode_b64(text, what)
    if len(raw) != 32:
        raise MalformedEnvelope(f"a {what} is 32 bytes")
    return raw


def load_public_key(text: str) -> X25519PublicKey:
    """A device's X25519 public key from its base64 form; MalformedEnvelope if it is not one."""
    return X25519PublicKey.from_public_bytes(_public_bytes(text, "device public key"))


def load_signing_public_key(text: str) -> Ed25519PublicKey:
    """A device's Ed25519 public key from its base64 form; MalformedEnvelope if it is not one."""
    return Ed25519PublicKey.from_public_bytes(_public_bytes(text, "device signing key"))


def _seal_key(shared: bytes, ephemeral: bytes, recipient: bytes) -> bytes:
    # Both public keys go into the derivation, binding the key to this one seal for this device.
    return hkdf_sha256(shared, _SEAL_KEY_INFO + ephemeral + recipient)


def _signed_message(ephemeral: bytes, recipient: bytes, payload: bytes) -> bytes:
    # Over the recipient's key too: the recipient cannot pass the signed payload on as if it had
    # been sealed to a third device.
    return _SEAL_SIGNATURE_CONTEXT + ephemeral + recipient + payload


def seal_to_device(
    payload: bytes, recipient_public_key: X25519PublicKey | str, sender: Ed25519PrivateKey | None = None
) -> str:
    """`payload` sealed so that only the recipient device's private key opens it.

    With `sender` (the sealing device's signing key) the recipient can also verify who sealed it;
    without, anyone who knows the recipient's public key, the server included, could have.
    """
    if isinstance(recipient_public_key, str):
        recipient_public_key = load_public_key(recipient_public_key)
    ephemeral = X25519PrivateKey.generate()
    ephemeral_raw = ephemeral.public_key().public_bytes_raw()
    recipient_raw = recipient_public_key.public_bytes_raw()
    key = _seal_key(ephemeral.exchange(recipient_public_key), ephemeral_raw, recipient_raw)
    if sender is None:
        inner = _UNSIGNED + payload
    else:
        # Signed inside the encryption, so that the server cannot see who signed.
        inner = _SIGNED + sender.sign(_signed_message(ephemeral_raw, recipient_raw, payload)) + payload
    nonce = os.urandom(12)
    ciphertext = AESGCM(key).encrypt(nonce, inner, _SEAL_AAD)
    return "s1:" + ":".join(map(encode_b64, (ephemeral_raw, nonce, ciphertext)))


def open_sealed(
    sealed: str, device_private_key: X25519PrivateKey, sender_public_key: Ed25519PublicKey | str | None = None
) -> bytes:
    """The payload of a package sealed to this device.

    With `sender_public_key`, it also proves that device sealed it, else UnverifiedSender.
    Raises MalformedEnvelope, AuthenticationFailed (sealed to another device, or changed),
    UnverifiedSender.
    """
    ephemeral_raw, nonce, ciphertext = (
        decode_b64(part, f"sealed {what}")
        for part, what in zip(split_parts(sealed, "s1", 3), ("ephemeral key", "nonce", "ciphertext"))
    )
    if len(ephemeral_raw) != 32 or len(nonce) != 12 or len(ciphertext) < 17:
        raise MalformedEnvelope("a sealed package has a 32-byte key, a 12-byte nonce, a flag and a tag")
    recipient_raw = device_private_key.public_key().public_bytes_raw()
    try:
        shared = device_private_key.exchange(X25519PublicKey.from_public_bytes(ephemeral_raw))
    except ValueError:  # a low-order point gives an all-zero secret
        raise MalformedEnvelope("the sealed package's ephemeral key is unusable") from None
    try:
        inner = AESGCM(_seal_key(shared, ephemeral_raw, recipient_raw)).decrypt(nonce, ciphertext, _SEAL_AAD)
    except InvalidTag:
        raise AuthenticationFailed("the package is sealed to another device, or was changed") from None
    flag, body = inner[:1], inner[1:]
    if flag == _UNSIGNED:
        signature, payload = None, body
    elif flag == _SIGNED and len(body) >= 64:
        signature, payload = body[:64], body[64:]
    else:
        raise MalformedEnvelope("the sealed package has an unknown signature flag")
    if sender_public_key is None:
        return payload
    if isinstance(sender_public_key, str):
        sender_public_key = load_signing_public_key(sender_public_key)
    if signature is None:
        raise UnverifiedSender("the sealed package is not signed")
    try:
        sender_public_key.verify(signature, _signed_message(ephemeral_raw, recipient_raw, payload))
    except InvalidSignature:
        raise UnverifiedSender("the sealed package was not signed by the expected device") from None
    return payload


@dataclass(frozen=True)
class BackupCost:
    """Argon2id cost of a key backup, stored in its blob so old backups open after defaults change.

    The default is RFC 9106's second recommendation (64 MiB, 3 passes, 4 lanes), above OWASP's
    minimum. The upper bounds keep a hostile blob from making a client hang or run out of memory.
    """

    memory_kib: int = RFC_9106_LOW_MEMORY.memory_cost
    time_cost: int = RFC_9106_LOW_MEMORY.time_cost
    parallelism: int = RFC_9106_LOW_MEMORY.parallelism

    def __post_init__(self) -> None:
        if not (1 <= self.parallelism <= 16 and 8 * self.parallelism <= self.memory_kib <= 1 << 20):
            raise ValueError("argon2id lanes must be 1-16 and memory 8 KiB per lane up to 1 GiB")
        if not 1 <= self.time_cost <= 20:
            raise ValueError("argon2id passes must be 1-20")

    @property
    def header(self) -> str:
        """The blob's first two parts, which also serve as the AEAD's associated data."""
        return f"b1:m={self.memory_kib},t={self.time_cost},p={self.parallelism}"

    def derive(self, passphrase: str, salt: bytes) -> bytes:
        """The 32-byte backup key; the passphrase is NFC-normalised so any keyboard types it alike."""
        secret = unicodedata.normalize("NFC", passphrase).encode("utf-8")
        return hash_secret_raw(
            secret, salt, self.time_cost, self.memory_kib, self.parallelism, hash_len=32, type=Type.ID
        )


def encrypt_key_backup(payload: bytes, passphrase: str, cost: BackupCost = BackupCost()) -> str:
    """`payload` (e.g. exported device and room keys) sealed under `passphrase` for safe keeping."""
    salt, nonce = os.urandom(16), os.urandom(12)
    ciphertext = AESGCM(cost.derive(passphrase, salt)).encrypt(nonce, payload, cost.header.encode())
    return f"{cost.header}:{encode_b64(salt)}:{encode_b64(nonce)}:{encode_b64(ciphertext)}"


def decrypt_key_backup(blob: str, passphrase: str) -> bytes:
    """The payload of a backup blob. Raises MalformedEnvelope, AuthenticationFailed (wrong passphrase or changed)."""
    cost_text, salt_text, nonce_text, ciphertext_text = split_parts(blob, "b1", 4)
    match = _BACKUP_COST.fullmatch(cost_text)
    if match is None:
        raise MalformedEnvelope("the backup's argon2id cost is not m=..,t=..,p=..")
    try:
        cost = BackupCost(*map(int, match.groups()))
    except ValueError:
        raise MalformedEnvelope("the backup's argon2id cost is out of bounds") from None
    salt, nonce = decode_b64(salt_text, "backup salt"), decode_b64(nonce_text, "backup nonce")
    ciphertext = decode_b64(ciphertext_text, "backup ciphertext")
    if len(salt) != 16 or len(nonce) != 12 or len(ciphertext) < 16:
        raise MalformedEnvelope("a backup has a 16-byte salt, a 12-byte nonce and a 16-byte tag")
    try:
        key = cost.derive(passphrase, salt)
    except HashingError:
        raise MalformedEnvelope("the backup's argon2id cost cannot be run") from None
    try:
        return AESGCM(key).decrypt(nonce, ciphertext, cost.header.encode())
    except InvalidTag:
        raise AuthenticationFailed("wrong passphrase, or the backup was changed") from None


def encrypt_file(data: bytes) -> tuple[bytes, str]:
    """`data` encrypted under a fresh key: the blob to upload, and the key (base64) to send inside
    the encrypted message, next to the file name, so the server sees neither."""
    key = AESGCM.generate_key(256)
    # The key is never reused, but a random nonce keeps that from being the only safeguard.
    nonce = os.urandom(12)
    return _FILE_MAGIC + nonce + AESGCM(key).encrypt(nonce, data, _FILE_MAGIC), encode_b64(key)


def decrypt_file(blob: bytes, file_key_b64: str) -> bytes:
    """The file in `blob`. Raises MalformedEnvelope, AuthenticationFailed (wrong file key or changed)."""
    key = decode_b64(file_key_b64, "file key")
    if len(key) != 32 or not blob.startswith(_FILE_MAGIC) or len(blob) < len(_FILE_MAGIC) + 12 + 16:
        raise MalformedEnvelope("a file blob is E2F1, a 12-byte nonce and a 16-byte tag; its key 32 bytes")
    nonce, ciphertext = blob[4:16], blob[16:]
    try:
        return AESGCM(key).decrypt(nonce, ciphertext, _FILE_MAGIC)
    except InvalidTag:
        raise AuthenticationFailed("wrong file key, or the file was changed") from None


def decrypt_image(blob: bytes, file_key_b64: str) -> tuple[bytes, str | None]:
    """The decrypted file and its image type by magic number ("png", "jpeg", "gif", "webp") or None.

    A client previews only what this names, whatever the file name in the message claims.
    """
    data = decrypt_file(blob, file_key_b64)
    return data, sniff_image(data)
