// Writing: the composer, replies and edits, pending sends, reactions, file uploads.
import * as api from "./api.js";
import { sniffImage } from "./crypto.js";
import { createPoll, filterPeople, openNewConversation, startConversation } from "./dialogs.js";
import { $, element, formatSize, state } from "./dom.js";
import { t } from "./i18n.js";
import { markRead, scrollToEnd, updateMessage } from "./messages.js";
import { loadOlder, toggleRoom } from "./rooms.js";

const TYPING_IDLE_MS = 4000;

export function wireRoomView() {
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

export function startReply(message, readable) {
  state.replyTo = message.id;
  state.editing = null;
  $("reply-text").textContent = `↪ ${message.sender_name}: ${readable.file ? readable.file.name : readable.text ?? ""}`;
  $("reply-bar").hidden = false;
  $("text").focus();
}

export function startEdit(message, readable) {
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
    const content = await state.device.encrypt(state.roomId, text, { editOf: editing });
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
    const content = await state.device.encrypt(roomId, text, { replyTo });
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

export async function react(messageId, emoji) {
  const answer = await api.post(`/api/messages/${messageId}/reactions`, { emoji });
  if (answer.reactions) updateMessage(messageId, { reactions: answer.reactions });
}

export async function deleteMessage(messageId) {
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
    const { content, blob } = await state.device.sealFile(roomId, data, file.name, file.type || "application/octet-stream", type);
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
