"""Signed messages (spec/e2e.md §2a): sealing this device's messages as v5 envelopes in its own
sequence, and checking other devices' against their users' pinned identities (part of E2EKeys).

A v5 envelope's signature check costs an Ed25519 verify (~0.06-0.1 ms): what an envelope opened to
(or why it did not) is kept per room, so a page read again costs look-ups. What the server says
about the message (sender, type, reply target, id, order) is compared at every read.
"""

from __future__ import annotations

import logging
import time

from messenger.client.services.keys.records import SIGNED_CACHE_PER_ROOM, IdentityPending, SequenceLog, keep_bounded
from messenger.core.e2e import EnvelopeError, RoomKeyring, UnverifiedSender, WrongRoomKey
from messenger.core.e2e.signed import MAX_SEQ, SenderDevice, SignedBody, SignedEnvelope, seal_message

log = logging.getLogger(__name__)


class MessageSigning:
    """E2EKeys' signed messages; its state is made in E2EKeys.__init__."""

    def encrypt(self, room_id: int, plaintext: str, timeout: float = 20.0, *, message_type: str = "text",
                reply_to: int | None = None, edit_of: int | None = None) -> str:
        """A v5 envelope of `plaintext` under the room's current key, signed by this device with
        its next sequence number, naming its type and its reply or edit target; makes (and seals
        to every member device) a new version first when the room needs one. Raises E2EError
        (E2E_DEVICE_UNVERIFIED, E2E_ROOM_KEY_UNAVAILABLE after `timeout`, ROOM_NOT_FOUND),
        ServerRefused, ServerUnreachable."""
        room_key = self._sending_key(room_id, timeout)
        device = self._require_device()
        sender = SenderDevice(self.user_id, self.device_session_id, device.public_key, device.signing_public_key,
                              self._own_identity_signature or "")
        with self._lock:
            # Rising after a lost cache too: the clock is the floor (spec/e2e.md §2a).
            self._sequence = seq = max(self._sequence + 1, int(time.time() * 1000))
            sending = self._room(room_id).sending
            if sending is not None:
                sending["count"] += 1
        envelope = seal_message(RoomKeyring([room_key]), room_id, sender, device.signing, plaintext, seq,
                                message_type, reply_to, edit_of)
        self._save_cache()  # the sequence and the count must survive a restart
        return envelope

    def open_signed(self, room_id: int, envelope: str, message: dict | None = None) -> SignedBody:
        """The body of a v5 `envelope` shown in `room_id`, after every check of spec/e2e.md §2a;
        `message` is what the server says about it (as it serializes a message; fields it lacks
        are not compared). Raises WrongRoomKey (the key is not held: maybe on its way),
        IdentityPending (the sender's identity is being looked up: read again when listeners
        hear the room), UnverifiedSender, SignatureInvalid, EnvelopeTampered, MessageMisplaced,
        MalformedEnvelope."""
        with self._lock:
            room = self._room(room_id)
            opened = room.signed_opened.get(envelope)
            keyring = room.keyring
        if opened is None:
            opened = self._open_signed_now(room_id, keyring, envelope)
        if isinstance(opened, EnvelopeError):
            raise opened
        sender, body = opened
        message = message or {}
        body.check_against(sender, message)
        if body.edit_of is None and message.get("id") is not None:
            with self._lock:
                sequences = self._room(room_id).sequences
                sequences.setdefault(sender.device_id, SequenceLog()).place(message["id"], body.seq)
        return body

    def _open_signed_now(self, room_id: int, keyring: RoomKeyring, envelope: str):
        try:
            signed = SignedEnvelope.read(envelope, room_id)
            believed_until = self._sender_believed_until(room_id, signed.sender)
            if believed_until is None:
                raise UnverifiedSender(f"device {signed.sender.device_id} is not signed by its user's pinned identity")
            body = signed.open(keyring)
            if body.seq > believed_until:
                raise UnverifiedSender(f"device {signed.sender.device_id} is signed by an identity its user replaced "
                                       "before this message")
            opened: tuple[SenderDevice, SignedBody] | EnvelopeError = (signed.sender, body)
        except (WrongRoomKey, IdentityPending):
            raise  # may change: nothing to remember
        except EnvelopeError as exc:
            opened = exc
        with self._lock:
            keep_bounded(self._room(room_id).signed_opened, envelope, opened, SIGNED_CACHE_PER_ROOM)
        return opened

    def _sender_believed_until(self, room_id: int, sender: SenderDevice) -> int | None:
        """Up to which sequence number the sender's device speaks for its user: any when the
        user's pinned identity signed it; up to when an identity pinned here before stopped
        being trusted, when that one signed it; None (not at all) otherwise. A contact whose
        identity is not pinned here yet is looked up on a worker (IdentityPending meanwhile)."""
        with self._lock:
            pinned = sender.user_id in self._identities
            look_up = not pinned and sender.user_id not in self._identity_lookups
            if look_up:
                self._identity_lookups[sender.user_id] = True  # pending
            pending = not pinned and self._identity_lookups.get(sender.user_id, False)
        if look_up:
            self._submit(self._pin_sender_identity, room_id, sender.user_id)
        if pending:
            raise IdentityPending(f"user {sender.user_id}'s identity is being looked up")
        device = {"user_id": sender.user_id, "device_session_id": sender.device_id,
                  "encryption_key": sender.encryption_key, "signing_key": sender.signing_key,
                  "identity_signature": sender.identity_signature}
        if self._signed_by_pinned(device):
            return MAX_SEQ
        with self._lock:
            former = dict(self._former_identities.get(sender.user_id, {}))
        return next((until for identity, until in former.items() if self._signed_by(identity, device)), None)

    def _pin_sender_identity(self, room_id: int, user_id: int) -> None:
        """Pin the identity the server shows for a sender first seen in a message (trust on
        first use, as for a contact seen in a device list), then have the room read again."""
        try:
            shown = self.directory.user_keys(user_id)["identity_key"]
            with self._lock:
                if shown and user_id not in self._identities:
                    self._identities[user_id] = shown
                    self._pins_unsaved = True
            self._save_pins()
        except Exception as exc:  # a worker thread; read as unverified until a later start
            log.warning("e2e: looking up user %s's identity failed (%s)", user_id, getattr(exc, "code", exc))
        finally:
            with self._lock:
                self._identity_lookups[user_id] = False  # done: read as it is pinned now
        self._notify(room_id)

    def forget_checks(self) -> None:
        """Drop what envelopes opened to (after an identity was trusted: a refusal may not hold)."""
        with self._lock:
            for room in self._rooms.values():
                room.signed_opened.clear()

