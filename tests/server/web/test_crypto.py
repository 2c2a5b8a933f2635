"""The browser's WebCrypto implementation of spec/e2e.md gives the same bytes as the Python one:
each format made on one side opens on the other, and the old system's vectors open in Chromium."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest

from harness import ServerProcess
from messenger.client.services.keys.records import SequenceLog
from messenger.core.e2e import (
    DeviceKeys,
    EnvelopeError,
    RoomKeyring,
    decrypt_file,
    encrypt_envelope,
    encrypt_file,
    new_room_key,
    open_sealed,
    room_key_id,
    seal_to_device,
)
from messenger.core.e2e.envelopes import legacy_room_key
from messenger.core.e2e.identity import (
    IdentityKeys,
    device_signed_by,
    new_recovery_key,
    open_with_recovery_key,
    seal_with_recovery_key,
    verification_code,
)

from messenger.core.e2e.signed import SenderDevice, SignedEnvelope, seal_message

FIXTURES = Path(__file__).parents[2] / "fixtures"
VECTORS = json.loads((FIXTURES / "e2e-compat-vectors.json").read_text())
V5_VECTORS = json.loads((FIXTURES / "e2e-v5-vectors.json").read_text())

# Every check of spec/e2e.md §2a in its order, in the browser: the body, or the first failure's code.
# `arg`: {envelope, roomId, roomKey, pinned (the sender's user's identity), message, log (a name)}.
READ_V5 = """
    const logs = window.v5Logs ||= {};
    try {
      const signed = await c.readV5(arg.envelope, arg.roomId);
      const s = signed.sender;
      if (!await c.deviceSignedBy(arg.pinned, s.identitySignature, s.userId, s.deviceId, s.encryptionKey, s.signingKey)) {
        return 'E2E_UNVERIFIED_SENDER';
      }
      const body = await c.openV5(signed, [arg.roomKey]);
      c.checkPlace(s, body, arg.message || {});
      if (arg.message?.id) (logs[arg.log] ||= new c.SequenceLog()).place(arg.message.id, body.seq);
      return body;
    } catch (e) { return e.code || String(e); }"""


def python_reads(envelope: str, room_id: int, room_key: str, pinned: str, message: dict | None = None,
                 log: SequenceLog | None = None):
    """The same checks with messenger.core (and the desktop's SequenceLog): the body, or the code."""
    try:
        signed = SignedEnvelope.read(envelope, room_id)
        s = signed.sender
        if not device_signed_by(pinned, s.identity_signature, s.user_id, s.device_id, s.encryption_key, s.signing_key):
            return "E2E_UNVERIFIED_SENDER"
        body = signed.open(RoomKeyring([room_key]))
        body.check_against(s, message or {})
        if log is not None and message:
            log.place(message["id"], body.seq)
        return {"seq": body.seq, "type": body.type, "reply_to": body.reply_to, "edit_of": body.edit_of, "text": body.text}
    except EnvelopeError as exc:
        return exc.code


def flip(envelope: str, at: int) -> str:
    return envelope[:at] + ("A" if envelope[at] != "A" else "B") + envelope[at + 1:]


@pytest.fixture(scope="module")
def page(chromium, tmp_path_factory):
    server = ServerProcess(tmp_path_factory.mktemp("crypto-server")).start()
    context = chromium.new_context()
    page = context.new_page()
    page.goto(server.url + "/")
    yield page
    context.close()
    server.stop()


def in_browser(page, body: str, arg=None):
    """Run `body` (an async function body with `c`, the page's crypto module, and `arg`)."""
    return page.evaluate(f"async (arg) => {{ const c = await import('/web/crypto.js'); {body} }}", arg)


def test_the_old_systems_vectors_open_in_the_browser(page):
    opened = in_browser(page, """
        const out = [];
        for (const v of arg) out.push(await c.decryptEnvelope(v.envelope, [], v.room_key));
        return out;""", VECTORS)
    assert opened == [v["plaintext"] for v in VECTORS]
    assert {v["format"] for v in VECTORS} == {"v1", "v2"}


def test_v3_envelopes_open_in_the_browser_and_a_change_is_tampered(page):
    key = new_room_key()
    text = "안녕하세요, hello 👋"
    from_python = encrypt_envelope(text, key, "v3")
    answer = in_browser(page, """
        const [key, envelope, text] = arg;
        const flipped = envelope.slice(0, -6) + (envelope.at(-6) === 'A' ? 'B' : 'A') + envelope.slice(-5);
        let tampered;
        try { await c.decryptEnvelope(flipped, [key]); } catch (e) { tampered = e.code; }
        let wrong;
        try { await c.decryptEnvelope(envelope, [c.newRoomKey()]); } catch (e) { wrong = e.code; }
        return { opened: await c.decryptEnvelope(envelope, [key]),
                 keyId: await c.roomKeyId(key), legacyId: await c.roomKeyId('l1:old-key'), tampered, wrong };""",
                        [key, from_python, text])
    assert answer["opened"] == text
    assert answer["keyId"] == room_key_id(key)
    assert answer["legacyId"] == room_key_id(legacy_room_key("old-key"))
    assert (answer["tampered"], answer["wrong"]) == ("E2E_TAMPERED", "E2E_WRONG_KEY")


def test_sealed_packages_cross_both_ways_signed(page):
    python_device = DeviceKeys.generate()
    payload = b'{"room_id":1,"key_version":1,"room_key":"k1:x"}'
    answer = in_browser(page, """
        const device = await c.generateDeviceKeys();
        const sealed = await c.sealToDevice(new TextEncoder().encode(arg.payload), arg.python, device.signing.privateKey);
        window.sealTestDevice = device;
        return { publicKey: device.publicKey, signingKey: device.signingPublicKey, sealed };""",
                        {"payload": payload.decode(), "python": python_device.public_key})
    assert open_sealed(answer["sealed"], python_device.exchange, sender_public_key=answer["signingKey"]) == payload
    sealed = seal_to_device(payload, answer["publicKey"], sender=python_device.signing)
    opened = in_browser(page, """
        const device = window.sealTestDevice;
        const opened = new TextDecoder().decode(await c.openSealed(arg.sealed, device, arg.signer));
        let forged;
        try { await c.openSealed(arg.sealed, device, device.signingPublicKey); } catch (e) { forged = e.code; }
        return { opened, forged };""", {"sealed": sealed, "signer": python_device.signing_public_key})
    assert opened == {"opened": payload.decode(), "forged": "E2E_UNVERIFIED_SENDER"}


def test_identities_codes_and_recovery_blobs_match(page):
    recovery = new_recovery_key()
    python_identity = IdentityKeys.generate()
    blob = seal_with_recovery_key(python_identity.export().encode(), recovery, "identity", 7)
    answer = in_browser(page, """
        const identity = await c.generateIdentity();
        const signature = await c.signDevice(identity, 7, 42, 'ZW5j', 'c2lnbg==');
        const opened = new TextDecoder().decode(await c.openWithRecoveryKey(arg.blob, arg.recovery.toLowerCase(), 'identity', 7));
        const loaded = await c.loadIdentity(opened);
        return { publicKey: identity.publicKey, signature, loaded: loaded.publicKey,
                 code: await c.verificationCode(identity.publicKey, 7, 42, 'ZW5j', 'c2lnbg=='),
                 pythonSigned: await c.deviceSignedBy(arg.pythonKey, arg.pythonSignature, 7, 42, 'ZW5j', 'c2lnbg=='),
                 ownBlob: await c.sealWithRecoveryKey(new TextEncoder().encode(identity.exported), arg.recovery, 'identity', 7),
                 newRecovery: c.newRecoveryKey() };""",
                        {"blob": blob, "recovery": recovery, "pythonKey": python_identity.public_key,
                         "pythonSignature": python_identity.sign_device(7, 42, "ZW5j", "c2lnbg==")})
    assert device_signed_by(answer["publicKey"], answer["signature"], 7, 42, "ZW5j", "c2lnbg==")
    assert answer["loaded"] == python_identity.public_key and answer["pythonSigned"] is True
    assert answer["code"] == verification_code(answer["publicKey"], 7, 42, "ZW5j", "c2lnbg==")
    exported = open_with_recovery_key(answer["ownBlob"], recovery, "identity", 7).decode()
    assert IdentityKeys.load(exported).public_key == answer["publicKey"]
    assert len(answer["newRecovery"]) == 39 and answer["newRecovery"].count(" ") == 7


def test_files_cross_both_ways(page):
    data = bytes(range(256)) * 40
    blob, key = encrypt_file(data)
    answer = in_browser(page, """
        const bytes = (b64) => Uint8Array.from(atob(b64), (ch) => ch.charCodeAt(0));
        const opened = await c.decryptFile(bytes(arg.blob), arg.key);
        const made = await c.encryptFile(opened);
        return { opened: c.encodeB64(opened), blob: c.encodeB64(made.blob), key: made.fileKey };""",
                        {"blob": base64.b64encode(blob).decode(), "key": key})
    assert base64.b64decode(answer["opened"]) == data
    assert decrypt_file(base64.b64decode(answer["blob"]), answer["key"]) == data


def test_the_v5_vectors_read_in_the_browser_as_in_python(page):
    v = V5_VECTORS
    for case in v["cases"]:
        answer = in_browser(page, READ_V5, {"envelope": case["envelope"], "roomId": v["room_id"],
                                            "roomKey": v["room_key"], "pinned": v["identity_public_key"]})
        assert answer == case.get("body", case.get("error")), case["name"]


def test_v5_envelopes_cross_both_ways_and_a_changed_moved_or_reordered_one_is_refused(page):
    key, room, other_room = new_room_key(), 70, 71
    identity, python_device = IdentityKeys.generate(), DeviceKeys.generate()
    python_sender = SenderDevice(5, 12, python_device.public_key, python_device.signing_public_key,
                                 identity.sign_device(5, 12, python_device.public_key, python_device.signing_public_key))
    keyring = RoomKeyring([key])
    from_python = [seal_message(keyring, room, python_sender, python_device.signing, "첫째 🙂", 100, reply_to=9),
                   seal_message(keyring, room, python_sender, python_device.signing, "둘째", 101, "file")]

    # made in the browser: a reply, then a file description, by a device its identity signed
    made = in_browser(page, """
        const identity = await c.generateIdentity();
        const device = await c.generateDeviceKeys();
        const sender = { userId: 6, deviceId: 13, encryptionKey: device.publicKey, signingKey: device.signingPublicKey,
                         identitySignature: await c.signDevice(identity, 6, 13, device.publicKey, device.signingPublicKey) };
        const seal = (seq, type, reply_to, text) => c.sealV5(arg.key, arg.room, sender, device.signing.privateKey,
                                                           { seq, type, reply_to, edit_of: null, text });
        return { identity: identity.publicKey, envelopes: [await seal(200, 'text', 9, '브라우저 첫째'), await seal(201, 'image', null, 'b')] };""",
                      {"key": key, "room": room})
    first, second = made["envelopes"]
    at_9 = {"id": 20, "sender_id": 6, "message_type": "text", "reply_to": 9}
    image = {"id": 21, "sender_id": 6, "message_type": "image", "reply_to": None}
    log = SequenceLog()
    assert python_reads(first, room, key, made["identity"], at_9, log) == {
        "seq": 200, "type": "text", "reply_to": 9, "edit_of": None, "text": "브라우저 첫째"}
    assert python_reads(second, room, key, made["identity"], image, log)["type"] == "image"
    # refused in Python: changed, moved to another room, shown in another order, under another
    # sender or type, replayed, or from a device the pinned identity did not sign
    assert python_reads(flip(first, len(first) - 100), room, key, made["identity"]) == "E2E_SIGNATURE_INVALID"
    assert python_reads(first, other_room, key, made["identity"]) == "E2E_SIGNATURE_INVALID"
    swapped = SequenceLog()
    assert python_reads(second, room, key, made["identity"], {**image, "id": 20}, swapped)["seq"] == 201
    assert python_reads(first, room, key, made["identity"], {**at_9, "id": 21}, swapped) == "E2E_REORDERED"
    assert python_reads(first, room, key, made["identity"], {**at_9, "sender_id": 5}) == "E2E_MISATTRIBUTED"
    assert python_reads(second, room, key, made["identity"], {**image, "message_type": "file"}) == "E2E_MISATTRIBUTED"
    assert python_reads(first, room, key, made["identity"], {**at_9, "id": 22}, log) == "E2E_REPLAYED"
    assert python_reads(first, room, key, identity.public_key) == "E2E_UNVERIFIED_SENDER"

    # made in Python, read in the browser with the same checks and the same refusals
    def browser_reads(envelope, message=None, log="python", room_id=room, pinned=identity.public_key):
        return in_browser(page, READ_V5, {"envelope": envelope, "roomId": room_id, "roomKey": key, "pinned": pinned,
                                          "message": message, "log": log})

    reply = {"id": 30, "sender_id": 5, "message_type": "text", "reply_to": 9}
    shared = {"id": 31, "sender_id": 5, "message_type": "file", "reply_to": None}
    assert browser_reads(from_python[0], reply) == {"seq": 100, "type": "text", "reply_to": 9, "edit_of": None,
                                                    "text": "첫째 🙂"}
    assert browser_reads(from_python[1], shared)["text"] == "둘째"
    assert browser_reads(flip(from_python[0], len(from_python[0]) - 100)) == "E2E_SIGNATURE_INVALID"
    assert browser_reads(from_python[0], room_id=other_room) == "E2E_SIGNATURE_INVALID"
    assert browser_reads(from_python[1], {**shared, "id": 30}, log="swapped")["seq"] == 101
    assert browser_reads(from_python[0], {**reply, "id": 31}, log="swapped") == "E2E_REORDERED"
    assert browser_reads(from_python[0], {**reply, "reply_to": None}) == "E2E_MISATTRIBUTED"
    assert browser_reads(from_python[0], {**reply, "id": 32}) == "E2E_REPLAYED"
    assert browser_reads(from_python[0], pinned=made["identity"]) == "E2E_UNVERIFIED_SENDER"
