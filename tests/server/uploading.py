"""Shared steps of the file, poll and search tests: rooms, uploads, file messages, and
servers of their own where plaintext files are allowed or limits are small."""

from __future__ import annotations

import secrets
from pathlib import Path
from urllib.parse import quote

from harness import ServerProcess

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + bytes(64)
PDF = b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<<>>\nendobj\n"
BLOB = bytes(range(256)) * 4  # stands for an encrypted file: opaque bytes


def group(api, *others, name: str = "room") -> int:
    """A group room of `api` (its admin) and `others`; returns its id. (Two people at
    creation would make a direct room, so the others are invited after.)"""
    reply = api.post("/api/rooms", json={"members": [], "name": name})
    assert reply.status_code == 201, reply.text
    room_id = reply.json()["room"]["id"]
    if others:
        invited = api.post(f"/api/rooms/{room_id}/members", json={"user_ids": [o.user["id"] for o in others]})
        assert invited.status_code == 200, invited.text
    return room_id


def start_server(data_dir: Path, e2e_policy: str | None = None, env: dict | None = None, **config) -> ServerProcess:
    """A server of its own with `config` (ServerConfig fields) and, if given, the E2E policy
    (else the default, "required") and environment (its database: conftest's `database_env`)."""
    lines = [f"{key} = {value!r}" for key, value in config.items()]
    return ServerProcess(data_dir, env=env, config="\n".join(lines) + "\n" if lines else None,
                         e2e_policy=e2e_policy).start()


def multipart(fields: dict, file_name: str | None, data: bytes, boundary: str | None = None) -> tuple[bytes, str]:
    """A multipart body whose file name arrives exactly as given (RFC 5987 `filename*`),
    control characters and backslashes included; returns (body, content type)."""
    boundary = boundary or secrets.token_hex(16)
    parts = [f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode()
             for name, value in fields.items()]
    disposition = 'form-data; name="file"'
    if file_name == "":
        disposition += '; filename=""'
    elif file_name is not None:
        disposition += f"; filename*=UTF-8''{quote(file_name, safe='')}"
    parts.append(f"--{boundary}\r\nContent-Disposition: {disposition}\r\n"
                 "Content-Type: application/octet-stream\r\n\r\n".encode() + data + b"\r\n")
    parts.append(f"--{boundary}--\r\n".encode())
    return b"".join(parts), f"multipart/form-data; boundary={boundary}"


def upload(api, room_id: int, file_name: str, data: bytes, encrypted: bool = False, **fields):
    """POST /api/upload as the desktop client sends it (httpx's own multipart)."""
    form = {"room_id": str(room_id), **({"encrypted": "1"} if encrypted else {}), **fields}
    return api.post("/api/upload", data=form, files={"file": (file_name, data, "application/octet-stream")})


def upload_exact(api, room_id: int, file_name: str, data: bytes, **fields):
    """POST /api/upload with the file name byte for byte (see `multipart`)."""
    body, content_type = multipart({"room_id": room_id, **fields}, file_name, data)
    return api.post("/api/upload", content=body, headers={"Content-Type": content_type})


def uploaded(api, room_id: int, file_name: str, data: bytes, encrypted: bool = False, **fields) -> dict:
    reply = upload(api, room_id, file_name, data, encrypted, **fields)
    assert reply.status_code == 200, reply.text
    return reply.json()


def send_file(sock, room_id: int, token: str | None, message_type: str = "file", content: str = "첨부 파일",
              encrypted: bool = False, **extra) -> dict:
    """The send_message ack for a file or image message carrying `token`."""
    return sock.call("send_message", {"room_id": room_id, "content": content, "type": message_type,
                                      "encrypted": encrypted, "upload_token": token,
                                      "client_msg_id": secrets.token_hex(8), **extra})


def send_text(sock, room_id: int, content: str, encrypted: bool = False) -> int:
    ack = sock.call("send_message", {"room_id": room_id, "content": content, "type": "text",
                                     "encrypted": encrypted, "client_msg_id": secrets.token_hex(8)})
    assert ack["ok"], ack
    return ack["message_id"]


def stored_files(server: ServerProcess) -> set[str]:
    folder = server.data_dir / "uploads"
    return {p.name for p in folder.iterdir()} if folder.exists() else set()


def assert_refused(reply, status: int, code: str) -> None:
    assert reply.status_code == status, reply.text
    assert reply.json()["error_code"] == code, reply.text
