"""Files (contract section 5) against real servers: uploads, upload tokens, file messages,
downloads, the file list and deletion, and the attacks each of them must turn away."""

import os
import re
import socket
import time
from datetime import timedelta
from urllib.parse import unquote, urlsplit

import httpx
import pytest

from harness import Socket, register_and_login
from messenger.server.actions.files import delete_orphan_uploads, purge_upload_tokens, upload_dir
from messenger.server.db.models import Message, Room, RoomFile, UploadToken, User, utcnow
from messenger.server.extensions import database
from uploading import (
    BLOB,
    PDF,
    PNG,
    assert_refused,
    group,
    send_file,
    start_server,
    stored_files,
    upload,
    upload_exact,
    uploaded,
)

SMALL_LIMIT = 100_000
SMALL_QUOTA = 250_000


@pytest.fixture(scope="module")
def plain(tmp_path_factory, database_env):
    """A server whose admin turned E2E off (plaintext files allowed), with small limits."""
    server = start_server(tmp_path_factory.mktemp("plain"), e2e_policy="off", env=database_env(),
                          max_upload_bytes=SMALL_LIMIT, user_quota_bytes=SMALL_QUOTA)
    yield server
    server.stop()


@pytest.fixture
def plain_users(plain):
    return lambda n=1: [register_and_login(plain) for _ in range(n)]


@pytest.fixture
def connect():
    """Sockets to any server, closed at the end of the test."""
    opened = []

    def open_socket(server, api):
        sock = Socket(server.url, api.token)
        opened.append(sock)
        return sock

    yield open_socket
    for sock in opened:
        sock.close()


def file_messages(api, room_id):
    reply = api.get(f"/api/rooms/{room_id}/messages", params={"limit": 200})
    assert reply.status_code == 200, reply.text
    return [m for m in reply.json()["messages"] if m["message_type"] in ("file", "image")]


def disposition(reply) -> tuple[str, str]:
    """(inline|attachment, file name) of a Content-Disposition header, read as RFC 6266 says
    a client must: `filename*` (UTF-8, percent-encoded) first, the plain `filename` only without it."""
    header = reply.headers["Content-Disposition"]
    kind = header.split(";", 1)[0].strip()
    extended = re.search(r"filename\*=UTF-8''([^;\s]+)", header, re.IGNORECASE)
    if extended:
        return kind, unquote(extended.group(1), errors="strict")
    plain = re.search(r'filename="((?:[^"\\]|\\.)*)"|filename=([^;\s]+)', header)
    return kind, re.sub(r"\\(.)", r"\1", plain.group(1)) if plain.group(1) is not None else plain.group(2)


# --- end-to-end encrypted uploads (the default policy) --------------------------------------

def test_encrypted_upload_answers_the_contract_fields_and_a_long_token(server, users):
    alice, = users(1)
    room_id = group(alice)
    reply = upload_exact(alice, room_id, "", BLOB, encrypted=1)  # the real name is inside the message
    assert reply.status_code == 200, reply.text
    body = reply.json()
    assert body["success"] is True and body["encrypted"] is True
    assert body["file_size"] == len(BLOB) and body["file_type"] == "file" and body["file_name"] == ""
    assert len(body["upload_token"]) >= 43  # 256 bits, url-safe base64


def test_plaintext_upload_is_refused_while_e2e_is_required_and_nothing_is_stored(fresh_server):
    server = fresh_server(e2e_policy=None)  # the default policy: required
    alice = register_and_login(server)
    room_id = group(alice)
    before = stored_files(server)
    assert_refused(upload(alice, room_id, "notes.txt", b"plain words"), 403, "PLAINTEXT_UPLOAD_DISABLED")
    assert stored_files(server) == before


def test_file_message_reaches_the_room_and_only_members_download_it(server, users, sockets):
    alice, bob, carol = users(3)
    room_id = group(alice, bob)
    bob_socket = sockets(bob)
    before = stored_files(server)
    token = uploaded(alice, room_id, "ignored.bin", BLOB, encrypted=True, type="image")["upload_token"]
    [stored_name] = stored_files(server) - before
    ack = send_file(sockets(alice), room_id, token, "image", content="v2:encrypted-envelope", encrypted=True)
    assert ack["ok"], ack
    event = bob_socket.wait_for("new_message", lambda m: m["id"] == ack["message_id"])
    assert event["message_type"] == "image" and event["file_size"] == len(BLOB)
    assert event["file_url"] == f"/uploads/{event['file_id']}"

    for path in (event["file_url"], f"/uploads/{stored_name}"):  # also the v4 path form
        reply = bob.get(path)
        assert reply.status_code == 200 and reply.content == BLOB
        assert reply.headers["Content-Type"] == "application/octet-stream"
        assert reply.headers["X-Content-Type-Options"] == "nosniff"
        assert disposition(reply)[0] == "attachment"  # never shown inline: the server cannot read it
        assert_refused(carol.get(path), 404, "FILE_NOT_FOUND")
        assert server.api().get(path).status_code == 401
    assert_refused(carol.get(f"/api/rooms/{room_id}/files"), 404, "ROOM_NOT_FOUND")
    history = file_messages(bob, room_id)
    assert [(m["id"], m["file_id"]) for m in history] == [(ack["message_id"], event["file_id"])]


def test_a_file_bigger_than_any_other_request_may_be_is_taken_whole(server, users, sockets):
    """Other requests stop at 1 MB; an upload's own limit (16 MB by default) applies here."""
    alice, = users(1)
    room_id = group(alice)
    big = BLOB * 2048  # 2 MiB
    body = uploaded(alice, room_id, "blob", big, encrypted=True)
    assert body["file_size"] == len(big)
    ack = send_file(sockets(alice), room_id, body["upload_token"])
    [message] = [m for m in file_messages(alice, room_id) if m["id"] == ack["message_id"]]
    assert alice.get(message["file_url"]).content == big


def test_upload_to_a_room_the_caller_is_not_in_is_refused_and_stores_nothing(server, users):
    alice, mallory = users(2)
    room_id = group(alice)
    before = stored_files(server)
    assert_refused(upload(mallory, room_id, "blob", BLOB, encrypted=True), 404, "ROOM_NOT_FOUND")
    assert stored_files(server) == before


# --- upload tokens --------------------------------------------------------------------------

def test_an_upload_token_is_used_once(server, users, sockets):
    alice, = users(1)
    room_id = group(alice)
    sock = sockets(alice)
    token = uploaded(alice, room_id, "blob", BLOB, encrypted=True)["upload_token"]
    assert send_file(sock, room_id, token)["ok"]
    again = send_file(sock, room_id, token)
    assert again["ok"] is False and again["error_code"] == "UPLOAD_TOKEN_INVALID"
    assert len(file_messages(alice, room_id)) == 1


def test_a_resent_file_message_gets_its_first_id_back_without_a_second_token(server, users, sockets):
    """The repeat is recognised by client_msg_id before the (spent) token is looked at."""
    alice, = users(1)
    room_id = group(alice)
    sock = sockets(alice)
    token = uploaded(alice, room_id, "blob", BLOB, encrypted=True)["upload_token"]
    first = send_file(sock, room_id, token, client_msg_id="retry-1")
    again = send_file(sock, room_id, token, client_msg_id="retry-1")
    assert again == {"ok": True, "message_id": first["message_id"], "duplicate": True}


@pytest.mark.parametrize("case", ["someone else's", "other room", "other type", "made up", "missing"])
def test_a_token_not_for_this_message_is_refused_and_nothing_is_written(server, users, sockets, case):
    alice, bob = users(2)
    room_id, other_room_id = group(alice, bob), group(alice, bob, name="other")
    token = uploaded(alice, room_id, "blob", BLOB, encrypted=True)["upload_token"]
    sender, target, message_type, sent_token = {
        "someone else's": (bob, room_id, "file", token),
        "other room": (alice, other_room_id, "file", token),
        "other type": (alice, room_id, "image", token),
        "made up": (alice, room_id, "file", "x" * 43),
        "missing": (alice, room_id, "file", None),
    }[case]
    watcher = sockets(bob if sender is alice else alice)
    ack = send_file(sockets(sender), target, sent_token, message_type)
    assert ack["ok"] is False and ack["error_code"] == "UPLOAD_TOKEN_INVALID"
    assert file_messages(alice, room_id) == [] and file_messages(alice, other_room_id) == []
    assert "new_message" not in watcher.names()
    # The refusal spent nothing: the rightful sender still sends with the token.
    assert send_file(sockets(alice), room_id, token)["ok"]


def test_an_expired_token_is_refused(fresh_server, connect):
    server = fresh_server(config="upload_token_seconds = 1\n")
    alice = register_and_login(server)
    room_id = group(alice)
    token = uploaded(alice, room_id, "blob", BLOB, encrypted=True)["upload_token"]
    time.sleep(1.5)  # the token's whole life
    ack = send_file(connect(server, alice), room_id, token)
    assert ack["ok"] is False and ack["error_code"] == "UPLOAD_TOKEN_INVALID"
    assert file_messages(alice, room_id) == []


# --- size and quota -------------------------------------------------------------------------

def raw_request(url: str, head: str, body: bytes = b"") -> tuple[int, dict]:
    """Send `head` (and `body`) on a bare socket and read one response, waiting for nothing
    more: a server that waited for the rest of the body would time this out."""
    parts = urlsplit(url)
    with socket.create_connection((parts.hostname, parts.port), timeout=10) as conn:
        conn.sendall(head.encode() + body)
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = conn.recv(65536)
            assert chunk, "the server closed the connection without answering"
            data += chunk
        header_block, rest = data.split(b"\r\n\r\n", 1)
        status = int(header_block.split(b" ", 2)[1])
        length = int(next(line.split(b":", 1)[1] for line in header_block.split(b"\r\n")
                          if line.lower().startswith(b"content-length:")))
        while len(rest) < length:
            rest += conn.recv(65536)
    return status, httpx.Response(status, content=rest[:length]).json()


def test_a_body_declared_too_large_is_refused_before_it_is_read(server, user):
    room_id = group(user)
    host = urlsplit(server.url).netloc
    status, body = raw_request(server.url, (
        f"POST /api/upload HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {user.token}\r\n"
        f"Content-Type: multipart/form-data; boundary=x\r\nContent-Length: {50 * 1024 ** 3}\r\n\r\n"),
        f'--x\r\nContent-Disposition: form-data; name="room_id"\r\n\r\n{room_id}\r\n'.encode())
    assert status == 413 and body["error_code"] == "FILE_TOO_LARGE"


def test_a_chunked_body_over_the_limit_is_cut_off_and_stores_nothing(plain, plain_users):
    alice, = plain_users(1)
    room_id = group(alice)
    before = stored_files(plain)

    def chunks():  # no Content-Length: the server learns the size only by reading
        yield f'--x\r\nContent-Disposition: form-data; name="room_id"\r\n\r\n{room_id}\r\n'.encode()
        yield b'--x\r\nContent-Disposition: form-data; name="file"; filename="big.txt"\r\n\r\n'
        for _ in range(40):
            yield b"a" * 10_000
        yield b"\r\n--x--\r\n"

    reply = alice.post("/api/upload", content=chunks(), headers={"Content-Type": "multipart/form-data; boundary=x"})
    assert_refused(reply, 413, "FILE_TOO_LARGE")
    assert stored_files(plain) == before


def test_a_file_just_over_the_limit_is_refused(plain, plain_users):
    alice, = plain_users(1)
    room_id = group(alice)
    assert_refused(upload(alice, room_id, "big.txt", b"a" * (SMALL_LIMIT + 1)), 413, "FILE_TOO_LARGE")
    assert uploaded(alice, room_id, "fits.txt", b"a" * SMALL_LIMIT)["file_size"] == SMALL_LIMIT


def test_the_quota_counts_waiting_and_sent_files_and_deleting_frees_it(plain, plain_users, connect):
    alice, = plain_users(1)
    room_id = group(alice)
    part = b"a" * 90_000
    token = uploaded(alice, room_id, "1.txt", part)["upload_token"]
    ack = send_file(connect(plain, alice), room_id, token)
    uploaded(alice, room_id, "2.txt", part)  # waiting to be sent: counts too
    before = stored_files(plain)
    assert_refused(upload(alice, room_id, "3.txt", part), 413, "UPLOAD_QUOTA_EXCEEDED")
    # A declared size surely over the quota is refused from the headers alone.
    status, body = raw_request(plain.url, (
        f"POST /api/upload HTTP/1.1\r\nHost: {urlsplit(plain.url).netloc}\r\nAuthorization: Bearer {alice.token}\r\n"
        f"Content-Type: multipart/form-data; boundary=x\r\nContent-Length: {SMALL_LIMIT + 60_000}\r\n\r\n"))
    assert status == 413 and body["error_code"] == "UPLOAD_QUOTA_EXCEEDED"
    assert stored_files(plain) == before
    [sent] = alice.get(f"/api/rooms/{room_id}/files").json()["files"]
    assert sent["message_id"] == ack["message_id"]
    assert alice.delete(f"/api/rooms/{room_id}/files/{sent['id']}").status_code == 200
    uploaded(alice, room_id, "3.txt", part)


# --- plaintext uploads: types, names, downloads ---------------------------------------------

def test_plaintext_and_encrypted_uploads_are_both_taken_when_e2e_is_optional(tmp_path, database_env):
    server = start_server(tmp_path / "optional", e2e_policy="optional", env=database_env())
    try:
        alice = register_and_login(server)
        room_id = group(alice)
        assert uploaded(alice, room_id, "회의록.txt", "안건 정리".encode())["file_type"] == "file"
        assert uploaded(alice, room_id, "blob", BLOB, encrypted=True)["file_type"] == "file"
    finally:
        server.stop()


def test_a_korean_file_name_comes_back_exactly(plain, plain_users, connect):
    alice, bob = plain_users(2)
    room_id = group(alice, bob)
    name = "2026년 4분기 회의록 (최종본).txt"
    body = uploaded(alice, room_id, name, "회의 내용".encode())
    assert body["file_name"] == name
    ack = send_file(connect(plain, alice), room_id, body["upload_token"], content=name)
    [message] = file_messages(bob, room_id)
    assert message["file_name"] == name and message["id"] == ack["message_id"]
    reply = bob.get(message["file_url"])
    assert reply.status_code == 200 and reply.content == "회의 내용".encode()
    assert "filename*=UTF-8''" in reply.headers["Content-Disposition"]
    assert disposition(reply) == ("attachment", name)


@pytest.mark.parametrize("sent, shown", [
    ("../x.txt", "x.txt"),
    ("..\\x.txt", "x.txt"),
    ("../../../../etc/passwd.txt", "passwd.txt"),
    ("/etc/hosts.txt", "hosts.txt"),
    ("C:\\Windows\\System32\\drivers.txt", "drivers.txt"),
    ("a\x00b.txt", "ab.txt"),
    ("line\r\nbreak.txt", "linebreak.txt"),
    ("invoice\u202egnp.txt", "invoicegnp.txt"),  # right-to-left override
    ("보고서\u2066.txt", "보고서.txt"),
    ("x" * 300 + ".txt", "x" * 251 + ".txt"),
])
def test_hostile_file_names_are_made_harmless(plain, plain_users, connect, sent, shown):
    alice, = plain_users(1)
    room_id = group(alice)
    before = stored_files(plain)
    reply = upload_exact(alice, room_id, sent, b"hello")
    assert reply.status_code == 200, reply.text
    assert reply.json()["file_name"] == shown
    # Stored under a name the server made, inside its upload folder only.
    [stored_name] = stored_files(plain) - before
    assert stored_name not in (sent, shown) and "." not in stored_name
    send_file(connect(plain, alice), room_id, reply.json()["upload_token"])
    [message] = file_messages(alice, room_id)
    download = alice.get(message["file_url"])
    assert disposition(download) == ("attachment", shown)


@pytest.mark.parametrize("name, data, code", [
    ("page.png", b"<!DOCTYPE html><html><script>alert(1)</script></html>", "FILE_CONTENT_MISMATCH"),
    ("setup.png", b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff" + bytes(64), "FILE_CONTENT_MISMATCH"),
    ("setup.txt", b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff" + bytes(64), "FILE_CONTENT_MISMATCH"),
    ("report.pdf", PNG, "FILE_CONTENT_MISMATCH"),
    ("photo.jpg", PNG, "FILE_CONTENT_MISMATCH"),
    ("setup.exe", b"MZ\x90\x00" + bytes(64), "FILE_TYPE_NOT_ALLOWED"),
    ("page.html", b"<html></html>", "FILE_TYPE_NOT_ALLOWED"),
    ("script.js", b"alert(1)", "FILE_TYPE_NOT_ALLOWED"),
    ("README", b"no extension", "FILE_TYPE_NOT_ALLOWED"),
    ("", b"no name", "FILE_TYPE_NOT_ALLOWED"),
])
def test_content_that_does_not_match_an_allowed_extension_is_refused(plain, plain_users, name, data, code):
    alice, = plain_users(1)
    room_id = group(alice)
    before = stored_files(plain)
    assert_refused(upload_exact(alice, room_id, name, data), 415, code)
    assert stored_files(plain) == before


def test_an_image_request_for_a_non_image_is_refused(plain, plain_users):
    alice, = plain_users(1)
    assert_refused(upload(alice, group(alice), "report.pdf", PDF, type="image"), 415, "FILE_TYPE_NOT_ALLOWED")


def test_only_plaintext_images_are_shown_inline(plain, plain_users, connect):
    alice, = plain_users(1)
    room_id = group(alice)
    sock = connect(plain, alice)
    for name, data in (("chart.png", PNG), ("report.pdf", PDF)):
        body = uploaded(alice, room_id, name, data)
        assert send_file(sock, room_id, body["upload_token"], body["file_type"])["ok"]
    served = {m["file_name"]: alice.get(m["file_url"]) for m in file_messages(alice, room_id)}
    image, document = served["chart.png"], served["report.pdf"]
    assert image.headers["Content-Type"] == "image/png" and disposition(image)[0] == "inline"
    assert document.headers["Content-Type"] == "application/pdf" and disposition(document)[0] == "attachment"
    for reply in served.values():
        assert reply.headers["X-Content-Type-Options"] == "nosniff"


# --- the file list and deletion -------------------------------------------------------------

def test_the_file_list_filters_by_type_and_shows_only_sent_files(plain, plain_users, connect):
    alice, bob = plain_users(2)
    room_id = group(alice, bob)
    sock = connect(plain, alice)
    for name, data in (("a.png", PNG), ("b.pdf", PDF)):
        body = uploaded(alice, room_id, name, data)
        send_file(sock, room_id, body["upload_token"], body["file_type"])
    uploaded(alice, room_id, "never-sent.txt", b"draft")

    def names(**params):
        return [f["file_name"] for f in bob.get(f"/api/rooms/{room_id}/files", params=params).json()["files"]]

    assert names() == ["b.pdf", "a.png"]
    assert names(type="image") == ["a.png"] and names(type="file") == ["b.pdf"]
    assert_refused(bob.get(f"/api/rooms/{room_id}/files", params={"type": "video"}), 400, "VALIDATION_ERROR")


def test_deleting_a_file_is_for_its_uploader_or_a_room_admin(plain, plain_users, connect):
    admin, alice, bob = plain_users(3)
    room_id = group(admin, alice, bob)
    watcher = connect(plain, bob)
    sent = []
    for name in ("alice.txt", "alice2.txt"):
        body = uploaded(alice, room_id, name, b"text")
        sent.append(send_file(connect(plain, alice), room_id, body["upload_token"])["message_id"])
    files = {f["file_name"]: f for f in alice.get(f"/api/rooms/{room_id}/files").json()["files"]}
    first, second = files["alice.txt"], files["alice2.txt"]
    before = stored_files(plain)

    assert_refused(bob.delete(f"/api/rooms/{room_id}/files/{first['id']}"), 403, "FILE_DELETE_NOT_ALLOWED")
    assert stored_files(plain) == before and bob.get(first["url"]).status_code == 200

    assert alice.delete(f"/api/rooms/{room_id}/files/{first['id']}").status_code == 200
    assert watcher.wait_for("message_deleted", lambda d: d["message_id"] == sent[0])
    assert admin.delete(f"/api/rooms/{room_id}/files/{second['id']}").status_code == 200
    assert_refused(bob.get(first["url"]), 404, "FILE_NOT_FOUND")
    assert_refused(alice.delete(f"/api/rooms/{room_id}/files/{first['id']}"), 404, "FILE_NOT_FOUND")
    assert len(before - stored_files(plain)) == 2  # the bytes are gone
    assert alice.get(f"/api/rooms/{room_id}/files").json()["files"] == []
    shown = {m["id"]: m for m in alice.get(f"/api/rooms/{room_id}/messages").json()["messages"]}
    for message_id in sent:  # still there, as deleted files
        assert shown[message_id]["deleted"] is True and shown[message_id]["message_type"] == "file"
        assert shown[message_id]["file_name"] is None and shown[message_id]["file_url"] is None


def test_deleting_a_file_through_another_room_is_not_found(plain, plain_users, connect):
    alice, = plain_users(1)
    room_id, other_room_id = group(alice), group(alice, name="other")
    body = uploaded(alice, room_id, "a.txt", b"text")
    send_file(connect(plain, alice), room_id, body["upload_token"])
    [room_file] = alice.get(f"/api/rooms/{room_id}/files").json()["files"]
    assert_refused(alice.delete(f"/api/rooms/{other_room_id}/files/{room_file['id']}"), 404, "FILE_NOT_FOUND")
    assert alice.get(room_file["url"]).status_code == 200


def test_a_deleted_file_message_takes_the_download_with_it(plain, plain_users, connect):
    alice, bob = plain_users(2)
    room_id = group(alice, bob)
    sock = connect(plain, alice)
    body = uploaded(alice, room_id, "a.txt", b"text")
    message_id = send_file(sock, room_id, body["upload_token"])["message_id"]
    [room_file] = bob.get(f"/api/rooms/{room_id}/files").json()["files"]
    assert sock.call("delete_message", {"message_id": message_id})["ok"]
    assert_refused(bob.get(room_file["url"]), 404, "FILE_NOT_FOUND")
    assert bob.get(f"/api/rooms/{room_id}/files").json()["files"] == []


# --- clean-up jobs (in this process, on a real data dir) ------------------------------------


def test_orphan_uploads_and_spent_tokens_are_cleaned_up(app):
    now = utcnow()
    kim = User(username="kim", password_hash="!", nickname="kim")
    database.session.add(kim)
    database.session.flush()
    room = Room(name="room", type="group", created_by=kim.id)
    database.session.add(room)
    database.session.flush()
    sent, gone = (Message(room_id=room.id, sender_id=kim.id, content="f", message_type="file") for _ in range(2))
    database.session.add_all([sent, gone])
    database.session.flush()
    gone.deleted_at = now

    def token(name, expires_in, consumed=False):
        return UploadToken(token_hash=name, user_id=kim.id, room_id=room.id, file_path=name, file_name=name,
                           file_type="file", file_size=1, expires_at=now + timedelta(seconds=expires_in),
                           consumed_at=now if consumed else None)

    database.session.add_all([
        RoomFile(room_id=room.id, message_id=sent.id, file_path="sent", file_name="a", file_size=1,
                 file_type="file", uploaded_by=kim.id),
        RoomFile(room_id=room.id, message_id=gone.id, file_path="of-deleted-message", file_name="b",
                 file_size=1, file_type="file", uploaded_by=kim.id),
        token("sent", 60, consumed=True), token("waiting", 60), token("expired", -60),
    ])
    database.session.commit()
    an_hour_ago = time.time() - 3600
    for name in ("sent", "of-deleted-message", "waiting", "expired", "stray", "stray.part", "fresh-stray"):
        (upload_dir() / name).write_bytes(b"x")
        if name != "fresh-stray":  # a file this young may belong to an upload still committing
            os.utime(upload_dir() / name, (an_hour_ago, an_hour_ago))

    assert delete_orphan_uploads(now) == 4
    assert {p.name for p in upload_dir().iterdir()} == {"sent", "waiting", "fresh-stray"}
    assert database.session.get(RoomFile, 2).deleted_at is not None
    assert purge_upload_tokens(now) == 2  # the used one and the expired one
    assert [t.file_path for t in database.session.query(UploadToken)] == ["waiting"]
    assert delete_orphan_uploads(now) == 0 and purge_upload_tokens(now) == 0
