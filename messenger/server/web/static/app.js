// The browser client of hybrid mode: signing in and out and the live connection. Its views are
// rooms.js, messages.js, composer.js and dialogs.js; they only show state, I/O lives in api.js,
// socket.js and keys.js. Everything a user writes is sealed on this device before it leaves.
import * as api from "./api.js";
import { wireRoomView } from "./composer.js";
import { $, element, setState, state } from "./dom.js";
import { locale, setLocale, t } from "./i18n.js";
import { Device } from "./keys.js";
import { newMessage, renderReadCounts, updateMessage } from "./messages.js";
import { keysChanged, loadNotices, loadPolls, loadRooms, openRoom, renderPresence, showIdentityWarning } from "./rooms.js";
import { Socket } from "./socket.js";

// -- signing in and out -------------------------------------------------------------------------------

async function boot() {
  setLocale(locale);
  $("lang-toggle").textContent = t("lang");
  $("lang-toggle").addEventListener("click", () => {
    setLocale(locale === "ko-KR" ? "en-US" : "ko-KR");
    $("lang-toggle").textContent = t("lang");
  });
  $("sign-in-form").addEventListener("submit", signIn);
  $("sign-out").addEventListener("click", signOut);
  $("recovery-form").addEventListener("submit", useRecoveryKey);
  $("approve-form").addEventListener("submit", approveDevice);
  api.sessionEnded.add((error) => endSession(error.message));
  wireRoomView();
  const health = await api.get("/api/system/health", { quiet: true });
  window.uploadLimit = health.max_upload_bytes;
  try {
    const me = await api.get("/api/me", { quiet: true });
    await signedIn(me.user, me.csrf_token, me.device_session_id);
  } catch (error) {
    showSignIn(error.code === "AUTH_TOKEN_INVALID_OR_EXPIRED" ? t("session_expired") : "");
  }
}

function showSignIn(reason) {
  $("main").hidden = true;
  $("sign-in").hidden = false;
  $("sign-in-reason").textContent = reason || "";
  $("sign-in-form").password.value = "";
}

async function signIn(event) {
  event.preventDefault();
  const form = event.target;
  $("sign-in-error").textContent = "";
  try {
    const answer = await api.call("POST", "/api/login", {
      username: form.username.value, password: form.password.value, remember: form.remember.checked,
    }, { quiet: true });
    await signedIn(answer.user, answer.csrf_token, answer.device_session_id);
  } catch (error) {
    $("sign-in-error").textContent = error.message;
  }
}

async function signOut() {
  // Keys first: the server's sign-out ends this page's session (and its socket) at once.
  await state.device.forget();
  await api.post("/api/logout").catch(() => {});
  endSession(t("ended_logout"));
}

function endSession(reason) {
  if (!state) return showSignIn(reason);
  state.socket.close();
  setState(null);
  $("rooms").replaceChildren();
  $("message-list").replaceChildren();
  showSignIn(reason);
}

async function signedIn(user, csrf, deviceSessionId) {
  api.setCsrf(csrf);
  setState({
    me: user, rooms: new Map(), roomId: null, messages: new Map(), readables: new Map(), hasMore: false,
    members: new Map(), online: new Set(), typing: new Map(), replyTo: null, editing: null, typingSent: 0,
  });
  const device = new Device(user, deviceSessionId, (roomId) => keysChanged(roomId));
  device.onIdentityChange = (roomId) => { if (state?.roomId === roomId) showIdentityWarning(roomId); };
  state.device = device;
  await device.start();
  $("sign-in").hidden = true;
  $("main").hidden = false;
  $("me-name").textContent = user.nickname;
  if (device.recoveryKeyToShow) {
    $("recovery-key").textContent = device.recoveryKeyToShow;
    device.recoveryKeyToShow = null;
    $("recovery-dialog").showModal();
  }
  await showDeviceBanner();
  await showApproveBanner();
  state.online = new Set((await api.get("/api/users/online")).users.map((u) => u.id));
  connectSocket();
  await loadRooms();
  if ("Notification" in window && Notification.permission === "default") Notification.requestPermission();
}

async function showDeviceBanner() {
  $("device-banner").hidden = state.device.verified;
  if (!state.device.verified) $("device-banner-text").textContent = t("unverified", { code: await state.device.verificationCode() });
}

// A new device of this user waits: this browser, holding the identity, approves it by its code.
async function showApproveBanner() {
  const pending = state.device.identity ? await state.device.pendingDevices() : [];
  $("approve-banner").hidden = !pending.length;
  $("approve-device").replaceChildren(...pending.map((d) =>
    element("option", { value: d.device_session_id, textContent: `${d.device_name} #${d.device_session_id}` })));
}

async function approveDevice(event) {
  event.preventDefault();
  $("approve-error").textContent = "";
  try {
    await state.device.approve(Number($("approve-device").value), $("approve-code").value);
    $("approve-code").value = "";
    await showApproveBanner();
  } catch (error) {
    $("approve-error").textContent = t(error.code === "E2E_VERIFICATION_CODE_WRONG" ? "code_wrong" : "failed");
  }
}

// An unapproved browser approves itself with the user's recovery key (spec/e2e.md §4a).
async function useRecoveryKey(event) {
  event.preventDefault();
  $("recovery-error").textContent = "";
  try {
    await state.device.recover($("recovery-input").value);
    $("recovery-input").value = "";
    await showDeviceBanner();
    for (const roomId of state.rooms.keys()) state.device.syncRoom(roomId).catch(() => {});
  } catch (error) {
    $("recovery-error").textContent = t(error.code === "E2E_AUTH_FAILED" || error.code === "E2E_RECOVERY_KEY_WRONG"
      ? "recovery_key_wrong" : "recovery_key_malformed");
  }
}

// -- the live connection ----------------------------------------------------------------------------------

function connectSocket() {
  const socket = new Socket({ lang: locale });
  state.socket = socket;
  let first = true;
  socket.on("connect", () => {
    if (!first) { loadRooms(); if (state?.roomId) openRoom(state.roomId); } // caught up by reading again
    first = false;
  });
  socket.on("connect_error", (error) => endSession(error.message_localized || error.message));
  socket.on("session_revoked", (data) => endSession(t(`ended_${data.reason}`) === `ended_${data.reason}`
    ? t("session_expired") : t(`ended_${data.reason}`)));
  socket.on("new_message", newMessage);
  socket.on("message_edited", (data) => updateMessage(data.message_id, { content: data.content, encrypted: data.encrypted, edited_at: data.edited_at || new Date().toISOString() }));
  socket.on("message_deleted", (data) => updateMessage(data.message_id, { deleted: true, content: "" }));
  socket.on("reaction_updated", (data) => updateMessage(data.message_id, {
    reactions: data.reactions.map((r) => ({ ...r, me: r.user_ids.includes(state.me.id) })) }));
  socket.on("read_updated", (data) => {
    const member = state.members.get(data.user_id);
    if (data.room_id === state.roomId && member) {
      member.last_read_message_id = Math.max(member.last_read_message_id || 0, data.message_id);
      renderReadCounts();
    }
  });
  socket.on("user_typing", (data) => {
    if (data.room_id !== state.roomId || data.user_id === state.me.id) return;
    if (data.is_typing) state.typing.set(data.user_id, data.nickname); else state.typing.delete(data.user_id);
    $("typing").textContent = state.typing.size ? `${[...state.typing.values()].join(", ")} ${t("typing")}` : "";
  });
  socket.on("user_status", (data) => {
    if (data.status === "online") state.online.add(data.user_id); else state.online.delete(data.user_id);
    renderPresence();
  });
  for (const event of ["room_updated", "room_members_updated", "room_name_updated"]) socket.on(event, () => loadRooms());
  socket.on("pin_updated", (data) => { if (data.room_id === state.roomId) loadNotices(); });
  for (const event of ["poll_created", "poll_updated"]) socket.on(event, (data) => { if (data.room_id === state.roomId) loadPolls(); });
  socket.on("room_key_available", (data) => state.device.syncRoom(data.room_id).catch(() => {}));
  socket.on("room_key_requested", (data) => state.device.considerRequest(data.room_id, data));
  socket.on("device_keys_published", () => showApproveBanner());
  socket.on("device_signed", async () => {
    await state.device.refreshVerified();
    showDeviceBanner();
    showApproveBanner();
    // A device of this user was approved: its open key requests count now (spec/e2e-keys.md §8).
    for (const roomId of state.rooms.keys()) state.device.answerOpenRequests(roomId).catch(() => {});
  });
  socket.connect();
}

// One place where a failed action shows: a status line under the composer (and the console).
window.addEventListener("unhandledrejection", (event) => {
  const error = event.reason || {};
  $("upload-status").textContent = `${t("failed")}: ${error.message || error}${error.code ? ` (${error.code})` : ""}`;
});

boot();
