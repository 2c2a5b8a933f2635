"""An office moved from v4: the browser reads the old system's v1/v2 history once the admin
releases the legacy keys, marked as legacy, and v4's one plaintext message as not encrypted."""

from __future__ import annotations

from playwright.sync_api import expect

from harness import PASSWORD, ServerProcess
from server.test_import_v4 import admin, expected_messages, import_args


def test_the_browser_reads_v4_history_after_the_legacy_keys_are_released(new_page, tmp_path):
    data_dir, escrow = tmp_path / "data", tmp_path / "escrow.key"
    admin(data_dir, *import_args(escrow=escrow))
    server = ServerProcess(data_dir).start()
    try:
        page = new_page(server.url + "/")
        page.fill("input[name=username]", "minji")
        page.fill("input[name=password]", PASSWORD)
        page.click("#sign-in-form button[type=submit]")
        page.click("#recovery-dialog button")
        page.locator("#rooms li[data-room-id='1']").click()
        texts = [m for m in expected_messages(1) if m["text"] is not None]
        legacy = next(m for m in texts if m["legacy_envelope"])
        shown = page.locator(f"#message-list li[data-id='{legacy['id']}']")
        expect(shown).to_contain_text("Waiting for keys")

        admin(data_dir, "release-legacy-keys", "--escrow-key-file", escrow)
        expect(shown).to_contain_text(legacy["text"], timeout=30_000)
        for message in texts:
            item = page.locator(f"#message-list li[data-id='{message['id']}']")
            expect(item.locator(".body")).to_have_text(message["text"])
            expect(item.locator(".warn")).to_have_text("From the old system" if message["legacy_envelope"]
                                                        else "⚠ Not encrypted")
        assert page.errors == []
    finally:
        server.stop()
