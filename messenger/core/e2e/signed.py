"""v5 envelopes: v3's encryption, signed by the sending device and placed in its sequence.

The layout, what is signed and in which order a reader checks it are in spec/e2e.md §2a. This
module does the parts that need no state: `seal_message` writes an envelope, `SignedEnvelope.read`
parses one and checks its signature for a room, `SignedEnvelope.open` decrypts its body, and
`SignedBody.check_against` compares it with what the server says about the message. Which
identity a sender's device must be signed by (the pinned one) and which sequence numbers were
seen are the client's (messenger.client.services.keys).
"""

from __future__ import annotations

import functools
import hmac
import json
import re
from dataclasses import dataclass

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from nacl.exceptions import BadSignatureError
from nacl.signing import VerifyKey

from messenger.core.e2e.envelopes import (
    EnvelopeTampered,
    MalformedEnvelope,
    MessageMisplaced,
    RoomKeyring,
    SignatureInvalid,
    decode_b64,
    encode_b64,
    split_parts,
)

V5_PREFIX = "v5:"
MESSAGE_TYPES = ("text", "file", "image")
MAX_SEQ = 2**53 - 1  # what a JSON reader in any language keeps exact
_SIGNATURE_CONTEXT = b"messenger e2e v5 message\x00"
_KEY_ID = re.compile(r"[0-9a-f]{16}")
_ID = re.compile(r"[1-9][0-9]{0,18}")
_BODY_FIELDS = {"seq", "type", "reply_to", "edit_of", "text"}


@dataclass(frozen=True)
class SenderDevice:
    """The signing device as a v5 envelope names it: its user, id, public keys and its user's
    identity signature of them (spec/e2e.md §4a)."""

    user_id: int
    device_id: int
    encryption_key: str
    signing_key: str
    identity_signature: str

    @property
    def text(self) -> str:
        return ".".join((str(self.user_id), str(self.device_id), self.encryption_key, self.signing_key,
                         self.identity_signature))

    @classmethod
    @functools.lru_cache(maxsize=1024)  # a room's history names few devices: parse each once
    def parse(cls, text: str) -> SenderDevice:
        parts = text.split(".")
        if len(parts) != 5 or not (_ID.fullmatch(parts[0]) and _ID.fullmatch(parts[1])):
            raise MalformedEnvelope("a v5 sender is user id, device id, two keys and a signature, '.'-separated")
        for part, size, what in zip(parts[2:], (32, 32, 64), ("encryption key", "signing key", "identity signature")):
            if len(decode_b64(part, f"v5 sender {what}")) != size:
                raise MalformedEnvelope(f"a v5 sender's {what} is {size} bytes")
        return cls(int(parts[0]), int(parts[1]), parts[2], parts[3], parts[4])


@dataclass(frozen=True)
class SignedBody:
    """What a v5 envelope's sender signed besides the room, the key and itself."""

    seq: int
    type: str
    reply_to: int | None
    edit_of: int | None
    text: str

    def check_against(self, sender: SenderDevice, message: dict[str, object]) -> None:
        """MessageMisplaced E2E_MISATTRIBUTED unless every field the server gives for `message`
        (`sender_id`, `message_type`, `reply_to`, `id`) agrees with what was signed. A field the
        server did not give (a preview) is not compared."""
        def differs(field: str, signed: object) -> bool:
            return field in message and message[field] != signed

        if differs("sender_id", sender.user_id):
            raise MessageMisplaced("E2E_MISATTRIBUTED", "signed by another user than the one shown")
        if differs("message_type", self.type):
            raise MessageMisplaced("E2E_MISATTRIBUTED", "signed as another message type")
        if self.edit_of is None and differs("reply_to", self.reply_to):
            raise MessageMisplaced("E2E_MISATTRIBUTED", "signed as a reply to another message")
        if self.edit_of is not None and differs("id", self.edit_of):
            raise MessageMisplaced("E2E_MISATTRIBUTED", "an edit signed for another message")


@functools.lru_cache(maxsize=1024)
def _verifier(signing_key: str) -> VerifyKey:
    """The public key object of a sender's signing key (base64 checked by SenderDevice.parse),
    made once per device rather than once per message. Verified with libsodium (PyNaCl), which
    takes about half the time of OpenSSL's Ed25519 here, and lets go of the GIL while it works."""
    return VerifyKey(decode_b64(signing_key, "v5 signing key"))


def _statement(room_id: int, key_id: str, commitment: str, sender: str, nonce: str, ciphertext: str) -> bytes:
    return _SIGNATURE_CONTEXT + json.dumps([room_id, key_id, commitment, sender, nonce, ciphertext],
                                           separators=(",", ":")).encode()


def seal_message(keyring: RoomKeyring, room_id: int, sender: SenderDevice, signing: Ed25519PrivateKey,
                 text: str, seq: int, message_type: str = "text", reply_to: int | None = None,
                 edit_of: int | None = None) -> str:
    """A v5 envelope of `text` under the keyring's newest key, signed by the device `signing`
    (whose public key `sender` names). ValueError for a seq, type or target out of range;
    LookupError when the keyring holds no v3 key."""
    if not 1 <= seq <= MAX_SEQ or message_type not in MESSAGE_TYPES:
        raise ValueError(f"seq is 1..{MAX_SEQ} and the type one of {', '.join(MESSAGE_TYPES)}")
    if any(target is not None and not 1 <= target <= 2**63 - 1 for target in (reply_to, edit_of)):
        raise ValueError("a reply or edit target is a message id")
    body = json.dumps({"seq": seq, "type": message_type, "reply_to": None if edit_of else reply_to,
                       "edit_of": edit_of, "text": text}, ensure_ascii=False, separators=(",", ":"))
    key_id = keyring.newest_key_id
    head = f"{V5_PREFIX}{key_id}:{encode_b64(keyring.commitment(key_id))}:{sender.text}"
    nonce, ciphertext = keyring.seal(key_id, body.encode("utf-8"), head.encode())
    nonce_text, ciphertext_text = encode_b64(nonce), encode_b64(ciphertext)
    _prefix, key_part, commitment, sender_part = head.split(":", 3)
    signature = signing.sign(_statement(room_id, key_part, commitment, sender_part, nonce_text, ciphertext_text))
    return f"{head}:{nonce_text}:{ciphertext_text}:{encode_b64(signature)}"


@dataclass(frozen=True)
class SignedEnvelope:
    """A parsed v5 envelope whose signature checked for its room (see `read`)."""

    key_id: str
    commitment: bytes
    sender: SenderDevice
    nonce: bytes
    ciphertext: bytes

    @classmethod
    def read(cls, envelope: str, room_id: int) -> SignedEnvelope:
        """Parse `envelope` and check its signature for `room_id` (steps 1 and 2 of spec/e2e.md
        §2a). MalformedEnvelope, SignatureInvalid. The sender device's identity signature is
        the caller's to check against the identity it pinned (`identity.device_signed_by`)."""
        key_id, commitment_text, sender_text, nonce_text, ciphertext_text, signature_text = split_parts(envelope, "v5", 6)
        sender = SenderDevice.parse(sender_text)
        commitment = decode_b64(commitment_text, "v5 key commitment")
        nonce, ciphertext = decode_b64(nonce_text, "v5 nonce"), decode_b64(ciphertext_text, "v5 ciphertext")
        signature = decode_b64(signature_text, "v5 signature")
        if (not _KEY_ID.fullmatch(key_id) or len(commitment) != 32 or len(nonce) != 12 or len(ciphertext) < 16
                or len(signature) != 64):
            raise MalformedEnvelope("a v5 envelope has a 16-hex key id, a 32-byte key commitment, a 12-byte nonce, "
                                    "a 16-byte tag and a 64-byte signature")
        try:
            _verifier(sender.signing_key).verify(
                _statement(room_id, key_id, commitment_text, sender_text, nonce_text, ciphertext_text), signature)
        except BadSignatureError:
            raise SignatureInvalid("the v5 signature does not check for this room") from None
        return cls(key_id, commitment, sender, nonce, ciphertext)

    def open(self, keyring: RoomKeyring) -> SignedBody:
        """The signed body (step 4). WrongRoomKey (the key is not held), EnvelopeTampered,
        MalformedEnvelope (a body that is not as spec/e2e.md §2a says)."""
        # The held key must be the one committed to: AES-GCM alone would let a crafted ciphertext
        # open under two keys (with one key id) to two texts.
        if not hmac.compare_digest(keyring.commitment(self.key_id), self.commitment):
            raise EnvelopeTampered("the v5 envelope commits to another key than the one its key id names here")
        head = f"{V5_PREFIX}{self.key_id}:{encode_b64(self.commitment)}:{self.sender.text}"
        plaintext = keyring.open(self.key_id, self.nonce, self.ciphertext, head.encode())
        try:
            body = json.loads(plaintext.decode("utf-8"))
            if not isinstance(body, dict) or set(body) != _BODY_FIELDS:
                raise ValueError("members")
            seq, message_type, text = body["seq"], body["type"], body["text"]
            targets = (body["reply_to"], body["edit_of"])
            if (type(seq) is not int or not 1 <= seq <= MAX_SEQ or message_type not in MESSAGE_TYPES
                    or not isinstance(text, str)
                    or any(t is not None and (type(t) is not int or t < 1) for t in targets)):
                raise ValueError("values")
        except (UnicodeDecodeError, ValueError):
            raise MalformedEnvelope("the v5 body is not the signed message object") from None
        return SignedBody(seq, message_type, *targets, text)
