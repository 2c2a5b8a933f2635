"""Screenshots of the browser client's main screens: `python build/web_screenshots.py DIR`.

Starts a server of its own on loopback (a temporary data dir), signs in a browser user in
Debian's Chromium (headless, Playwright) and a `messenger chat` user who talks to it, and writes
sign-in.png, chat.png (room list and chat), polls.png, files.png and chat-en.png into DIR.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import struct
import subprocess
import sys
import tempfile
import time
import zlib
from pathlib import Path

import httpx
from playwright.sync_api import sync_playwright

PASSWORD = "Correct-Horse-42-battery"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]


def png(width: int, height: int) -> bytes:
    """A small gradient picture to share."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    rows = b"".join(b"\x00" + b"".join(bytes((x * 255 // width, y * 255 // height, 200)) for x in range(width))
                    for y in range(height))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))


def start_server(data_dir: Path) -> tuple[subprocess.Popen, str]:
    proc = subprocess.Popen([sys.executable, "-m", "messenger", "--serve", "--port", "0", "--data-dir", str(data_dir)],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env={**os.environ, "MESSENGER_ENV": "dev"})
    for line in proc.stdout:
        found = re.search(r"listening on (https?://[\d.]+:\d+)", line)
        if found:
            return proc, found.group(1)
    raise SystemExit("the server did not start")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", type=Path)
    out = parser.parse_args().folder
    out.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="web-shots-"))
    server, url = start_server(work / "server")
    try:
        http = httpx.Client(base_url=url)
        for username, nickname in (("minsu", "김민수"), ("jiyoung", "이지영")):
            http.post("/api/register", json={"username": username, "password": PASSWORD, "nickname": nickname})
        chat_env = {**os.environ, "MESSENGER_CLIENT_HOME": str(work / "desk"),
                    "PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring"}

        def chat(*args: str, stdin: str | None = None) -> str:
            done = subprocess.run([sys.executable, "-m", "messenger", "chat", "--lang", "en-US", *args], input=stdin,
                                  capture_output=True, text=True, env=chat_env, timeout=120)
            if done.returncode:
                raise SystemExit(f"messenger chat {args[0]}: {done.stderr}")
            return done.stdout

        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=shutil.which("chromium") or "/usr/bin/chromium",
                                                 args=CHROMIUM_ARGS)
            page = browser.new_context(locale="ko-KR", viewport={"width": 1280, "height": 800}).new_page()
            page.goto(url + "/")
            page.locator("#sign-in").wait_for()
            page.screenshot(path=str(out / "sign-in.png"))
            page.fill("input[name=username]", "minsu")
            page.fill("input[name=password]", PASSWORD)
            page.click("#sign-in-form button[type=submit]")
            page.locator("#recovery-dialog button").click()

            chat("--server", url, "login", "jiyoung", "--password-stdin", stdin=PASSWORD + "\n")
            chat("send", "@minsu", "민수 씨, 오늘 회의 자료 보셨어요?")
            page.locator("#rooms li").first.click()
            page.locator("#message-list li").first.wait_for()
            page.fill("#text", "네, 방금 봤어요. 3쪽 표는 제가 고칠게요 👍")
            page.press("#text", "Enter")
            page.locator("#message-list li.message:not(.pending)", has_text="3쪽").wait_for()
            chat("send", "@minsu", "좋아요! @김민수 오후 3시에 다시 얘기해요")
            page.locator("#message-list li", has_text="오후 3시").wait_for()
            page.locator("#message-list li").first.hover()
            page.locator("#message-list li").first.locator(".act-like").click()
            time.sleep(1)
            page.screenshot(path=str(out / "chat.png"))

            page.click("#room-poll")
            page.fill("#poll-question", "점심 메뉴는?")
            page.fill("#poll-options", "김치찌개\n비빔밥\n샐러드")
            page.click("#poll-create")
            page.locator("#polls .poll button").first.wait_for()
            page.locator("#polls .poll button").nth(1).click()
            time.sleep(1)
            page.screenshot(path=str(out / "polls.png"))

            (work / "차트.png").write_bytes(png(240, 140))
            (work / "회의록.txt").write_text("회의록\n" * 200, encoding="utf-8")
            chat("send-file", "@minsu", str(work / "차트.png"))
            page.set_input_files("#file-input", str(work / "회의록.txt"))
            page.locator("#message-list img.preview").wait_for(timeout=30_000)
            page.locator("#message-list li", has_text="회의록.txt").wait_for(timeout=30_000)
            time.sleep(1)
            page.screenshot(path=str(out / "files.png"))

            page.evaluate("localStorage.setItem('locale', 'en-US')")
            page.reload()
            page.locator("#rooms li").first.click()
            page.locator("#message-list li").first.wait_for()
            time.sleep(1)
            page.screenshot(path=str(out / "chat-en.png"))
            browser.close()
    finally:
        server.terminate()
        server.wait(15)
        shutil.rmtree(work, ignore_errors=True)
    for name in sorted(out.glob("*.png")):
        print(name)


if __name__ == "__main__":
    main()
