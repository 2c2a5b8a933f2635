// The chat view: reading (decrypting) messages and drawing them; live message events.
import * as api from "./api.js";
import { deleteMessage, react, startEdit, startReply } from "./composer.js";
import { sniffImage } from "./crypto.js";
import { $, element, formatSize, state, time } from "./dom.js";
import { t } from "./i18n.js";
import { loadRooms, openRoom, renderRooms } from "./rooms.js";

const ENVELOPE = /^(v5:|v3:|v2:|U2FsdGVkX1)/;
// What a message not shown because it was tampered with says, by the way it was (spec/e2e.md §2a).
const TAMPERED_WORDS = { E2E_REPLAYED: "replayed", E2E_MISATTRIBUTED: "misattributed", E2E_REORDERED: "reordered",
  E2E_UNVERIFIED_SENDER: "unverified_sender" };
const words = (readable) => t(readable.state === "tampered" ? TAMPERED_WORDS[readable.code] || "tampered" : readable.state);

// What a content reads as here: {state, text?, file?, legacy?, signed?}. Never throws. `message`:
// the message as the server gives it, which a signed envelope is checked against (none for a preview).
export async function readContent(roomId, content, encrypted, type, message = null) {
  const isFile = type === "file" || type === "image";
  if (!encrypted || !ENVELOPE.test(content)) {
    return { state: "not_encrypted", text: isFile ? null : content, file: null };
  }
  const readable = await state.device.read(roomId, content, message);
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
      : await readContent(message.room_id, message.content, message.encrypted, message.message_type, message));
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

export async function addMessage(message, atTop = false) {
  state.messages.set(message.id, message);
  const node = await renderMessage(message);
  const list = $("message-list");
  if (atTop) list.prepend(node); else list.append(node);
}

export async function renderMessage(message) {
  const readable = await readMessage(message);
  const mine = message.sender_id === state.me.id;
  const classes = ["message", mine ? "mine" : "", readable.state].filter(Boolean);
  let body;
  if (readable.state === "deleted") body = element("div", { className: "body" }, t("deleted"));
  else if (readable.file) body = fileBody(message, readable.file);
  else if (readable.text !== null && readable.text !== undefined && ["readable", "not_encrypted"].includes(readable.state)) {
    body = element("div", { className: "body" }, ...withMentions(readable.text));
  } else body = element("div", { className: "body" }, words(readable));
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
    readable.state === "readable" && !readable.legacy && !readable.signed
      ? element("div", { className: "warn not-signed", textContent: t("not_signed") }) : null,
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

export function renderReadCounts() {
  for (const message of state.messages.values()) {
    const node = document.querySelector(`#message-list li[data-id="${message.id}"] .read-count`);
    const count = readCount(message);
    if (node) node.textContent = count ? `${t("read_by")} ${count}` : "";
  }
}

export function scrollToEnd() { $("messages").scrollTop = $("messages").scrollHeight; }

export function markRead() {
  if (!state.messages.size || document.hidden) return;
  const last = Math.max(...state.messages.keys());
  state.socket.call("message_read", { room_id: state.roomId, message_id: last }).catch(() => {});
}

export async function newMessage(message) {
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

// A room's first message can arrive before its key (sealed to this browser at the same moment):
// its notification waits this long for the key rather than announce "waiting for keys".
const NOTIFY_KEY_WAIT_MS = 10_000;

async function notify(room, message) {
  if (!("Notification" in window) || Notification.permission !== "granted") return;
  if (message.room_id === state.roomId && !document.hidden) return;
  const session = state;
  const read = () => readContent(message.room_id, message.content, message.encrypted, message.message_type, message);
  let readable = await read();
  const deadline = Date.now() + NOTIFY_KEY_WAIT_MS;
  while (readable.state === "waiting_for_keys" && Date.now() < deadline) {
    await session.device.keysSettled(message.room_id, deadline - Date.now());
    if (state !== session) return; // signed out meanwhile
    readable = await read();
  }
  const text = readable.file ? `📎 ${readable.file.name}` : readable.text ?? words(readable);
  if (room.muted && !mentionsMe(readable.text)) return;
  const shown = new Notification(message.sender_name || t("notification_new"), { body: text, tag: `room-${room.id}` });
  shown.onclick = () => { window.focus(); openRoom(room.id); };
}

export async function updateMessage(messageId, changes) {
  const message = state.messages.get(messageId);
  if (!message) { loadRooms(); return; }
  Object.assign(message, changes);
  await renderMessage(message);
}
