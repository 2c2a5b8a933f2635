// The room list and the open room's header: flags, presence, notices, polls.
import * as api from "./api.js";
import { $, element, state } from "./dom.js";
import { t } from "./i18n.js";
import { addMessage, markRead, readContent, renderMessage, scrollToEnd } from "./messages.js";

const PAGE = 50;

function roomName(room) {
  return room.type === "direct" && room.partner ? room.partner.nickname : room.name || `#${room.id}`;
}

export async function loadRooms() {
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

export async function renderRooms() {
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

export async function openRoom(roomId) {
  state.roomId = roomId;
  state.messages.clear();
  state.readables.clear();
  state.typing.clear();
  state.replyTo = state.editing = null;
  $("reply-bar").hidden = true;
  $("identity-banner").hidden = true;
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
  showIdentityWarning(roomId);
  loadNotices();
  loadPolls();
  markRead();
  if (room) { room.unread_count = 0; renderRooms(); }
}

export async function loadOlder() {
  const first = Math.min(...state.messages.keys());
  const roomId = state.roomId;
  const page = await api.get(`/api/rooms/${roomId}/messages?limit=${PAGE}&before_id=${first}`);
  if (state.roomId !== roomId) return;
  state.hasMore = page.has_more;
  $("older").hidden = !page.has_more;
  for (const message of page.messages.reverse()) await addMessage(message, true);
}

// Members of the room shown with another identity than the one pinned here: their messages are
// refused (shown as tampered) and no key goes to them, so the room says why (the desktop's banner).
export async function showIdentityWarning(roomId) {
  const changed = await state.device.identityChanges(roomId);
  if (state?.roomId !== roomId) return;
  $("identity-banner").hidden = !changed.length;
  if (!changed.length) return;
  const userId = changed[0];
  const name = state.members.get(userId)?.nickname || `#${userId}`;
  $("identity-text").textContent = t("identity_changed", { name });
  $("safety-number").textContent = await state.device.safetyNumber(userId);
  $("identity-trust").onclick = async () => {
    await state.device.trustIdentity(userId);
    showIdentityWarning(roomId);
    keysChanged(roomId);
    state.device.syncRoom(roomId).catch(() => {}); // keys its devices sealed here count now
  };
}

function renderRoomFlags() {
  const room = state.rooms.get(state.roomId);
  if (!room) return;
  $("room-pin").textContent = room.pinned ? t("unpin") : t("pin");
  $("room-mute").textContent = room.muted ? t("unmute") : t("mute");
}

export function renderPresence() {
  if (!state?.roomId) return;
  const others = [...state.members.keys()].filter((id) => id !== state.me.id && state.online.has(id));
  $("room-presence").textContent = others.length ? `● ${others.map((id) => state.members.get(id).nickname).join(", ")} ${t("online")}` : "";
}

export async function loadNotices() {
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

export async function loadPolls() {
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

export async function keysChanged(roomId) {
  if (!state) return;
  if (roomId === state.roomId) {
    state.readables.clear();
    for (const message of state.messages.values()) await renderMessage(message);
    loadNotices();
  }
  renderRooms();
}

export async function toggleRoom(action, flag) {
  const room = state.rooms.get(state.roomId);
  await api.post(`/api/rooms/${room.id}/${action}`, { [flag]: !room[flag] });
  room[flag] = !room[flag];
  renderRoomFlags();
  renderRooms();
}
