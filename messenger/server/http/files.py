"""Files (contract section 5): upload, download, a room's file list, deletion.

Two kinds of upload. With end-to-end encryption (the default policy) the client sends an
encrypted blob (`encrypted=1`): the server cannot read it, so it checks size and quota
only and serves it back as `application/octet-stream`. When the admin's E2E policy lets
plaintext in, a plaintext file must have an allowed extension and content that matches it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import IO, Any

from flask import Blueprint, Response, current_app, g, request, send_file
from werkzeug.exceptions import RequestEntityTooLarge

from messenger.core.media import (
    IMAGE_MIME_TYPES,
    SNIFF_BYTES,
    UPLOAD_EXTENSIONS,
    UPLOAD_MIME_TYPES,
    content_matches_extension,
)
from messenger.core.names import display_name
from messenger.server import settings
from messenger.server.access import access_as_owner_or_room_admin, access_room, access_room_file
from messenger.server.actions import files
from messenger.server.actions.room_files import do_delete_room_file, room_files
from messenger.server.auth import login_required
from messenger.server.db.models import RoomFile
from messenger.server.errors import ApiError
from messenger.server.params import MAX_ID, invalid, query_int
from messenger.server.serialize import iso

bp = Blueprint("files", __name__)

# Room for the multipart framing and the other form fields around the file itself.
FORM_OVERHEAD_BYTES = 64 * 1024
TRUE_WORDS = {"1", "true", "yes"}
# Shown in the page rather than saved: plaintext images of these types only.
INLINE_MIME_TYPES = frozenset(IMAGE_MIME_TYPES.values())


def _refuse_oversize_before_reading(limit: int, quota: int) -> None:
    """413 from the headers alone (over the file limit, or surely over the caller's quota),
    and a cap that cuts off a body that lies about its size or sends none (chunked):
    nothing past the limit is ever read."""
    declared = request.content_length
    if declared is not None and declared > limit + FORM_OVERHEAD_BYTES:
        raise ApiError("FILE_TOO_LARGE", detail=f"file: at most {limit} bytes")
    if declared is not None and files.bytes_stored(g.user.id) + declared - FORM_OVERHEAD_BYTES > quota:
        raise ApiError("UPLOAD_QUOTA_EXCEEDED")
    request.max_content_length = limit + FORM_OVERHEAD_BYTES


def _size(stream: IO[bytes]) -> int:
    stream.seek(0, 2)
    size = stream.tell()
    stream.seek(0)
    return size


def _form_room_id(form: Mapping[str, str]) -> int:
    raw = form.get("room_id", "")
    if not raw.isdigit() or len(raw) > 18:
        raise invalid("room_id", "must be a room id")
    return int(raw)


def _requested_type(form: Mapping[str, str]) -> str | None:
    wanted = form.get("type") or None
    if wanted is not None and wanted not in files.FILE_TYPES:
        raise invalid("type", "must be file or image")
    return wanted


def _plaintext_kind(file_name: str, stream: IO[bytes], wanted: str | None) -> tuple[str, str]:
    """(file type, MIME type) of a plaintext upload whose extension is allowed and whose
    content matches it; refused otherwise."""
    if settings.get("e2e_policy") == "required":
        raise ApiError("PLAINTEXT_UPLOAD_DISABLED")
    extension = files.extension_of(file_name)
    if extension not in UPLOAD_EXTENSIONS:
        raise ApiError("FILE_TYPE_NOT_ALLOWED", detail=f"file: allowed are {', '.join(sorted(UPLOAD_EXTENSIONS))}")
    head = stream.read(SNIFF_BYTES)
    stream.seek(0)
    if not content_matches_extension(extension, head):
        raise ApiError("FILE_CONTENT_MISMATCH")
    mime_type = UPLOAD_MIME_TYPES[extension]
    is_image = mime_type in INLINE_MIME_TYPES
    if wanted == "image" and not is_image:
        raise ApiError("FILE_TYPE_NOT_ALLOWED", detail="type: only png, jpg, gif and webp are images")
    return wanted or ("image" if is_image else "file"), mime_type


@bp.post("/api/upload")
@login_required
def upload() -> dict[str, Any]:
    """Store a file for the caller to send in a room; answers the upload token to send it with."""
    config = current_app.config["MESSENGER"]
    limit = config.max_upload_bytes
    _refuse_oversize_before_reading(limit, config.user_quota_bytes)
    try:
        form, upload_file = request.form, request.files.get("file")
    except RequestEntityTooLarge:
        raise ApiError("FILE_TOO_LARGE", detail=f"file: at most {limit} bytes") from None
    room, _ = access_room(g.user, _form_room_id(form))
    if upload_file is None:
        raise invalid("file", "is required (a file part with a filename)")
    encrypted = form.get("encrypted", "").lower() in TRUE_WORDS
    wanted = _requested_type(form)
    file_size = _size(upload_file.stream)
    if file_size > limit:
        raise ApiError("FILE_TOO_LARGE", detail=f"file: at most {limit} bytes")
    if file_size == 0:
        raise invalid("file", "is empty")
    file_name = display_name(upload_file.filename or "")
    if encrypted:
        # Opaque to the server: the real name and type travel inside the encrypted message.
        file_type, mime_type = wanted or "file", "application/octet-stream"
    else:
        file_type, mime_type = _plaintext_kind(file_name, upload_file.stream, wanted)
    if files.bytes_stored(g.user.id) + file_size > config.user_quota_bytes:
        raise ApiError("UPLOAD_QUOTA_EXCEEDED")
    token, row = files.do_upload(g.user, room, upload_file.stream, file_name=file_name, file_type=file_type,
                                 file_size=file_size, encrypted=encrypted, mime_type=mime_type)
    return {"success": True, "file_name": row.file_name, "file_type": row.file_type, "file_size": row.file_size,
            "encrypted": row.encrypted, "upload_token": token, "expires_at": iso(row.expires_at)}


def _send_room_file(room_file: RoomFile) -> Response:
    path = files.stored_path(room_file.file_path)
    if not path.is_file():
        raise ApiError("FILE_NOT_FOUND")
    inline = not room_file.encrypted and room_file.mime_type in INLINE_MIME_TYPES
    mime_type = "application/octet-stream" if room_file.encrypted else room_file.mime_type
    response = send_file(path, mimetype=mime_type, as_attachment=not inline,
                         download_name=room_file.file_name or "file", conditional=True, etag=False)
    response.headers["X-Content-Type-Options"] = "nosniff"
    # Even a file opened in the browser runs nothing and loads nothing.
    response.headers["Content-Security-Policy"] = "default-src 'none'; sandbox"
    response.headers["Cache-Control"] = "private, no-cache"
    return response


@bp.get("/uploads/<int:file_id>")
@login_required
def download(file_id: int) -> Response:
    """A file of one of the caller's rooms (404 for anyone else)."""
    room_file, _, _ = access_room_file(g.user, file_id=file_id)
    return _send_room_file(room_file)


@bp.get("/uploads/<path:file_path>")
@login_required
def download_by_stored_name(file_path: str) -> Response:
    """The v4 download path: the file's stored name."""
    room_file, _, _ = access_room_file(g.user, file_path=file_path)
    return _send_room_file(room_file)


@bp.get("/api/rooms/<int:room_id>/files")
@login_required
def list_room_files(room_id: int) -> dict[str, Any]:
    """The room's files, newest first; `type=image|file`, paged by `before_id`."""
    room, _ = access_room(g.user, room_id)
    file_type = request.args.get("type") or None
    if file_type is not None and file_type not in files.FILE_TYPES:
        raise invalid("type", "must be file or image")
    before_id = query_int("before_id", None, 1, MAX_ID)
    limit = query_int("limit", 50, 1, 200)
    return {"files": room_files(room.id, file_type, before_id, limit)}


@bp.delete("/api/rooms/<int:room_id>/files/<int:file_id>")
@login_required
def delete_room_file(room_id: int, file_id: int) -> dict[str, Any]:
    """The uploader or a room admin deletes a file; its message shows as a deleted file."""
    access_room(g.user, room_id)
    room_file, message, membership = access_room_file(g.user, file_id=file_id)
    if room_file.room_id != room_id:
        raise ApiError("FILE_NOT_FOUND")
    access_as_owner_or_room_admin(g.user, room_file.uploaded_by, membership, "FILE_DELETE_NOT_ALLOWED")
    return {"success": True, **do_delete_room_file(room_file, message)}
