"""The browser client against a real server: a browser user and a desktop user (the desktop
app's own services, in this process) talk both ways in an end-to-end encrypted room."""

from __future__ import annotations

import re
import sqlite3
import struct
import time
import zlib
from pathlib import Path

import pytest
from playwright.sync_api import expect

from e2e.chat_kit import Device, register, wait_until
from harness import PASSWORD, ServerProcess
from messenger.client.services.messages import ContentState, fetch_file, read_message, share_file, send_text
from messenger.server.web import CONTENT_SECURITY_POLICY
from server.test_import_v4 import data_dir_bytes



def png(width: int = 8, height: int = 8) -> bytes:
    """A real PNG (red), so that the browser can draw its preview."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    rows = b"".join(b"\x00" + b"\xff\x00\x00" * width for _ in range(height))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))


PNG = png()


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """A server of this module's own, E2E required (its default): nothing but ciphertext is taken.
    Small uploads, so that a file over the limit is cheap to make."""
    proc = ServerProcess(tmp_path_factory.mktemp("web-server"), config="max_upload_bytes = 200000\n").start()
    yield proc
    proc.stop()


def sign_in(page, username: str) -> None:
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", PASSWORD)
    page.click("#sign-in-form button[type=submit]")
    expect(page.locator("#main")).to_be_visible(timeout=20_000)


def message(page, text: str):
    return page.locator("#message-list li.message", has_text=text)


def by_id(page, message_id: int):
    return page.locator(f"#message-list li[data-id='{message_id}']")


def browser_and_desk(server, new_page, tmp_path):
    """A browser user (her first device, its recovery key dismissed) and a desk user online, with
    a direct room of theirs: (page, desk, the desk user's name, the browser user's id, room id)."""
    alice, bob = register(server), register(server)
    page = new_page(server.url + "/")
    sign_in(page, alice)
    page.click("#recovery-dialog button")
    desk = Device(server, tmp_path / "bob", bob).online()
    alice_id = next(u["id"] for u in desk.api.users() if u["username"] == alice)
    return page, desk, bob, alice_id, desk.api.create_room([alice_id])["room_id"]


def test_the_page_is_the_servers_own_code_under_a_strict_policy(server, new_page):
    page = new_page(server.url + "/")
    answer = page.request.get(server.url + "/")
    policy = answer.headers["content-security-policy"]
    assert policy == CONTENT_SECURITY_POLICY
    assert "unsafe-inline" not in policy and "unsafe-eval" not in policy and "script-src 'self'" in policy
    expect(page.locator("#sign-in")).to_be_visible()
    loaded = page.evaluate("performance.getEntriesByType('resource').map((e) => e.name)")
    assert loaded and all(url.startswith(server.url) for url in loaded)


def test_a_browser_and_a_desk_talk_end_to_end_encrypted(server, new_page, tmp_path):
    alice, bob = register(server), register(server)
    page = new_page(server.url + "/")
    sign_in(page, alice)
    # Alice's first device: the browser made her identity and shows its recovery key once.
    expect(page.locator("#recovery-key")).to_have_text(re.compile(r"^([A-Z2-7]{4} ){7}[A-Z2-7]{4}$"))
    page.click("#recovery-dialog button")
    desk = Device(server, tmp_path / "bob", bob).online()
    try:
        alice_id = next(u["id"] for u in desk.api.users() if u["username"] == alice)
        room_id = desk.api.create_room([alice_id])["room_id"]
        typing_seen = []
        desk.realtime.on("user_typing", typing_seen.append)

        # desk -> browser
        first = desk.send(room_id, "hello from the desk 안녕")
        page.locator(f"#rooms li[data-room-id='{room_id}']").click()
        expect(message(page, "hello from the desk 안녕")).to_be_visible(timeout=20_000)

        # browser -> desk, as a reply, while the desk sees it typing
        message(page, "hello from the desk").hover()
        message(page, "hello from the desk").locator(".act-reply").click()
        page.locator("#text").press_sequentially("hi desk, from the browser")
        wait_until(lambda: any(e["is_typing"] and e["room_id"] == room_id for e in typing_seen), 15)
        page.locator("#text").press("Enter")

        def desk_reads(text):
            return next((m for m, r in [(m, read_message(desk.keys, m)) for m in desk.api.messages(room_id)["messages"]]
                         if r.state is ContentState.READABLE and r.text == text), None)

        from_browser = wait_until(lambda: desk_reads("hi desk, from the browser"), 20)
        assert from_browser["reply_to"] == first and from_browser["encrypted"]
        # signed by the browser (v5): the desk checked it and marks nothing; the desk's v5 alike
        assert from_browser["content"].startswith("v5:")
        assert read_message(desk.keys, from_browser).signed and read_message(desk.keys, from_browser).mark is None
        expect(by_id(page, first)).to_have_class(re.compile("readable"))
        expect(by_id(page, first).locator(".not-signed")).to_have_count(0)
        expect(message(page, "hi desk, from the browser").locator(".state")).to_have_count(0)

        # the desk types, replies and reacts; the browser shows each
        desk.realtime.set_typing(room_id, True)
        expect(page.locator("#typing")).to_contain_text(bob)
        reply = send_text(desk.keys, desk.realtime, room_id, "got it", reply_to=from_browser["id"])["message_id"]
        expect(by_id(page, reply).locator(".reply")).to_contain_text("hi desk, from the browser")
        desk.api.toggle_reaction(from_browser["id"], "❤️")
        expect(by_id(page, from_browser["id"]).locator(".reactions")).to_contain_text("❤️ 1")

        # read counts both ways: the browser read the desk's messages (it has the room open) ...
        wait_until(lambda: next(m for m in desk.api.messages(room_id)["messages"] if m["id"] == reply)["read_count"] == 1)
        # ... and the desk reads the browser's
        desk.realtime.mark_read(room_id, reply)
        expect(by_id(page, from_browser["id"]).locator(".read-count")).to_have_text(re.compile("read 1"))

        # the browser reacts to, edits and deletes; the desk sees each
        by_id(page, reply).hover()
        by_id(page, reply).locator(".act-like").click()
        wait_until(lambda: any(r["emoji"] == "👍" and r["count"] == 1 for r in desk.api.reactions(reply)))
        by_id(page, from_browser["id"]).hover()
        by_id(page, from_browser["id"]).locator(".act-edit").click()
        page.fill("#text", "hi desk, edited in the browser")
        page.locator("#text").press("Enter")
        edited = wait_until(lambda: desk_reads("hi desk, edited in the browser"), 20)
        assert edited["id"] == from_browser["id"] and edited["edited_at"] and read_message(desk.keys, edited).signed
        page.locator("#text").fill("this one goes away")
        page.locator("#text").press("Enter")
        doomed = wait_until(lambda: desk_reads("this one goes away"), 20)
        by_id(page, doomed["id"]).hover()
        by_id(page, doomed["id"]).locator(".act-delete").click()
        wait_until(lambda: next(m for m in desk.api.messages(room_id)["messages"] if m["id"] == doomed["id"])["deleted"])
        expect(by_id(page, doomed["id"])).to_contain_text("deleted")
        # the desk edits and deletes too
        desk.api.edit_message(first, desk.keys.encrypt(room_id, "hello, edited on the desk", edit_of=first), encrypted=True)
        expect(by_id(page, first)).to_contain_text("hello, edited on the desk")
        expect(by_id(page, first).locator(".edited")).to_be_visible()

        # files both ways: the desk's image is previewed, the browser's file opens on the desk
        share_file(desk.keys, desk.api, desk.realtime, room_id, PNG, "점.png")
        expect(message(page, "점.png").locator("img.preview")).to_be_visible(timeout=20_000)
        with page.expect_download() as download:
            message(page, "점.png").locator("button.download").click()
        assert Path(download.value.path()).read_bytes() == PNG and download.value.suggested_filename == "점.png"
        report = tmp_path / "보고서.txt"
        report.write_bytes("분기 보고서 contents\n".encode() * 50)
        page.set_input_files("#file-input", str(report))
        shared = wait_until(lambda: next((m for m in desk.api.messages(room_id)["messages"]
                                          if m["message_type"] == "file"), None), 20)
        received = fetch_file(desk.api, shared, keys=desk.keys)
        assert (received.name, received.data) == ("보고서.txt", report.read_bytes())
        assert read_message(desk.keys, shared).signed  # signed as a file, as the server shows it

        # a file over the limit is refused before anything is sent
        uploads = []
        page.on("request", lambda request: uploads.append(request.url) if "/api/upload" in request.url else None)
        big = tmp_path / "big.bin"
        big.write_bytes(b"x" * 200_000)
        page.set_input_files("#file-input", str(big))
        expect(page.locator("#upload-status")).to_contain_text("too large")
        assert uploads == []

        # the browser is a device of its own in the session list
        alice_desk = Device(server, tmp_path / "alice-desk", alice)
        try:
            kinds = {s["kind"] for s in alice_desk.api.device_sessions()}
            assert kinds == {"browser", "desktop"}
        finally:
            alice_desk.close()
    finally:
        desk.close()
    assert page.errors == []

    # what they said is stored as ciphertext only
    time.sleep(1)  # the WAL holds the last commits
    stored = data_dir_bytes(server.data_dir)  # the database with its WAL, the uploads
    for said in ("hello from the desk 안녕", "hi desk, from the browser", "got it", "edited in the browser",
                 "this one goes away", "점.png", "보고서", "분기 보고서 contents"):
        assert said.encode() not in stored, said
    assert PNG[16:] not in stored


def test_a_tampered_envelope_shows_as_tampered_never_as_text(server, new_page, tmp_path):
    """A changed envelope, one shown as another sender's and one the server sends again each
    show why they are not shown, never their text."""
    page, desk, _, alice_id, room_id = browser_and_desk(server, new_page, tmp_path)
    try:
        message_id = desk.send(room_id, "the real words")
        lunch, code = desk.send(room_id, "lunch at noon"), desk.send(room_id, "the code is 4417")
        # an earlier desk's unsigned v3 envelope: readable, marked "not signed" as on the desktop
        unsigned = desk.realtime.send_message(room_id, desk.keys.keyring(room_id).encrypt("an unsigned one"),
                                              encrypted=True, client_msg_id="unsigned-v3")["message_id"]
    finally:
        desk.close()
    with sqlite3.connect(server.data_dir / "messenger.db") as db:
        (content,) = db.execute("SELECT content FROM messages WHERE id = ?", (message_id,)).fetchone()
        at = len(content) - 5
        changed = content[:at] + ("A" if content[at] != "A" else "B") + content[at + 1:]
        db.execute("UPDATE messages SET content = ? WHERE id = ?", (changed, message_id))
        db.execute("UPDATE messages SET sender_id = ? WHERE id = ?", (alice_id, lunch))
        replayed = db.execute(
            "INSERT INTO messages (room_id, sender_id, content, encrypted, message_type, created_at) "
            "SELECT room_id, sender_id, content, encrypted, message_type, created_at FROM messages WHERE id = ?",
            (code,)).lastrowid
    page.reload()  # what the server serves from now on (the live event carried the real one)
    page.locator(f"#rooms li[data-room-id='{room_id}']").click()
    shown = page.locator(f"#message-list li[data-id='{message_id}']")
    expect(shown).to_have_class(re.compile("tampered"))
    expect(shown).to_contain_text("tampered")
    expect(by_id(page, lunch)).to_contain_text("The server changed its sender or its reply or edit target")
    expect(by_id(page, replayed)).to_contain_text("The server sent an earlier message again")
    expect(by_id(page, code)).to_contain_text("the code is 4417")
    assert "the real words" not in page.content() and "lunch at noon" not in page.content()
    expect(by_id(page, unsigned)).to_contain_text("an unsigned one")
    expect(by_id(page, unsigned).locator(".not-signed")).to_contain_text("Not signed")
    expect(by_id(page, message_id).locator(".not-signed")).to_have_count(0)


def test_desktop_only_signs_the_browser_out_at_once(server, new_page):
    alice = register(server)
    page = new_page(server.url + "/")
    sign_in(page, alice)
    page.click("#recovery-dialog button")
    try:
        server.admin("set-mode", "desktop-only")
        # The running server notices the command-line change within its sweep (2 s) and closes the socket.
        expect(page.locator("#sign-in")).to_be_visible(timeout=10_000)
        expect(page.locator("#sign-in-reason")).to_contain_text("desktop-only")
        refused = page.evaluate("fetch('/api/rooms').then(async (r) => [r.status, (await r.json()).error_code])")
        assert refused == [403, "BROWSER_ACCESS_DISABLED"]
        page.goto(server.url + "/")
        expect(page.locator("#minimum-version")).to_be_visible()
        assert page.request.get(server.url + "/web/app.js").status == 403
    finally:
        server.admin("set-mode", "hybrid")
    # Back in hybrid mode the old browser session stays signed out: it was revoked, not paused.
    assert page.evaluate("fetch('/api/me').then((r) => r.status)") == 401


def test_an_expired_session_returns_to_sign_in_with_a_reason(server, new_page):
    alice = register(server)
    page = new_page(server.url + "/", locale="ko-KR")
    sign_in(page, alice)
    page.click("#recovery-dialog button")
    with sqlite3.connect(server.data_dir / "messenger.db") as db:
        db.execute("UPDATE device_sessions SET expires_at = '2000-01-01 00:00:00.000000' "
                   "WHERE kind = 'browser' AND user_id = (SELECT id FROM users WHERE username = ?)", (alice,))
    # Any request now finds the sign-in ended (dispatched: the server's sweep may have ended it first).
    page.locator("#new-conversation").dispatch_event("click")
    expect(page.locator("#sign-in")).to_be_visible(timeout=10_000)
    expect(page.locator("#sign-in-reason")).to_contain_text("만료")  # the server's reason, in Korean
    expect(page.locator("#sign-in-form button[type=submit]")).to_have_text("로그인")


def test_groups_history_unread_pins_polls_notices_and_a_second_browser(server, new_page, tmp_path):
    alice, bob, carol = register(server), register(server), register(server)
    page = new_page(server.url + "/")
    sign_in(page, alice)
    recovery_key = page.inner_text("#recovery-key")
    page.click("#recovery-dialog button")
    desk = Device(server, tmp_path / "bob", bob).online()
    try:
        # a group, started in the browser
        page.click("#new-conversation")
        page.fill("#people-filter", bob)
        page.locator("#people li:not([hidden]) input").check()
        page.fill("#people-filter", carol)
        page.locator("#people li:not([hidden]) input").check()
        page.fill("#group-name", "설계팀")
        page.click("#start-conversation")
        expect(page.locator("#room-title")).to_have_text("설계팀")
        group = next(r for r in desk.api.rooms() if r["name"] == "설계팀")
        assert group["type"] == "group" and group["member_count"] == 3
        expect(page.locator("#room-presence")).to_contain_text(bob)

        # history pages: the newest 50, then the older ones
        sent = [desk.send(group["id"], f"line {n}") for n in range(60)]
        expect(by_id(page, sent[-1])).to_be_visible(timeout=30_000)
        page.reload()
        page.locator(f"#rooms li[data-room-id='{group['id']}']").click()
        expect(page.locator("#message-list li.message")).to_have_count(50)
        page.click("#older")
        expect(page.locator("#message-list li.message")).to_have_count(60)
        expect(page.locator("#older")).to_be_hidden()
        expect(by_id(page, sent[0])).to_contain_text("line 0")

        # a notice and a poll, made in the browser, reach the desk; the desk's vote is counted
        by_id(page, sent[3]).hover()
        by_id(page, sent[3]).locator(".act-notice").click()
        expect(page.locator("#notices")).to_contain_text("line 3")
        assert [n["message_id"] for n in desk.api.notices(group["id"])] == [sent[3]]
        page.click("#room-poll")
        page.fill("#poll-question", "점심?")
        page.fill("#poll-options", "국수\n김밥")
        page.click("#poll-create")
        expect(page.locator("#polls .poll")).to_contain_text("점심?")
        poll = desk.api.polls(group["id"])[0]
        desk.api.vote(poll["id"], [poll["options"][1]["id"]])
        expect(page.locator("#polls .poll button").nth(1)).to_have_text("김밥 — 1")

        # unread counts, pins and mutes in the room list
        alice_id = next(u["id"] for u in desk.api.users() if u["username"] == alice)
        dm = desk.api.create_room([alice_id])["room_id"]
        desk.send(dm, "one")
        mention = desk.send(dm, f"two, @{alice} look")
        expect(page.locator(f"#rooms li[data-room-id='{dm}'] .unread")).to_have_text("2")
        page.locator(f"#rooms li[data-room-id='{dm}']").click()
        expect(page.locator(f"#rooms li[data-room-id='{dm}'] .unread")).to_have_count(0)
        expect(by_id(page, mention).locator(".mention")).to_have_text(f"@{alice}")
        page.click("#room-pin")
        page.click("#room-mute")
        expect(page.locator(f"#rooms li[data-room-id='{dm}'] .flags").first).to_have_text("📌🔕")
        flags = page.evaluate(f"fetch('/api/rooms').then((r) => r.json()).then((b) => b.rooms.find((r) => r.id === {dm}))")
        assert (flags["pinned"], flags["muted"], flags["unread_count"]) == (True, True, 0)

        # a second browser of Alice waits unapproved, then approves itself with the recovery key
        # and gets the history from the devices that hold it
        second = new_page(server.url + "/", locale="ko-KR")
        sign_in(second, alice)
        expect(second.locator("#device-banner")).to_be_visible()
        expect(second.locator("#device-banner-text")).to_contain_text(re.compile(r"\d{5} \d{5} \d{5}"))
        second.locator(f"#rooms li[data-room-id='{dm}']").click()
        second.fill("#text", "from the second browser")
        second.press("#text", "Enter")  # refused: nobody would take an unapproved device's keys
        unsent = second.locator("#message-list li.failed", has_text="from the second browser")
        expect(unsent).to_contain_text("E2E_DEVICE_UNVERIFIED")
        second.fill("#recovery-input", "AAAA " * 8)
        second.click("#recovery-form button")
        expect(second.locator("#recovery-error")).not_to_be_empty()
        second.fill("#recovery-input", recovery_key.lower())
        second.click("#recovery-form button")
        expect(second.locator("#device-banner")).to_be_hidden()
        expect(second.locator("#message-list li.message", has_text="two")).to_be_visible(timeout=30_000)
        unsent.locator("button.retry").click()
        wait_until(lambda: any(read_message(desk.keys, m).text == "from the second browser"
                               for m in desk.api.messages(dm)["messages"]), 20)
        expect(second.locator("#message-list li.failed")).to_have_count(0)

        # signing out forgets this browser's keys (a shared computer keeps nothing)
        second.click("#sign-out")
        expect(second.locator("#sign-in")).to_be_visible()
        left = second.evaluate("""async (userId) => { const store = await import('/web/store.js');
            return [await store.get(`identity:${userId}`), await store.get(`rooms:${userId}`)]; }""",
                               alice_id)
        assert left == [None, None]
        assert second.evaluate("fetch('/api/me').then((r) => r.status)") == 401
    finally:
        desk.close()
    assert page.errors == []


def test_the_browser_approves_a_new_desk_of_its_user_by_its_code(server, new_page, tmp_path):
    alice = register(server)
    page = new_page(server.url + "/")
    sign_in(page, alice)
    page.click("#recovery-dialog button")
    desk = Device(server, tmp_path / "alice-desk", alice)  # the identity is in the browser: unverified
    try:
        assert desk.keys.verified is False
        expect(page.locator("#approve-banner")).to_be_visible()
        expect(page.locator("#approve-device")).to_have_value(str(desk.keys.device_session_id))
        page.fill("#approve-code", "12345 67890 12345")
        page.click("#approve-form button")
        expect(page.locator("#approve-error")).to_contain_text("nothing was approved")
        assert desk.keys.refresh_verified() is False
        page.fill("#approve-code", desk.keys.verification_code())
        page.click("#approve-form button")
        expect(page.locator("#approve-banner")).to_be_hidden()
        assert desk.keys.refresh_verified() is True
    finally:
        desk.close()
    assert page.errors == []


# Playwright cannot see native notifications: the page's constructor calls are recorded instead.
RECORD_NOTIFICATIONS = """
    window.shownNotifications = [];
    const Real = window.Notification;
    window.Notification = class extends Real {
      constructor(title, options = {}) {
        window.shownNotifications.push({ title, body: options.body, tag: options.tag });
        super(title, options);
      }
    };"""


def test_notifications_for_rooms_not_in_view_none_for_muted_ones(server, new_page, tmp_path):
    alice, bob, carol = register(server), register(server), register(server)
    page = new_page(server.url + "/")
    page.context.grant_permissions(["notifications"], origin=server.url)
    page.context.add_init_script(RECORD_NOTIFICATIONS)
    page.reload()
    sign_in(page, alice)
    page.click("#recovery-dialog button")
    desk = Device(server, tmp_path / "bob", bob).online()
    try:
        ids = {u["username"]: u["id"] for u in desk.api.users()}
        in_view = desk.api.create_room([ids[alice]])["room_id"]
        elsewhere = desk.api.create_room([ids[alice], ids[carol]], name="elsewhere")["room_id"]
        muted = desk.api.create_room([ids[alice], ids[carol]], name="muted")["room_id"]
        page.locator(f"#rooms li[data-room-id='{muted}']").click()
        page.click("#room-mute")
        expect(page.locator(f"#rooms li[data-room-id='{muted}'] .flags").first).to_have_text("🔕")
        page.locator(f"#rooms li[data-room-id='{in_view}']").click()
        expect(page.locator("#room-title")).to_have_text(bob)

        def shown():
            return page.evaluate("window.shownNotifications")

        # The room's first message comes before its key (held back here for a second): its
        # notification waits for the key and shows the text, not "waiting for keys".
        keys_of_elsewhere = f"**/api/rooms/{elsewhere}/keys/mine"
        page.route(keys_of_elsewhere, lambda route: time.sleep(1.0) or route.continue_())
        desk.send(elsewhere, "the key arrives after me")
        wait_until(lambda: shown(), 20)
        page.unroute(keys_of_elsewhere)
        assert [n["body"] for n in shown()] == ["the key arrives after me"]
        page.evaluate("window.shownNotifications = []")
        desk.send(in_view, "seen in the open room")
        desk.send(muted, "quiet please")
        desk.send(elsewhere, "over here 여기")
        expect(page.locator(f"#rooms li[data-room-id='{elsewhere}'] .unread")).to_have_text("2", timeout=20_000)
        wait_until(lambda: shown(), 10)
        desk.send(elsewhere, "and again")  # after the muted one: had it notified, it would be seen by now
        wait_until(lambda: len(shown()) >= 2, 10)
        assert [n["body"] for n in shown()] == ["over here 여기", "and again"]
        assert {(n["title"], n["tag"]) for n in shown()} == {(bob, f"room-{elsewhere}")}
    finally:
        desk.close()
    assert page.errors == []


def test_a_contacts_changed_identity_is_warned_of_in_the_room_until_trusted(server, new_page, tmp_path):
    page, desk, bob, alice_id, room_id = browser_and_desk(server, new_page, tmp_path)
    try:
        before = desk.send(room_id, "before the change")
        page.locator(f"#rooms li[data-room-id='{room_id}']").click()
        expect(by_id(page, before)).to_contain_text("before the change")
        expect(page.locator("#identity-banner")).to_be_hidden()

        # bob lost his desk and his recovery key: a new desk, a new identity
        desk.close()
        desk = Device(server, tmp_path / "bob-new", bob).online()
        desk.keys.reset_identity()
        after = desk.send(room_id, "after the change")
        # refused (its device is not signed by the identity pinned here), and the room says why
        expect(by_id(page, after)).to_have_class(re.compile("tampered"))
        expect(page.locator("#identity-banner")).to_be_visible()
        expect(page.locator("#identity-text")).to_contain_text(bob)
        expect(page.locator("#safety-number")).to_have_text(desk.keys.safety_number(alice_id))
        # the warning stays with the room: shown again when it is opened again
        page.reload()
        page.locator(f"#rooms li[data-room-id='{room_id}']").click()
        expect(page.locator("#identity-banner")).to_be_visible()
        # the numbers match: trusted, and the new message reads
        page.click("#identity-trust")
        expect(page.locator("#identity-banner")).to_be_hidden()
        expect(by_id(page, after)).to_contain_text("after the change")
        expect(by_id(page, after)).to_have_class(re.compile("readable"))
        # what bob's old desk signed under the identity trusted then still reads as his
        page.reload()
        page.locator(f"#rooms li[data-room-id='{room_id}']").click()
        expect(by_id(page, before)).to_contain_text("before the change")
        expect(by_id(page, before)).to_have_class(re.compile("readable"))
    finally:
        desk.close()
    assert page.errors == []
