"""Shared steps of the message tests: rooms to talk in, and sending."""

from __future__ import annotations


def open_room(creator, *others, name: str = "") -> int:
    """A room of `creator` and `others` made through the API (two people make a direct room)."""
    reply = creator.post("/api/rooms", json={"member_ids": [o.user["id"] for o in others], "name": name})
    assert reply.status_code in (200, 201), reply.text
    return reply.json()["room_id"]


def text(room_id: int, content: str = "안녕하세요", **extra) -> dict:
    """A send_message payload for a plaintext text message."""
    return {"room_id": room_id, "content": content, "type": "text", "encrypted": False, **extra}


def history(api, room_id: int, **params) -> dict:
    reply = api.get(f"/api/rooms/{room_id}/messages", params=params)
    assert reply.status_code == 200, reply.text
    return reply.json()


def contents(api, room_id: int) -> list[str]:
    return [m["content"] for m in history(api, room_id, limit=200)["messages"]]


def leave_room(api, room_id: int) -> None:
    reply = api.post(f"/api/rooms/{room_id}/leave")
    assert reply.status_code == 200, reply.text
