// The new-conversation and poll dialogs.
import * as api from "./api.js";
import { $, element, state } from "./dom.js";
import { loadRooms, openRoom } from "./rooms.js";

export async function openNewConversation() {
  const { users } = await api.get("/api/users");
  $("people").replaceChildren(...users.filter((u) => u.id !== state.me.id).map((u) =>
    element("li", { dataset: { name: `${u.nickname} ${u.username}`.toLowerCase() } },
      element("label", {}, element("input", { type: "checkbox", value: u.id }), `${u.nickname} (${u.username})`))));
  $("people-filter").value = "";
  $("group-name").value = "";
  $("new-conversation-dialog").showModal();
}

export function filterPeople() {
  const wanted = $("people-filter").value.toLowerCase();
  for (const item of $("people").children) item.hidden = !item.dataset.name.includes(wanted);
}

export async function startConversation() {
  if ($("new-conversation-dialog").returnValue !== "start") return;
  const memberIds = [...$("people").querySelectorAll("input:checked")].map((input) => Number(input.value));
  if (!memberIds.length) return;
  const name = $("group-name").value.trim();
  const answer = await api.post("/api/rooms", { member_ids: memberIds, ...(name ? { name } : {}) });
  await loadRooms();
  openRoom(answer.room_id);
}

export async function createPoll() {
  if ($("poll-dialog").returnValue !== "create") return;
  const options = $("poll-options").value.split("\n").map((s) => s.trim()).filter(Boolean);
  await api.post(`/api/rooms/${state.roomId}/polls`, { question: $("poll-question").value, options,
    multiple_choice: $("poll-multiple").checked, anonymous: $("poll-anonymous").checked });
}
