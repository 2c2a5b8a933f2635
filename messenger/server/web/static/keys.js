// This browser as an E2E device (spec/e2e-keys.md): its own keys, the user's identity, pinned
// contacts, room keys received sealed or made here, and answers to other devices' key requests.
// The same rules as the desktop's E2EKeys (messenger/client/services/keys.py), in short.
import * as api from "./api.js";
import * as c from "./crypto.js";
import * as store from "./store.js";

const utf8 = new TextEncoder();
const fromUtf8 = new TextDecoder();
const RECOVERY_PURPOSE = "identity";
const RACE_CODES = new Set(["ROOM_KEY_VERSION_CONFLICT", "ROOM_KEY_TARGET_INVALID"]);
const CURRENT_KEY_WAIT_MS = 2000;
const ROTATE_AFTER_MESSAGES = 100;
const ROTATE_AFTER_MS = 7 * 86400 * 1000;
const OPENED_PER_ROOM = 1024;
// The failed checks of spec/e2e.md §2a that show as tampered (a malformed envelope shows as malformed).
const TAMPERED = new Set(["E2E_TAMPERED", "E2E_SIGNATURE_INVALID", "E2E_UNVERIFIED_SENDER", "E2E_MISATTRIBUTED",
  "E2E_REPLAYED", "E2E_REORDERED"]);

export class DeviceError extends Error {
  constructor(code, message) { super(message || code); this.code = code; }
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const keyPayload = (roomId, keyVersion, roomKey) =>
  utf8.encode(JSON.stringify({ room_id: roomId, key_version: keyVersion, room_key: roomKey }));

export class Device {
  constructor(user, deviceSessionId, onChange) {
    this.user = user;
    this.id = deviceSessionId;
    this.onChange = onChange; // (roomId) => void: keys of a room changed, read its messages again
    this.rooms = new Map(); // room id -> {keys: {keyId: roomKey}, legacy, versions: {n: keyId}, missing, current, rotation, ...}
    this.verified = false;
    this.recoveryKeyToShow = null;
    this.locks = new Map();
    this.settling = new Map(); // room id -> wake-ups of those waiting for its next key sync (keysSettled)
  }

  // -- start ------------------------------------------------------------------------------------

  async start() {
    const name = `device:${this.user.id}:${this.id}`;
    this.keys = await store.get(name);
    const made = !this.keys;
    if (made) {
      this.keys = await c.generateDeviceKeys();
      await store.put(name, this.keys);
    }
    try {
      await api.put("/api/keys/device", { encryption_key: this.keys.publicKey, signing_key: this.keys.signingPublicKey });
    } catch (error) {
      if (error.code === "DEVICE_KEYS_ALREADY_PUBLISHED") throw new DeviceError("E2E_DEVICE_KEYS_LOST");
      throw error;
    }
    this.pins = (await store.get(`pins:${this.user.id}`)) || { identities: {}, devices: {} };
    this.pins.changes ||= {}; // user id -> another identity shown since the pinned one: refused
    this.pins.former ||= {}; // user id -> {identity pinned before: when it was replaced (ms)}
    this.sequence = (await store.get(this.sequenceName())) || 0;
    const saved = (await store.get(`rooms:${this.user.id}`)) || {};
    for (const [roomId, room] of Object.entries(saved)) this.rooms.set(Number(roomId), { ...this.emptyRoom(), ...room });
    await this.startIdentity();
  }

  async startIdentity() {
    let held = await store.get(`identity:${this.user.id}`);
    let shown = await this.shownIdentity();
    const made = !held && !shown;
    if (made) {
      const identity = await c.generateIdentity();
      const recoveryKey = c.newRecoveryKey();
      const blob = await c.sealWithRecoveryKey(utf8.encode(identity.exported), recoveryKey, RECOVERY_PURPOSE, this.user.id);
      held = { privateKey: identity.privateKey, publicKey: identity.publicKey };
      try {
        await api.put("/api/keys/identity", { identity_key: held.publicKey, recovery_blob: blob });
        await store.put(`identity:${this.user.id}`, held);
        this.recoveryKeyToShow = recoveryKey;
      } catch (error) {
        if (error.code !== "IDENTITY_KEY_ALREADY_PUBLISHED") throw error;
        held = null; // another device made one at the same moment: that one counts
        shown = await this.shownIdentity();
      }
    }
    this.identity = held;
    const pinned = this.pins.identities[this.user.id] ||= held ? held.publicKey : shown;
    if (held && (!shown || shown === held.publicKey || made)) await this.signSelf(held);
    await this.savePins();
    this.verified = pinned && (!shown || shown === pinned) ? await this.refreshVerified() : false;
  }

  async shownIdentity() {
    try { return (await api.get("/api/keys/identity", { quiet: true })).identity_key; } catch (error) {
      if (error.code === "IDENTITY_KEY_NOT_FOUND") return null;
      throw error;
    }
  }

  async ownListing() {
    const { devices } = await api.get(`/api/keys/users/${this.user.id}`);
    return devices.find((d) => d.device_session_id === this.id);
  }

  async signSelf(identity) {
    const mine = await this.ownListing();
    if (mine && await c.deviceSignedBy(identity.publicKey, mine.identity_signature, this.user.id, this.id,
      this.keys.publicKey, this.keys.signingPublicKey)) return;
    const signature = await c.signDevice(identity, this.user.id, this.id, this.keys.publicKey, this.keys.signingPublicKey);
    await api.put(`/api/keys/devices/${this.id}/signature`, { signature });
  }

  async refreshVerified() {
    const mine = await this.ownListing();
    this.identitySignature = mine?.identity_signature; // named in every v5 envelope this device signs
    this.verified = !!mine && await c.deviceSignedBy(this.pins.identities[this.user.id], mine.identity_signature,
      this.user.id, this.id, mine.encryption_key, mine.signing_key);
    return this.verified;
  }

  // The code a person compares with the approving desktop (spec/e2e.md §4a).
  verificationCode() {
    return c.verificationCode(this.pins.identities[this.user.id], this.user.id, this.id, this.keys.publicKey,
      this.keys.signingPublicKey);
  }

  // This user's other devices that no pinned identity signed yet: the ones to approve.
  async pendingDevices() {
    const { devices } = await api.get(`/api/keys/users/${this.user.id}`);
    const pending = [];
    for (const d of devices) {
      if (d.device_session_id !== this.id && !await c.deviceSignedBy(this.pins.identities[this.user.id],
        d.identity_signature, this.user.id, d.device_session_id, d.encryption_key, d.signing_key)) pending.push(d);
    }
    return pending;
  }

  // Sign another device of this user with the identity held here, once the code the person read
  // on that device's screen matches the one its keys give here (else nothing is signed).
  async approve(deviceId, typedCode) {
    if (!this.identity) throw new DeviceError("E2E_IDENTITY_UNAVAILABLE");
    const device = (await this.pendingDevices()).find((d) => d.device_session_id === deviceId);
    if (!device) throw new DeviceError("DEVICE_SESSION_NOT_FOUND");
    const expected = await c.verificationCode(this.identity.publicKey, this.user.id, deviceId, device.encryption_key,
      device.signing_key);
    if (typedCode.replace(/[\s-]/g, "") !== expected.replace(/ /g, "")) throw new DeviceError("E2E_VERIFICATION_CODE_WRONG");
    this.pins.devices[deviceId] = [device.encryption_key, device.signing_key];
    await this.savePins();
    const signature = await c.signDevice(this.identity, this.user.id, deviceId, device.encryption_key, device.signing_key);
    await api.put(`/api/keys/devices/${deviceId}/signature`, { signature });
  }

  async recover(recoveryKey) {
    const shown = await api.get("/api/keys/identity");
    const exported = fromUtf8.decode(await c.openWithRecoveryKey(shown.recovery_blob, recoveryKey, RECOVERY_PURPOSE, this.user.id));
    const identity = await c.loadIdentity(exported);
    if (identity.publicKey !== shown.identity_key) throw new DeviceError("E2E_RECOVERY_KEY_WRONG");
    await store.put(`identity:${this.user.id}`, identity);
    this.identity = identity;
    this.pins.identities[this.user.id] = identity.publicKey;
    await this.savePins();
    await this.signSelf(identity);
    return this.refreshVerified();
  }

  // Signing out forgets every key of this user in this browser, the identity included (as the
  // desktop's logout): a shared computer keeps nothing that reads the user's messages.
  async forget() {
    this.forgotten = true; // work still in flight must not write them back
    for (const name of [`device:${this.user.id}:${this.id}`, `identity:${this.user.id}`, `pins:${this.user.id}`,
      `rooms:${this.user.id}`, this.sequenceName()]) await store.remove(name);
  }

  // -- trust ---------------------------------------------------------------------------------------

  async savePins() { if (!this.forgotten) await store.put(`pins:${this.user.id}`, this.pins); }

  // Whether keys may go to, or be taken from, this device: the keys first seen for it, and its
  // user's pinned identity signed it (a contact's identity is pinned the first time it is seen).
  async trusted(device) {
    const { device_session_id: id, user_id: userId, encryption_key: enc, signing_key: sign } = device;
    if (id === this.id) return enc === this.keys.publicKey && sign === this.keys.signingPublicKey;
    const known = this.pins.devices[id];
    if (known && (known[0] !== enc || known[1] !== sign)) return false;
    if (!known) this.pins.devices[id] = [enc, sign];
    this.noteIdentity(userId, device.identity_key);
    return c.deviceSignedBy(this.pins.identities[userId], device.identity_signature, userId, id, enc, sign);
  }

  // A contact's identity is pinned the first time it is seen; another one shown later is recorded
  // (the room warns of it, as the desktop's banner) and its devices stay refused.
  noteIdentity(userId, shown) {
    const pinned = this.pins.identities[userId];
    if (!shown || userId === this.user.id) return;
    if (!pinned) this.pins.identities[userId] = shown;
    else if (shown !== pinned) this.pins.changes[userId] = shown;
  }

  // The members of a room shown with another identity than the one pinned here.
  async identityChanges(roomId) {
    const { devices } = await api.get(`/api/rooms/${roomId}/devices`);
    for (const d of devices) this.noteIdentity(d.user_id, d.identity_key);
    await this.savePins();
    return [...new Set(devices.map((d) => d.user_id))].filter((id) => id in this.pins.changes);
  }

  // -- rooms ---------------------------------------------------------------------------------------

  emptyRoom() {
    return { keys: {}, legacy: null, versions: {}, missing: [], requested: [], current: 0, rotation: true,
      superseded: [], created: {}, sending: null, synced: false, opened: new Map(), sequences: new Map() };
  }

  room(roomId) {
    if (!this.rooms.has(roomId)) this.rooms.set(roomId, this.emptyRoom());
    return this.rooms.get(roomId);
  }

  async saveRooms() {
    if (this.forgotten) return;
    const saved = {};
    for (const [roomId, room] of this.rooms) {
      saved[roomId] = { keys: room.keys, legacy: room.legacy, superseded: room.superseded, sending: room.sending };
    }
    await store.put(`rooms:${this.user.id}`, saved);
  }

  // One thing at a time per room (syncs, key making): the server's numbering allows no interleaving.
  async locked(roomId, work) {
    const before = this.locks.get(roomId) || Promise.resolve();
    const mine = before.then(work, work);
    this.locks.set(roomId, mine.catch(() => {}));
    return mine;
  }

  async hold(room, roomKey) {
    const keyId = await c.roomKeyId(roomKey);
    if (roomKey.startsWith("l1:")) room.legacy = roomKey.slice(3);
    else room.keys[keyId] = roomKey;
    return keyId;
  }

  takeVersions(room, state) {
    for (const v of state.versions) {
      room.versions[v.key_version] = v.key_id;
      room.created[v.key_version] = v.created_at;
    }
    room.current = state.current_version;
    room.rotation = state.rotation_required;
    const current = room.versions[room.current];
    room.superseded = [...new Set([...room.superseded,
      ...Object.entries(room.versions).filter(([n]) => Number(n) < room.current).map(([, id]) => id)])];
    return current;
  }

  syncRoom(roomId) { return this.locked(roomId, () => this.syncRoomNow(roomId)); }

  async syncRoomNow(roomId) {
    const room = this.room(roomId);
    const state = await api.get(`/api/rooms/${roomId}/keys/state`);
    const mine = await api.get(`/api/rooms/${roomId}/keys/mine`);
    let added = false;
    for (const p of mine.packages) {
      if (p.key_id in room.keys) continue;
      const sender = { device_session_id: p.sender_device_session_id, user_id: p.sender_user_id,
        encryption_key: p.sender_encryption_key, signing_key: p.sender_signing_key,
        identity_key: p.sender_identity_key, identity_signature: p.sender_identity_signature };
      try {
        const payload = JSON.parse(fromUtf8.decode(await c.openSealed(p.sealed, this.keys, p.sender_signing_key)));
        if (payload.room_id !== roomId || payload.key_version !== p.key_version) throw new Error("another room or version");
        if (await c.roomKeyId(payload.room_key) !== p.key_id) throw new Error("the key does not match its id");
        // A legacy key opens only v1/v2 history, which the old server could read and write anyway:
        // taken from any device. Every other key only from trusted ones.
        if (!payload.room_key.startsWith("l1:") && !await this.trusted(sender)) continue;
        await this.hold(room, payload.room_key);
        added = true;
      } catch (error) {
        console.warn(`room ${roomId}: a package of version ${p.key_version} is refused (${error.code || error.message})`);
      }
    }
    this.takeVersions(room, state);
    const heldIds = new Set(Object.keys(room.keys));
    if (room.legacy !== null) heldIds.add(await c.roomKeyId("l1:" + room.legacy));
    const entitled = new Set([...mine.missing_versions, ...mine.packages.map((p) => p.key_version),
      ...state.versions.filter((v) => v.created_by_device_session_id === this.id).map((v) => v.key_version)]);
    room.missing = [...entitled].filter((v) => !heldIds.has(room.versions[v]));
    room.synced = true;
    const ask = room.missing.filter((v) => !room.requested.includes(v));
    if (ask.length) {
      try {
        await api.post(`/api/rooms/${roomId}/keys/requests`, { versions: ask });
        room.requested.push(...ask);
      } catch (error) { console.warn(`room ${roomId}: asking for keys was refused (${error.code})`); }
    }
    await this.savePins();
    if (added) { await this.saveRooms(); this.onChange(roomId); }
    this.settle(roomId);
  }

  // Resolves true when a key sync of `roomId` ends or its keys change here, false after `ms`.
  keysSettled(roomId, ms) {
    return new Promise((resolve) => {
      const timer = setTimeout(() => resolve(false), ms);
      if (!this.settling.has(roomId)) this.settling.set(roomId, []);
      this.settling.get(roomId).push(() => { clearTimeout(timer); resolve(true); });
    });
  }

  settle(roomId) {
    const waiting = this.settling.get(roomId) || [];
    this.settling.delete(roomId);
    for (const wake of waiting) wake();
  }

  // -- reading ---------------------------------------------------------------------------------------

  // What an encrypted content reads as: {state, text, legacy, signed}; never throws. `message` is
  // what the server says about it (as it serializes a message; null for a preview): a v5
  // envelope is checked against each field it gives.
  async read(roomId, content, message = null) {
    const room = this.room(roomId);
    try {
      if (content.startsWith("v5:")) return { state: "readable", text: await this.openSigned(roomId, content, message), signed: true };
      const text = await c.decryptEnvelope(content, Object.values(room.keys), room.legacy);
      return { state: "readable", text, legacy: !content.startsWith("v3:"), signed: false };
    } catch (error) {
      // Not an envelope's fault (a look-up that failed): read again later.
      const code = error instanceof c.EnvelopeError ? error.code : "E2E_WAITING_FOR_KEYS";
      if (TAMPERED.has(code)) return { state: "tampered", code };
      if (code === "E2E_AUTH_FAILED") return { state: "cannot_decrypt", code };
      if (code === "E2E_WAITING_FOR_KEYS") return { state: "waiting_for_keys", code };
      if (code === "E2E_WRONG_KEY") {
        const keyId = c.envelopeKeyId(content);
        const version = Object.entries(room.versions).find(([, id]) => id === keyId)?.[0];
        // A version still on its way, or one this device has not heard of yet: its key may come.
        const waiting = keyId ? (version === undefined || room.missing.includes(Number(version)))
          : room.legacy === null && room.missing.length > 0;
        if (!room.synced || waiting) return { state: "waiting_for_keys", code: "E2E_WAITING_FOR_KEYS" };
        return { state: "cannot_decrypt", code };
      }
      return { state: "malformed", code };
    }
  }

  // The text of a v5 envelope after every check of spec/e2e.md §2a, in its order. Steps 1-4
  // (two Ed25519 verifications) are done once per envelope and kept; 5 and 6 at every read.
  async openSigned(roomId, envelope, message) {
    const room = this.room(roomId);
    let opened = room.opened.get(envelope);
    if (!opened) {
      try {
        const signed = await c.readV5(envelope, roomId);
        const believedUntil = await this.senderBelievedUntil(roomId, signed.sender);
        if (believedUntil === null) {
          throw new c.EnvelopeError("E2E_UNVERIFIED_SENDER", "the sender's device is not signed by its user's pinned identity");
        }
        const body = await c.openV5(signed, Object.values(room.keys));
        if (body.seq > believedUntil) {
          throw new c.EnvelopeError("E2E_UNVERIFIED_SENDER", "the sender's device is signed by an identity replaced before this message");
        }
        opened = { sender: signed.sender, body };
      } catch (error) {
        if (!(error instanceof c.EnvelopeError) || error.code === "E2E_WRONG_KEY") throw error; // may change: nothing kept
        opened = { error };
      }
      if (room.opened.size >= OPENED_PER_ROOM) room.opened.delete(room.opened.keys().next().value);
      room.opened.set(envelope, opened);
    }
    if (opened.error) throw opened.error;
    const { sender, body } = opened;
    if (message) {
      c.checkPlace(sender, body, message);
      if (body.edit_of === null && message.id !== undefined) {
        if (!room.sequences.has(sender.deviceId)) room.sequences.set(sender.deviceId, new c.SequenceLog());
        room.sequences.get(sender.deviceId).place(message.id, body.seq);
      }
    }
    return body.text;
  }

  // Whether the sender's user's pinned identity signed its device. A sender first seen in a
  // message has its identity pinned from the server's answer (trust on first use, as a contact
  // seen in a device list); a failure looks again, to record an identity that changed.
  // Up to which sequence number the sender's device speaks for its user (spec/e2e.md §4a): any
  // when the pinned identity signed it, up to when an identity pinned here before was replaced
  // when that one did (what verified then stays verified, as in Signal), else null.
  async senderBelievedUntil(roomId, sender) {
    const { userId, deviceId, encryptionKey, signingKey, identitySignature } = sender;
    const signedBy = (identity) => c.deviceSignedBy(identity, identitySignature, userId, deviceId, encryptionKey, signingKey);
    if (this.pins.identities[userId] && await signedBy(this.pins.identities[userId])) return Number.MAX_SAFE_INTEGER;
    const { identity_key: shown } = await api.get(`/api/keys/users/${userId}`);
    const changed = !!this.pins.identities[userId] && shown !== this.pins.identities[userId];
    this.noteIdentity(userId, shown);
    await this.savePins();
    if (changed && this.onIdentityChange) this.onIdentityChange(roomId);
    if (await signedBy(this.pins.identities[userId])) return Number.MAX_SAFE_INTEGER;
    for (const [identity, until] of Object.entries(this.pins.former[userId] || {})) {
      if (await signedBy(identity)) return until;
    }
    return null;
  }

  // The safety number of this user and `userId` with the identity shown since the pinned one:
  // the one to compare before trusting it.
  safetyNumber(userId) {
    return c.safetyNumber(this.user.id, this.pins.identities[this.user.id], userId,
      this.pins.changes[userId] || this.pins.identities[userId]);
  }

  // After the person compared the safety number and accepted a contact's new identity: pinned,
  // and the messages refused under the old one read again.
  trustIdentity(userId) {
    const shown = this.pins.changes[userId];
    if (!shown) return Promise.resolve();
    const replaced = this.pins.identities[userId];
    const former = (this.pins.former[userId] ||= {});
    if (replaced && replaced !== shown) former[replaced] = Date.now(); // when it stopped being trusted
    delete former[shown];
    this.pins.identities[userId] = shown;
    delete this.pins.changes[userId];
    for (const room of this.rooms.values()) room.opened.clear();
    return this.savePins();
  }

  // -- sending ---------------------------------------------------------------------------------------

  sequenceName() { return `sequence:${this.user.id}:${this.id}`; }

  // A v5 envelope of `plaintext`, signed by this device with its next sequence number, naming its
  // type and its reply or edit target (spec/e2e.md §2a).
  async encrypt(roomId, plaintext, { type = "text", replyTo = null, editOf = null } = {}) {
    const roomKey = await this.sendingKey(roomId);
    // Rising after a cleared store too: the clock is the floor. Kept before the envelope leaves.
    const seq = this.sequence = Math.max(this.sequence + 1, Date.now());
    if (!this.forgotten) await store.put(this.sequenceName(), seq);
    const sender = { userId: this.user.id, deviceId: this.id, encryptionKey: this.keys.publicKey,
      signingKey: this.keys.signingPublicKey, identitySignature: this.identitySignature };
    const envelope = await c.sealV5(roomKey, roomId, sender, this.keys.signing.privateKey,
      { seq, type, reply_to: replyTo, edit_of: editOf, text: plaintext });
    const room = this.room(roomId);
    if (room.sending) room.sending.count += 1;
    await this.saveRooms();
    return envelope;
  }

  async sealable(roomId) {
    const { devices } = await api.get(`/api/rooms/${roomId}/devices`);
    const out = [];
    for (const d of devices) if (d.device_session_id !== this.id && await this.trusted(d)) out.push(d);
    return out;
  }

  sendingKey(roomId) {
    if (!this.verified) return Promise.reject(new DeviceError("E2E_DEVICE_UNVERIFIED"));
    return this.locked(roomId, async () => {
      let waited = 0;
      for (let attempt = 0; attempt < 20; attempt++) {
        await this.syncRoomNow(roomId);
        const room = this.room(roomId);
        const currentId = room.versions[room.current];
        const current = room.keys[currentId];
        if (current && !room.rotation) {
          const devices = await this.sealable(roomId);
          if (!this.mustRotate(room, currentId, devices)) return current;
        } else if (!room.rotation && room.current > 0 && waited < CURRENT_KEY_WAIT_MS) {
          await sleep(500); // the current key is on its way to this device
          waited += 500;
          continue;
        }
        const made = await this.makeVersion(roomId, room.current + 1);
        if (made) return made;
      }
      throw new DeviceError("E2E_ROOM_KEY_UNAVAILABLE");
    });
  }

  // The server's flag is not trusted alone (spec/e2e-keys.md §6).
  mustRotate(room, keyId, devices) {
    const listed = devices.map((d) => d.device_session_id);
    if (room.superseded.includes(keyId)) return true;
    const created = room.created[room.current];
    if (created && Date.now() - Date.parse(created) > ROTATE_AFTER_MS) return true;
    if (!room.sending || room.sending.keyId !== keyId) {
      room.sending = { keyId, count: 0, devices: listed };
      return false;
    }
    if (room.sending.count >= ROTATE_AFTER_MESSAGES) return true;
    return room.sending.devices.some((id) => !listed.includes(id));
  }

  async makeVersion(roomId, version) {
    const roomKey = c.newRoomKey();
    const keyId = await c.roomKeyId(roomKey);
    const devices = await this.sealable(roomId);
    const packages = [];
    for (const d of devices) {
      packages.push({ device_session_id: d.device_session_id,
        sealed: await c.sealToDevice(keyPayload(roomId, version, roomKey), d.encryption_key, this.keys.signing.privateKey) });
    }
    const room = this.room(roomId);
    room.keys[keyId] = roomKey; // kept before posting: had the server taken it, messages under it stay readable
    await this.saveRooms();
    try {
      await api.post(`/api/rooms/${roomId}/keys`, { key_version: version, key_id: keyId, packages });
    } catch (error) {
      delete room.keys[keyId];
      await this.saveRooms();
      if (RACE_CODES.has(error.code)) return null;
      throw error;
    }
    room.versions[version] = keyId;
    room.current = version;
    room.rotation = false;
    room.sending = { keyId, count: 0, devices: devices.map((d) => d.device_session_id) };
    await this.saveRooms();
    this.onChange(roomId);
    this.settle(roomId);
    return roomKey;
  }

  // -- answering other devices (spec/e2e-keys.md §8, step 4) ------------------------------------------

  considerRequest(roomId, request) {
    if (request.device_session_id === this.id || !this.verified) return;
    setTimeout(() => this.answer(roomId, request.request_id).catch((error) =>
      console.warn(`room ${roomId}: answering a key request failed (${error.code || error.message})`)), Math.random() * 3000);
  }

  async answer(roomId, requestId) {
    const { requests } = await api.get(`/api/rooms/${roomId}/keys/requests`);
    const request = requests.find((r) => r.request_id === requestId);
    if (!request || !await this.trusted(request)) return;
    const room = this.room(roomId);
    if (!room.synced) await this.syncRoom(roomId);
    for (const version of request.versions) {
      const roomKey = room.keys[room.versions[version]];
      if (!roomKey) continue;
      const sealed = await c.sealToDevice(keyPayload(roomId, version, roomKey), request.encryption_key, this.keys.signing.privateKey);
      await api.post(`/api/rooms/${roomId}/keys`, { key_version: version, key_id: room.versions[version],
        packages: [{ device_session_id: request.device_session_id, sealed }] }).catch(() => {});
    }
  }

  async answerOpenRequests(roomId) {
    const { requests } = await api.get(`/api/rooms/${roomId}/keys/requests`);
    for (const request of requests) this.considerRequest(roomId, request);
  }

  // -- files -----------------------------------------------------------------------------------------

  async sealFile(roomId, data, name, mime, type) {
    const { blob, fileKey } = await c.encryptFile(data);
    const content = await this.encrypt(roomId, JSON.stringify({ name, size: data.length, mime, file_key: fileKey }), { type });
    return { content, blob };
  }
}
