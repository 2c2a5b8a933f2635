"""The browser's WebCrypto implementation of spec/e2e.md gives the same bytes as the Python one:
each format made on one side opens on the other, and the old system's vectors open in Chromium."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest

from harness import ServerProcess
from messenger.core.e2e import (
    DeviceKeys,
    decrypt_envelope,
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

VECTORS = json.loads((Path(__file__).parents[2] / "fixtures" / "e2e-compat-vectors.json").read_text())


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


def test_v3_envelopes_cross_both_ways_and_a_change_is_tampered(page):
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
        return { opened: await c.decryptEnvelope(envelope, [key]), made: await c.encryptV3(text, key),
                 keyId: await c.roomKeyId(key), legacyId: await c.roomKeyId('l1:old-key'), tampered, wrong };""",
                        [key, from_python, text])
    assert answer["opened"] == text
    assert decrypt_envelope(answer["made"], key) == text
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
