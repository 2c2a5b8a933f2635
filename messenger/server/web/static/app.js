// The browser client of hybrid mode. Widgets here only show state; I/O lives in api.js,
// socket.js and keys.js. Everything a user writes is sealed on this device before it leaves.
import * as api from "./api.js";
import { sniffImage } from "./crypto.js";
import { locale, setLocale, t } from "./i18n.js";
import { Device } from "./keys.js";
import { Socket } from "./socket.js";

const $ = (id) => document.getElementById(id);
const PAGE = 50;
const TYPING_IDLE_MS = 4000;

let state = null;

function element(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(props)) {
    if (name === "dataset") Object.assign(node.dataset, value);
    else if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
    else node[name] = value;
  }
  for (const child of children) if (child !== null && child !== undefined) node.append(child);
  return node;
}

function formatSize(bytes) {
  if (bytes >= 1 << 20) return `${(bytes / (1 << 20)).toFixed(1)} MB`;
  if (bytes >= 1024) return `${Math.round(bytes / 1024)} KB`;
  return `${bytes} B`;
}

const time = (iso) => new Date(iso).toLocaleTimeString(locale, { hour: "2-digit", minute: "2-digit" });

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
  state = null;
  $("rooms").replaceChildren();
  $("message-list").replaceChildren();
  showSignIn(reason);
}

async function signedIn(user, csrf, deviceSessionId) {
  api.setCsrf(csrf);
  state = {
    me: user, rooms: new Map(), roomId: null, messages: new Map(), readables: new Map(), hasMore: false,
    members: new Map(), online: new Set(), typing: new Map(), replyTo: null, editing: null, typingSent: 0,
  };
  const device = new Device(user, deviceSessionId, (roomId) => keysChanged(roomId));
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

async function keysChanged(roomId) {
  if (!state) return;
  if (roomId === state.roomId) {
    state.readables.clear();
    for (const message of state.messages.values()) await renderMessage(message);
    loadNotices();
  }
  renderRooms();
}

// -- rooms ------------------------------------------------------------------------------------------------

function roomName(room) {
  return room.type === "direct" && room.partner ? room.partner.nickname : room.name || `#${room.id}`;
}

async function loadRooms() {
  const { rooms } = await api.get("/api/rooms");
  state.rooms = new Map(rooms.map((room) => [room.id, room]));
  await renderRooms();
  for (const room of rooms) {
    state.device.syncRoom(room.id).then(() => state.device.answerOpenRequests(room.id)).catch(() => {});
  }
}

async function preview(room) {
  const last = room.last_message;
  if (!last) return "";
  if (last.deleted) return t("deleted");
  const readable = await readContent(room.id, last.content, last.encrypted, last.message_type);
  return readable.file ? `📎 ${readable.file.name}` : readable.text ?? t(readable.state);
}

async function renderRooms() {
  if (!state) return;
  const rooms = [...state.rooms.values()].sort((a, b) =>
    (b.pinned - a.pinned) || String(b.last_message_at || b.created_at).localeCompare(String(a.last_message_at || a.created_at)));
  const items = [];
  for (const room of rooms) {
    items.push(element("li", { className: room.id === state.roomId ? "active" : "", dataset: { roomId: room.id },
      onclick: () => openRoom(room.id) },
    element("span", { className: "room-name", textContent: roomName(room) }),
    room.unread_count ? element("span", { className: "unread", textContent: room.unread_count }) : element("span", { className: "flags", textContent: `${room.pinned ? "📌" : ""}${room.muted ? "🔕" : ""}` }),
    element("span", { className: "room-preview", textContent: await preview(room) }),
    element("span", { className: "flags", textContent: room.unread_count ? `${room.pinned ? "📌" : ""}${room.muted ? "🔕" : ""}` : "" })));
  }
  $("rooms").replaceChildren(...items);
}

async function openRoom(roomId) {
  state.roomId = roomId;
  state.messages.clear();
  state.readables.clear();
  state.typing.clear();
  state.replyTo = state.editing = null;
  $("reply-bar").hidden = true;
  $("typing").textContent = "";
  $("message-list").replaceChildren();
  $("no-room").hidden = true;
  $("room-view").hidden = false;
  const room = state.rooms.get(roomId);
  $("room-title").textContent = room ? roomName(room) : "";
  renderRoomFlags();
  await state.device.syncRoom(roomId).catch(() => {});
  state.online = new Set((await api.get("/api/users/online")).users.map((u) => u.id));
  const page = await api.get(`/api/rooms/${roomId}/messages?limit=${PAGE}&include_members=1`);
  if (state.roomId !== roomId) return;
  state.members = new Map(page.members.map((m) => [m.id, m]));
  state.hasMore = page.has_more;
  $("older").hidden = !page.has_more;
  for (const message of page.messages) await addMessage(message);
  scrollToEnd();
  renderPresence();
  loadNotices();
  loadPolls();
  markRead();
  if (room) { room.unread_count = 0; renderRooms(); }
}

async function loadOlder() {
  const first = Math.min(...state.messages.keys());
  const roomId = state.roomId;
  const page = await api.get(`/api/rooms/${roomId}/messages?limit=${PAGE}&before_id=${first}`);
  if (state.roomId !== roomId) return;
  state.hasMore = page.has_more;
  $("older").hidden = !page.has_more;
  for (const message of page.messages.reverse()) await addMessage(message, true);
}

function renderRoomFlags() {
  const room = state.rooms.get(state.roomId);
  if (!room) return;
  $("room-pin").textContent = room.pinned ? t("unpin") : t("pin");
  $("room-mute").textContent = room.muted ? t("unmute") : t("mute");
}

function renderPresence() {
  if (!state?.roomId) return;
  const others = [...state.members.keys()].filter((id) => id !== state.me.id && state.online.has(id));
  $("room-presence").textContent = others.length ? `● ${others.map((id) => state.members.get(id).nickname).join(", ")} ${t("online")}` : "";
}

async function loadNotices() {
  const roomId = state.roomId;
  const { pins } = await api.get(`/api/rooms/${roomId}/pins`);
  const shown = [];
  for (const pin of pins) {
    let text = pin.content;
    if (pin.message) {
      const readable = await readContent(roomId, pin.message.content, pin.message.encrypted, pin.message.message_type);
      text = readable.file ? readable.file.name : readable.text ?? t(readable.state);
    }
    shown.push(element("p", { className: "notice" }, `📢 ${t("notice_title")}: `, text));
  }
  if (state?.roomId === roomId) $("notices").replaceChildren(...shown);
}

async function loadPolls() {
  const roomId = state.roomId;
  const { polls } = await api.get(`/api/rooms/${roomId}/polls`);
  if (state?.roomId !== roomId) return;
  $("polls").replaceChildren(...polls.map((poll) => element("div", { className: "poll", dataset: { pollId: poll.id } },
    element("strong", { textContent: poll.question }),
    ...poll.options.map((option) => element("button", {
      className: (poll.my_votes || []).includes(option.id) ? "chosen" : "", disabled: poll.closed,
      textContent: `${option.text} — ${option.vote_count}`,
      onclick: () => vote(poll, option.id),
    })),
    element("small", { textContent: `${poll.total_voters} ${t("voters")}${poll.closed ? ` · ${t("closed")}` : ""}` }))));
}

async function vote(poll, optionId) {
  const mine = new Set(poll.my_votes || []);
  if (poll.multiple_choice) { if (mine.has(optionId)) mine.delete(optionId); else mine.add(optionId); }
  const chosen = poll.multiple_choice ? [...mine] : [optionId];
  await api.post(`/api/polls/${poll.id}/vote`, { option_ids: chosen });
  loadPolls();
}

// -- reading messages -------------------------------------------------------------------------------------

const ENVELOPE = /^(v3:|v2:|U2FsdGVkX1)/;

// What a content reads as here: {state, text?, file?, legacy?}. Never throws.
async function readContent(roomId, content, encrypted, type) {
  const isFile = type === "file" || type === "image";
  if (!encrypted || !ENVELOPE.test(content)) {
    return { state: "not_encrypted", text: isFile ? null : content, file: null };
  }
  const readable = await state.device.read(roomId, content);
  if (readable.state !== "readable" || !isFile) return readable;
  try {
    const described = JSON.parse(readable.text);
    const name = String(described.name).split(/[\\/]/).pop();
    return { ...readable, text: null, file: { name, size: Number(described.size), mime: String(described.mime), key: String(described.file_key) } };
  } catch { return { state: "malformed", code: "E2E_MALFORMED" }; }
}

async function readMessage(message) {
  const cacheKey = `${message.id}:${message.content}`;
  if (!state.readables.has(cacheKey)) {
    state.readables.set(cacheKey, message.deleted ? { state: "deleted" }
      : await readContent(message.room_id, message.content, message.encrypted, message.message_type));
  }
  return state.readables.get(cacheKey);
}

function withMentions(text) {
  const names = [...state.members.values()].flatMap((m) => [m.nickname, m.username]).filter(Boolean);
  if (!names.length) return [text];
  const escaped = names.map((n) => n.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")).sort((a, b) => b.length - a.length);
  return text.split(new RegExp(`(@(?:${escaped.join("|")}))`, "g")).map((part, i) =>
    i % 2 ? element("span", { className: "mention", textContent: part }) : part);
}

function mentionsMe(text) {
  return !!text && (text.includes(`@${state.me.nickname}`) || text.includes(`@${state.me.username}`));
}

function readCount(message) {
  let count = 0;
  for (const member of state.members.values()) {
    if (member.id !== message.sender_id && (member.last_read_message_id || 0) >= message.id) count++;
  }
  return count;
}

async function addMessage(message, atTop = false) {
  state.messages.set(message.id, message);
  const node = await renderMessage(message);
  const list = $("message-list");
  if (atTop) list.prepend(node); else list.append(node);
}

async function renderMessage(message) {
  const readable = await readMessage(message);
  const mine = message.sender_id === state.me.id;
  const classes = ["message", mine ? "mine" : "", readable.state].filter(Boolean);
  let body;
  if (readable.state === "deleted") body = element("div", { className: "body" }, t("deleted"));
  else if (readable.file) body = fileBody(message, readable.file);
  else if (readable.text !== null && readable.text !== undefined && ["readable", "not_encrypted"].includes(readable.state)) {
    body = element("div", { className: "body" }, ...withMentions(readable.text));
  } else body = element("div", { className: "body" }, t(readable.state));
  let reply = null;
  if (message.reply_preview) {
    const preview = message.reply_preview;
    const replied = preview.deleted ? { text: t("deleted") }
      : await readContent(message.room_id, preview.content, preview.encrypted, preview.message_type);
    reply = element("div", { className: "reply" }, `↪ ${preview.sender_name || ""}: `,
      replied.file ? replied.file.name : replied.text ?? t(replied.state));
  }
  const node = element("li", { className: classes.join(" "), dataset: { id: message.id } },
    element("div", { className: "meta" },
      element("span", { className: "sender", textContent: mine ? t("you") : message.sender_name || "" }),
      element("span", { textContent: time(message.created_at) }),
      message.edited_at && !message.deleted ? element("span", { className: "edited", textContent: `(${t("edited")})` }) : null,
      element("span", { className: "read-count", textContent: readCount(message) ? `${t("read_by")} ${readCount(message)}` : "" })),
    reply, body,
    readable.state === "not_encrypted" ? element("div", { className: "warn", textContent: t("not_encrypted") }) : null,
    readable.legacy ? element("div", { className: "warn", textContent: t("legacy") }) : null,
    reactionChips(message),
    message.deleted ? null : actions(message, mine, readable));
  const old = document.querySelector(`#message-list li[data-id="${message.id}"]`);
  if (old) old.replaceWith(node);
  return node;
}

function reactionChips(message) {
  if (!message.reactions?.length) return null;
  return element("div", { className: "reactions" }, ...message.reactions.map((r) =>
    element("button", { className: r.me ? "chosen" : "", textContent: `${r.emoji} ${r.count}`, onclick: () => react(message.id, r.emoji) })));
}

function actions(message, mine, readable) {
  const buttons = [
    element("button", { className: "act-reply", textContent: t("reply"), onclick: () => startReply(message, readable) }),
    element("button", { className: "act-like", textContent: "👍", onclick: () => react(message.id, "👍") }),
    element("button", { className: "act-heart", textContent: "❤️", onclick: () => react(message.id, "❤️") }),
    element("button", { className: "act-notice", textContent: t("notice"), onclick: () => api.post(`/api/rooms/${message.room_id}/pins`, { message_id: message.id }) }),
  ];
  if (mine && readable.state === "readable" && !readable.file) {
    buttons.push(element("button", { className: "act-edit", textContent: t("edit"), onclick: () => startEdit(message, readable) }));
  }
  if (mine) buttons.push(element("button", { className: "act-delete", textContent: t("delete"), onclick: () => deleteMessage(message.id) }));
  return element("div", { className: "actions" }, ...buttons);
}

function fileBody(message, file) {
  const body = element("div", { className: "body file" },
    `📎 ${file.name} (${formatSize(file.size)}) `,
    element("button", { className: "download", textContent: t("download"), onclick: () => downloadFile(message, file) }));
  if (message.message_type === "image" && message.file_url) {
    fetchFile(message, file).then(({ data, blobUrl }) => {
      if (sniffImage(data)) body.prepend(element("img", { className: "preview", src: blobUrl, alt: file.name }));
    }).catch(() => {});
  }
  return body;
}

const fileCache = new Map();
async function fetchFile(message, file) {
  if (!fileCache.has(message.file_url)) {
    const { decryptFile } = await import("./crypto.js");
    const data = await decryptFile(await api.download(message.file_url), file.key);
    // Previewed only if its bytes are an image, whatever the name says; never run.
    const type = sniffImage(data);
    const blob = new Blob([data], { type: type ? `image/${type}` : "application/octet-stream" });
    fileCache.set(message.file_url, { data, blobUrl: URL.createObjectURL(blob) });
  }
  return fileCache.get(message.file_url);
}

async function downloadFile(message, file) {
  const { blobUrl } = await fetchFile(message, file);
  const link = element("a", { href: blobUrl, download: file.name });
  document.body.append(link);
  link.click();
  link.remove();
}

function renderReadCounts() {
  for (const message of state.messages.values()) {
    const node = document.querySelector(`#message-list li[data-id="${message.id}"] .read-count`);
    const count = readCount(message);
    if (node) node.textContent = count ? `${t("read_by")} ${count}` : "";
  }
}

function scrollToEnd() { $("messages").scrollTop = $("messages").scrollHeight; }

function markRead() {
  if (!state.messages.size || document.hidden) return;
  const last = Math.max(...state.messages.keys());
  state.socket.call("message_read", { room_id: state.roomId, message_id: last }).catch(() => {});
}

async function newMessage(message) {
  const room = state.rooms.get(message.room_id);
  if (!room) { loadRooms(); return; }
  room.last_message = { content: message.content, encrypted: message.encrypted, message_type: message.message_type, deleted: false };
  room.last_message_at = message.created_at;
  const mine = message.sender_id === state.me.id;
  if (message.room_id === state.roomId) {
    if (message.client_msg_id) document.querySelector(`#message-list li[data-client-id="${message.client_msg_id}"]`)?.remove();
    if (!state.messages.has(message.id)) await addMessage({ ...message, read_count: 0 });
    scrollToEnd();
    markRead();
  } else if (!mine) {
    room.unread_count = (room.unread_count || 0) + 1;
  }
  renderRooms();
  if (!mine) notify(room, message);
}

async function notify(room, message) {
  if (!("Notification" in window) || Notification.permission !== "granted") return;
  if (message.room_id === state.roomId && !document.hidden) return;
  const readable = await readContent(message.room_id, message.content, message.encrypted, message.message_type);
  const text = readable.file ? `📎 ${readable.file.name}` : readable.text ?? t(readable.state);
  if (room.muted && !mentionsMe(readable.text)) return;
  const shown = new Notification(message.sender_name || t("notification_new"), { body: text, tag: `room-${room.id}` });
  shown.onclick = () => { window.focus(); openRoom(room.id); };
}

async function updateMessage(messageId, changes) {
  const message = state.messages.get(messageId);
  if (!message) { loadRooms(); return; }
  Object.assign(message, changes);
  await renderMessage(message);
}

// -- writing -----------------------------------------------------------------------------------------------

function wireRoomView() {
  $("composer").addEventListener("submit", (event) => { event.preventDefault(); submitComposer(); });
  $("text").addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) { event.preventDefault(); submitComposer(); }
  });
  $("text").addEventListener("input", typing);
  $("older").addEventListener("click", loadOlder);
  $("reply-cancel").addEventListener("click", () => { state.replyTo = state.editing = null; $("reply-bar").hidden = true; });
  $("file-input").addEventListener("change", (event) => { const file = event.target.files[0]; event.target.value = ""; if (file) sendFile(file); });
  $("room-pin").addEventListener("click", () => toggleRoom("pin", "pinned"));
  $("room-mute").addEventListener("click", () => toggleRoom("mute", "muted"));
  $("new-conversation").addEventListener("click", openNewConversation);
  $("new-conversation-dialog").addEventListener("close", startConversation);
  $("people-filter").addEventListener("input", filterPeople);
  $("room-poll").addEventListener("click", () => { $("poll-form").reset(); $("poll-options").placeholder = t("options_hint"); $("poll-dialog").showModal(); });
  $("poll-dialog").addEventListener("close", createPoll);
  document.addEventListener("visibilitychange", () => { if (state?.roomId && !document.hidden) markRead(); });
}

async function toggleRoom(action, flag) {
  const room = state.rooms.get(state.roomId);
  await api.post(`/api/rooms/${room.id}/${action}`, { [flag]: !room[flag] });
  room[flag] = !room[flag];
  renderRoomFlags();
  renderRooms();
}

function typing() {
  const now = Date.now();
  if (now - state.typingSent > 3000) {
    state.typingSent = now;
    state.socket.emit("typing", { room_id: state.roomId, is_typing: true });
  }
  clearTimeout(state.typingTimer);
  state.typingTimer = setTimeout(stopTyping, TYPING_IDLE_MS);
}

function stopTyping() {
  clearTimeout(state.typingTimer);
  if (state.typingSent) state.socket.emit("typing", { room_id: state.roomId, is_typing: false });
  state.typingSent = 0;
}

function startReply(message, readable) {
  state.replyTo = message.id;
  state.editing = null;
  $("reply-text").textContent = `↪ ${message.sender_name}: ${readable.file ? readable.file.name : readable.text ?? ""}`;
  $("reply-bar").hidden = false;
  $("text").focus();
}

function startEdit(message, readable) {
  state.editing = message.id;
  state.replyTo = null;
  $("reply-text").textContent = `✎ ${t("edit_prompt")}`;
  $("reply-bar").hidden = false;
  $("text").value = readable.text;
  $("text").focus();
}

async function submitComposer() {
  const text = $("text").value;
  if (!text.trim()) return;
  $("text").value = "";
  stopTyping();
  const editing = state.editing, replyTo = state.replyTo;
  state.editing = state.replyTo = null;
  $("reply-bar").hidden = true;
  if (editing) {
    const content = await state.device.encrypt(state.roomId, text);
    await state.socket.call("edit_message", { message_id: editing, content, encrypted: true });
    return;
  }
  await sendText(state.roomId, text, replyTo, crypto.randomUUID());
}

// A message shows at once as pending, turns into the stored one when the server has it, or
// into a failed one with Retry (same client_msg_id, so a retry never makes a duplicate).
async function sendText(roomId, text, replyTo, clientMsgId) {
  const pending = element("li", { className: "message mine pending", dataset: { clientId: clientMsgId } },
    element("div", { className: "body", textContent: text }),
    element("div", { className: "state", textContent: t("pending") }));
  document.querySelector(`#message-list li[data-client-id="${clientMsgId}"]`)?.remove();
  $("message-list").append(pending);
  scrollToEnd();
  try {
    const content = await state.device.encrypt(roomId, text);
    const ack = await state.socket.call("send_message", { room_id: roomId, content, type: "text", encrypted: true,
      client_msg_id: clientMsgId, ...(replyTo ? { reply_to: replyTo } : {}) });
    if (!ack.ok) throw Object.assign(new Error(ack.message_localized), { code: ack.message_code });
    if (state.messages.has(ack.message_id)) pending.remove();
  } catch (error) {
    pending.className = "message mine failed";
    pending.querySelector(".state").replaceChildren(`${t("failed")} (${error.code || error.message}) `,
      element("button", { className: "retry", textContent: t("retry"), onclick: () => sendText(roomId, text, replyTo, clientMsgId) }));
  }
}

async function react(messageId, emoji) {
  const answer = await api.post(`/api/messages/${messageId}/reactions`, { emoji });
  if (answer.reactions) updateMessage(messageId, { reactions: answer.reactions });
}

async function deleteMessage(messageId) {
  await state.socket.call("delete_message", { message_id: messageId });
}

async function sendFile(file) {
  const status = $("upload-status");
  // The blob is the file plus 32 bytes (spec/e2e.md §6): refused here, before anything is read or sent.
  if (file.size + 32 > window.uploadLimit) {
    status.textContent = t("file_too_large", { max: formatSize(window.uploadLimit - 32) });
    return;
  }
  const roomId = state.roomId;
  try {
    const data = new Uint8Array(await file.arrayBuffer());
    const type = sniffImage(data) ? "image" : "file";
    const { content, blob } = await state.device.sealFile(roomId, data, file.name, file.type || "application/octet-stream");
    const form = new FormData();
    form.append("room_id", String(roomId));
    form.append("encrypted", "1");
    form.append("type", type);
    form.append("file", new Blob([blob], { type: "application/octet-stream" }), "e2e.bin"); // the name tells the server nothing
    const uploaded = await api.upload(form, (sent, total) => {
      status.textContent = `${t("uploading")} ${file.name}: ${Math.round((100 * sent) / total)}%`;
    });
    const ack = await state.socket.call("send_message", { room_id: roomId, content, type, encrypted: true,
      upload_token: uploaded.upload_token, client_msg_id: crypto.randomUUID() });
    if (!ack.ok) throw Object.assign(new Error(ack.message_localized), { code: ack.message_code });
    status.textContent = "";
  } catch (error) {
    status.textContent = `${t("failed")}: ${error.message}`;
  }
}

// -- new conversations and polls ------------------------------------------------------------------------------

async function openNewConversation() {
  const { users } = await api.get("/api/users");
  $("people").replaceChildren(...users.filter((u) => u.id !== state.me.id).map((u) =>
    element("li", { dataset: { name: `${u.nickname} ${u.username}`.toLowerCase() } },
      element("label", {}, element("input", { type: "checkbox", value: u.id }), `${u.nickname} (${u.username})`))));
  $("people-filter").value = "";
  $("group-name").value = "";
  $("new-conversation-dialog").showModal();
}

function filterPeople() {
  const wanted = $("people-filter").value.toLowerCase();
  for (const item of $("people").children) item.hidden = !item.dataset.name.includes(wanted);
}

async function startConversation() {
  if ($("new-conversation-dialog").returnValue !== "start") return;
  const memberIds = [...$("people").querySelectorAll("input:checked")].map((input) => Number(input.value));
  if (!memberIds.length) return;
  const name = $("group-name").value.trim();
  const answer = await api.post("/api/rooms", { member_ids: memberIds, ...(name ? { name } : {}) });
  await loadRooms();
  openRoom(answer.room_id);
}

async function createPoll() {
  if ($("poll-dialog").returnValue !== "create") return;
  const options = $("poll-options").value.split("\n").map((s) => s.trim()).filter(Boolean);
  await api.post(`/api/rooms/${state.roomId}/polls`, { question: $("poll-question").value, options,
    multiple_choice: $("poll-multiple").checked, anonymous: $("poll-anonymous").checked });
}

// One place where a failed action shows: a status line under the composer (and the console).
window.addEventListener("unhandledrejection", (event) => {
  const error = event.reason || {};
  $("upload-status").textContent = `${t("failed")}: ${error.message || error}${error.code ? ` (${error.code})` : ""}`;
});

boot();
