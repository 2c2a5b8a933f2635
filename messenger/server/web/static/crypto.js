// The E2E formats of spec/e2e.md, on WebCrypto: the same bytes as messenger/core/e2e.
// Private keys are made non-extractable; only public halves and opaque blobs leave this file.
import { md5 } from "./md5.js";

const subtle = crypto.subtle;
const utf8 = new TextEncoder();
const fromUtf8 = new TextDecoder("utf-8", { fatal: true });

export class EnvelopeError extends Error {
  constructor(code, message) { super(message || code); this.code = code; }
}
const malformed = (why) => new EnvelopeError("E2E_MALFORMED", why);
const wrongKey = (why) => new EnvelopeError("E2E_WRONG_KEY", why);
const tampered = (why) => new EnvelopeError("E2E_TAMPERED", why);
const authFailed = (why) => new EnvelopeError("E2E_AUTH_FAILED", why);

// -- bytes ----------------------------------------------------------------------------------------

export function encodeB64(bytes) {
  let text = "";
  for (let i = 0; i < bytes.length; i += 0x8000) text += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(text);
}

// Only the canonical spelling, as the Python reader: any changed character is a changed envelope.
export function decodeB64(text, what) {
  let raw;
  try { raw = atob(text); } catch { throw malformed(`${what} is not base64`); }
  const bytes = Uint8Array.from(raw, (c) => c.charCodeAt(0));
  if (encodeB64(bytes) !== text) throw malformed(`${what} is not canonical base64`);
  return bytes;
}

export const concat = (...parts) => {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) { out.set(p, at); at += p.length; }
  return out;
};
const hex = (bytes) => Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
const random = (n) => crypto.getRandomValues(new Uint8Array(n));
const text = (bytes, what) => {
  try { return fromUtf8.decode(bytes); } catch { throw malformed(`the ${what} plaintext is not UTF-8`); }
};

function splitParts(value, prefix, count) {
  const parts = value.split(":");
  if (parts[0] !== prefix || parts.length !== count + 1) throw malformed(`a ${prefix} text has ${count} parts`);
  return parts.slice(1);
}

export async function hkdf(material, info, length = 32) {
  const key = await subtle.importKey("raw", material, "HKDF", false, ["deriveBits"]);
  // No salt, as Python's HKDF(salt=None): HMAC pads an empty key with zeros alike.
  const bits = await subtle.deriveBits({ name: "HKDF", hash: "SHA-256", salt: new Uint8Array(), info }, key, length * 8);
  return new Uint8Array(bits);
}

const aesKey = (raw, usages = ["encrypt", "decrypt"]) => subtle.importKey("raw", raw, "AES-GCM", false, usages);
async function gcmEncrypt(key, nonce, data, aad) {
  return new Uint8Array(await subtle.encrypt({ name: "AES-GCM", iv: nonce, additionalData: aad }, key, data));
}
async function gcmDecrypt(key, nonce, data, aad) {
  return new Uint8Array(await subtle.decrypt({ name: "AES-GCM", iv: nonce, additionalData: aad }, key, data));
}

// -- room keys and v3 envelopes (§2, §3) ------------------------------------------------------------

const KEY_ID = /^[0-9a-f]{16}$/;
const versions = new Map(); // room key -> {keyId, aead}: derived once per key, as the Python lru_cache

export function newRoomKey() { return "k1:" + encodeB64(random(32)); }

async function roomKeyVersion(roomKey) {
  let found = versions.get(roomKey);
  if (found) return found;
  const [prefix, body] = [roomKey.slice(0, 3), roomKey.slice(3)];
  let material = null;
  try { material = Uint8Array.from(atob(body), (c) => c.charCodeAt(0)); } catch { /* checked below */ }
  if (prefix !== "k1:" || !material || material.length !== 32) throw new Error("not a k1: room key");
  found = {
    keyId: hex(await hkdf(material, utf8.encode("messenger e2e v3 key id"), 8)),
    aead: await aesKey(await hkdf(material, utf8.encode("messenger e2e v3 message key"))),
  };
  versions.set(roomKey, found);
  return found;
}

export async function roomKeyId(roomKey) {
  if (roomKey.startsWith("l1:")) {
    return hex(await hkdf(utf8.encode(roomKey), utf8.encode("messenger e2e legacy key id"), 8));
  }
  return (await roomKeyVersion(roomKey)).keyId;
}

export async function encryptV3(plaintext, roomKey) {
  const { keyId, aead } = await roomKeyVersion(roomKey);
  const header = "v3:" + keyId;
  const nonce = random(12);
  return `${header}:${encodeB64(nonce)}:${encodeB64(await gcmEncrypt(aead, nonce, utf8.encode(plaintext), utf8.encode(header)))}`;
}

// The key id an envelope names (null for v1/v2 or a malformed one).
export function envelopeKeyId(envelope) {
  const parts = envelope.split(":");
  return parts[0] === "v3" && parts.length === 4 && KEY_ID.test(parts[1]) ? parts[1] : null;
}

// `roomKeys`: the k1: keys held for the room; `legacyKey`: the old system's key string, or null.
export async function decryptEnvelope(envelope, roomKeys, legacyKey = null) {
  if (envelope.startsWith("v3:")) {
    const [keyId, nonceText, ciphertextText] = splitParts(envelope, "v3", 3);
    const nonce = decodeB64(nonceText, "v3 nonce");
    const ciphertext = decodeB64(ciphertextText, "v3 ciphertext");
    if (!KEY_ID.test(keyId) || nonce.length !== 12 || ciphertext.length < 16) {
      throw malformed("a v3 envelope has a 16-hex key id, a 12-byte nonce, a 16-byte tag");
    }
    let key = null;
    for (const roomKey of roomKeys) {
      const version = await roomKeyVersion(roomKey);
      if (version.keyId === keyId) key = version;
    }
    if (!key) throw wrongKey(`no room key with id ${keyId} at hand`);
    let plaintext;
    try { plaintext = await gcmDecrypt(key.aead, nonce, ciphertext, utf8.encode("v3:" + keyId)); } catch {
      throw tampered("the v3 envelope was changed");
    }
    return text(plaintext, "v3");
  }
  if (envelope.startsWith("v2:") || envelope.startsWith("U2FsdGVkX1")) {
    if (legacyKey === null) throw wrongKey("a v1/v2 envelope needs the room's legacy key");
    return envelope.startsWith("v2:") ? decryptV2(envelope, legacyKey) : decryptV1(envelope, legacyKey);
  }
  return envelope; // no known prefix: a plaintext message
}

// -- the old system's formats, read only (§2) ----------------------------------------------------------

async function cbcDecrypt(keyBytes, iv, ciphertext) {
  const key = await subtle.importKey("raw", keyBytes, "AES-CBC", false, ["decrypt"]);
  return new Uint8Array(await subtle.decrypt({ name: "AES-CBC", iv }, key, ciphertext)); // checks PKCS7
}
const wholeBlocks = (data) => data.length > 0 && data.length % 16 === 0;

async function decryptV2(envelope, roomKey) {
  const [salt, iv, ciphertext, mac] = splitParts(envelope, "v2", 4).map((part, i) =>
    decodeB64(part, `v2 ${["salt", "iv", "ciphertext", "mac"][i]}`));
  if (salt.length !== 16 || iv.length !== 16 || !wholeBlocks(ciphertext) || mac.length !== 32) {
    throw malformed("a v2 envelope has a 16-byte salt and iv, whole AES blocks, a 32-byte mac");
  }
  const base = await subtle.importKey("raw", utf8.encode(roomKey), "PBKDF2", false, ["deriveBits"]);
  const derived = new Uint8Array(await subtle.deriveBits(
    { name: "PBKDF2", hash: "SHA-256", salt, iterations: 10000 }, base, 512));
  const macKey = await subtle.importKey("raw", derived.slice(32), { name: "HMAC", hash: "SHA-256" }, false, ["verify"]);
  if (!await subtle.verify("HMAC", macKey, mac, concat(salt, iv, ciphertext))) { // constant time
    throw authFailed("the v2 envelope has another room key, or was changed");
  }
  let plaintext;
  try { plaintext = await cbcDecrypt(derived.slice(0, 32), iv, ciphertext); } catch {
    throw malformed("the v2 plaintext is not PKCS7-padded");
  }
  return text(plaintext, "v2");
}

async function decryptV1(envelope, roomKey) {
  const raw = decodeB64(envelope, "v1 envelope");
  const magic = utf8.encode("Salted__");
  const salt = raw.slice(8, 16), ciphertext = raw.slice(16);
  if (!magic.every((b, i) => raw[i] === b) || !wholeBlocks(ciphertext)) {
    throw malformed("a v1 envelope is Salted__, an 8-byte salt and whole AES blocks");
  }
  // OpenSSL's EVP_BytesToKey (MD5, one round): a 32-byte key, then a 16-byte IV.
  const pass = utf8.encode(roomKey);
  let derived = new Uint8Array(), block = new Uint8Array();
  while (derived.length < 48) { block = md5(concat(block, pass, salt)); derived = concat(derived, block); }
  try {
    return fromUtf8.decode(await cbcDecrypt(derived.slice(0, 32), derived.slice(32, 48), ciphertext));
  } catch { throw wrongKey("the v1 envelope does not decrypt with this room key"); }
}

// -- device keys and sealed packages (§4) -----------------------------------------------------------

export async function generateDeviceKeys() {
  const exchange = await subtle.generateKey({ name: "X25519" }, false, ["deriveBits"]);
  const signing = await subtle.generateKey({ name: "Ed25519" }, false, ["sign", "verify"]);
  return {
    exchange, signing,
    publicKey: encodeB64(new Uint8Array(await subtle.exportKey("raw", exchange.publicKey))),
    signingPublicKey: encodeB64(new Uint8Array(await subtle.exportKey("raw", signing.publicKey))),
  };
}

function exact(textValue, size, what) {
  const raw = decodeB64(textValue, what);
  if (raw.length !== size) throw malformed(`a ${what} is ${size} bytes`);
  return raw;
}
const x25519Public = (raw) => subtle.importKey("raw", raw, { name: "X25519" }, true, []);
const ed25519Public = (raw) => subtle.importKey("raw", raw, { name: "Ed25519" }, true, ["verify"]);
const SEAL_INFO = utf8.encode("messenger e2e s1 seal key");
const SEAL_CONTEXT = utf8.encode("messenger e2e s1 signature");

async function sharedSecret(privateKey, publicRaw) {
  let shared;
  try {
    shared = new Uint8Array(await subtle.deriveBits({ name: "X25519", public: await x25519Public(publicRaw) }, privateKey, 256));
  } catch { throw malformed("the sealed package's ephemeral key is unusable"); }
  if (shared.every((b) => b === 0)) throw malformed("the sealed package's ephemeral key is unusable"); // low order
  return shared;
}

// `payload` sealed to the device whose X25519 public key is `recipientKey` (base64), signed by `sender` (an Ed25519 private key).
export async function sealToDevice(payload, recipientKey, sender) {
  const recipient = exact(recipientKey, 32, "device public key");
  const ephemeral = await subtle.generateKey({ name: "X25519" }, false, ["deriveBits"]);
  const ephemeralRaw = new Uint8Array(await subtle.exportKey("raw", ephemeral.publicKey));
  const shared = await sharedSecret(ephemeral.privateKey, recipient);
  const key = await aesKey(await hkdf(shared, concat(SEAL_INFO, ephemeralRaw, recipient)), ["encrypt"]);
  const signature = new Uint8Array(await subtle.sign("Ed25519", sender, concat(SEAL_CONTEXT, ephemeralRaw, recipient, payload)));
  const nonce = random(12);
  const ciphertext = await gcmEncrypt(key, nonce, concat(Uint8Array.of(1), signature, payload), utf8.encode("s1"));
  return "s1:" + [ephemeralRaw, nonce, ciphertext].map(encodeB64).join(":");
}

// The payload of a package sealed to this device, signed by the device whose Ed25519 key is `senderSigningKey`.
export async function openSealed(sealed, device, senderSigningKey) {
  const [ephemeralRaw, nonce, ciphertext] = splitParts(sealed, "s1", 3).map((part) => decodeB64(part, "sealed part"));
  if (ephemeralRaw.length !== 32 || nonce.length !== 12 || ciphertext.length < 17) {
    throw malformed("a sealed package has a 32-byte key, a 12-byte nonce, a flag and a tag");
  }
  const recipient = decodeB64(device.publicKey, "device public key");
  const shared = await sharedSecret(device.exchange.privateKey, ephemeralRaw);
  const key = await aesKey(await hkdf(shared, concat(SEAL_INFO, ephemeralRaw, recipient)), ["decrypt"]);
  let inner;
  try { inner = await gcmDecrypt(key, nonce, ciphertext, utf8.encode("s1")); } catch {
    throw authFailed("the package is sealed to another device, or was changed");
  }
  if (inner[0] !== 1 || inner.length < 65) throw new EnvelopeError("E2E_UNVERIFIED_SENDER", "the package is not signed");
  const signature = inner.slice(1, 65), payload = inner.slice(65);
  const signer = await ed25519Public(exact(senderSigningKey, 32, "device signing key"));
  if (!await subtle.verify("Ed25519", signer, signature, concat(SEAL_CONTEXT, ephemeralRaw, recipient, payload))) {
    throw new EnvelopeError("E2E_UNVERIFIED_SENDER", "the package was not signed by the expected device");
  }
  return payload;
}

// -- identities, codes and the recovery key (§4a) ------------------------------------------------------

const DEVICE_CONTEXT = utf8.encode("messenger e2e device signature v1\0");
const CODE_CONTEXT = utf8.encode("messenger e2e verification code v1\0");
const RECOVERY_INFO = utf8.encode("messenger e2e recovery key v1");
// PKCS#8 of an Ed25519 private key is this header and the 32-byte seed (RFC 8410).
const ED25519_PKCS8 = Uint8Array.of(0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20);

const deviceStatement = (userId, deviceId, encryptionKey, signingKey) =>
  concat(DEVICE_CONTEXT, utf8.encode(JSON.stringify([userId, deviceId, encryptionKey, signingKey])));

// A new identity: the non-extractable private key, its public key, and its 'i1:' export for the recovery blob only.
export async function generateIdentity() {
  const pair = await subtle.generateKey({ name: "Ed25519" }, true, ["sign", "verify"]);
  const seed = new Uint8Array(await subtle.exportKey("pkcs8", pair.privateKey)).slice(16);
  return { ...(await loadIdentity("i1:" + encodeB64(seed))), exported: "i1:" + encodeB64(seed) };
}

export async function loadIdentity(exported) {
  const [seedText] = splitParts(exported, "i1", 1);
  const seed = exact(seedText, 32, "identity key");
  const privateKey = await subtle.importKey("pkcs8", concat(ED25519_PKCS8, seed), { name: "Ed25519" }, false, ["sign"]);
  // The public key from the private one: a JWK export of the extractable copy made just for it.
  const copy = await subtle.importKey("pkcs8", concat(ED25519_PKCS8, seed), { name: "Ed25519" }, true, ["sign"]);
  const jwk = await subtle.exportKey("jwk", copy);
  const publicKey = encodeB64(Uint8Array.from(atob(jwk.x.replace(/-/g, "+").replace(/_/g, "/")), (c) => c.charCodeAt(0)));
  return { privateKey, publicKey };
}

export async function signDevice(identity, userId, deviceId, encryptionKey, signingKey) {
  return encodeB64(new Uint8Array(await subtle.sign("Ed25519", identity.privateKey,
    deviceStatement(userId, deviceId, encryptionKey, signingKey))));
}

export async function deviceSignedBy(identityKey, signature, userId, deviceId, encryptionKey, signingKey) {
  if (!identityKey || !signature) return false;
  try {
    const key = await ed25519Public(exact(identityKey, 32, "identity public key"));
    return await subtle.verify("Ed25519", key, exact(signature, 64, "device signature"),
      deviceStatement(userId, deviceId, encryptionKey, signingKey));
  } catch { return false; }
}

function digits(digest, count) {
  const groups = [];
  for (let i = 0; i < count / 5; i++) {
    let value = 0;
    for (const b of digest.slice(i * 5, i * 5 + 5)) value = value * 256 + b;
    groups.push(String(value % 100000).padStart(5, "0"));
  }
  return groups.join(" ");
}

export async function verificationCode(identityKey, userId, deviceId, encryptionKey, signingKey) {
  const statement = JSON.stringify([identityKey, userId, deviceId, encryptionKey, signingKey]);
  return digits(new Uint8Array(await subtle.digest("SHA-256", concat(CODE_CONTEXT, utf8.encode(statement)))), 15);
}

const BASE32 = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
export function newRecoveryKey() {
  const bytes = random(20);
  let bits = 0, value = 0, out = "";
  for (const b of bytes) {
    value = (value << 8) | b; bits += 8;
    while (bits >= 5) { out += BASE32[(value >>> (bits - 5)) & 31]; bits -= 5; }
  }
  return out.match(/.{4}/g).join(" ");
}

export function normalizeRecoveryKey(typed) {
  const cleaned = typed.replace(/[\s-]/g, "").toUpperCase();
  if (!/^[A-Z2-7]{32}$/.test(cleaned)) throw malformed("a recovery key is 32 characters A-Z and 2-7");
  return cleaned;
}

async function recoveryAead(recoveryKey, purpose, userId) {
  const cleaned = normalizeRecoveryKey(recoveryKey);
  const raw = new Uint8Array(20);
  let bits = 0, value = 0, at = 0;
  for (const c of cleaned) {
    value = (value << 5) | BASE32.indexOf(c); bits += 5;
    if (bits >= 8) { raw[at++] = (value >>> (bits - 8)) & 255; bits -= 8; }
  }
  const aad = utf8.encode(`${purpose}:${userId}`);
  return { key: await aesKey(await hkdf(raw, concat(RECOVERY_INFO, Uint8Array.of(0), aad))), aad };
}

export async function sealWithRecoveryKey(payload, recoveryKey, purpose, userId) {
  const { key, aad } = await recoveryAead(recoveryKey, purpose, userId);
  const nonce = random(12);
  return "r1:" + [nonce, await gcmEncrypt(key, nonce, payload, aad)].map(encodeB64).join(":");
}

export async function openWithRecoveryKey(blob, recoveryKey, purpose, userId) {
  const [nonce, ciphertext] = splitParts(blob, "r1", 2).map((part) => decodeB64(part, "recovery blob"));
  if (nonce.length !== 12) throw malformed("a recovery blob's nonce is 12 bytes");
  const { key, aad } = await recoveryAead(recoveryKey, purpose, userId);
  try { return await gcmDecrypt(key, nonce, ciphertext, aad); } catch {
    throw authFailed("wrong recovery key, or the blob changed");
  }
}

// -- files (§6) -----------------------------------------------------------------------------------------

const FILE_MAGIC = utf8.encode("E2F1");

export async function encryptFile(data) {
  const raw = random(32);
  const nonce = random(12);
  const blob = concat(FILE_MAGIC, nonce, await gcmEncrypt(await aesKey(raw, ["encrypt"]), nonce, data, FILE_MAGIC));
  return { blob, fileKey: encodeB64(raw) };
}

export async function decryptFile(blob, fileKey) {
  const raw = decodeB64(fileKey, "file key");
  if (raw.length !== 32 || blob.length < 32 || !FILE_MAGIC.every((b, i) => blob[i] === b)) {
    throw malformed("a file blob is E2F1, a 12-byte nonce and a 16-byte tag; its key 32 bytes");
  }
  try { return await gcmDecrypt(await aesKey(raw, ["decrypt"]), blob.slice(4, 16), blob.slice(16), FILE_MAGIC); } catch {
    throw authFailed("wrong file key, or the file was changed");
  }
}

// The image type by magic number, as messenger.core.media.sniff_image: only these are previewed.
export function sniffImage(data) {
  const starts = (...bytes) => bytes.every((b, i) => data[i] === b);
  if (starts(0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a)) return "png";
  if (starts(0xff, 0xd8, 0xff)) return "jpeg";
  if (starts(0x47, 0x49, 0x46, 0x38, 0x37, 0x61) || starts(0x47, 0x49, 0x46, 0x38, 0x39, 0x61)) return "gif";
  if (starts(0x52, 0x49, 0x46, 0x46) && data[8] === 0x57 && data[9] === 0x45 && data[10] === 0x42 && data[11] === 0x50) return "webp";
  return null;
}
