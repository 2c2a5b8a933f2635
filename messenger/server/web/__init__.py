"""The browser client of hybrid mode: static files served at `/` and `/web/...`.

The files are plain ES modules with no build step and no third-party code (spec/e2e.md §9
says what a page the server serves can and cannot protect). In desktop-only mode `/` is the
contract's page (minimum and latest version, where to download the app) and the files are
refused like every other browser route.
"""

from __future__ import annotations

from html import escape
from pathlib import Path

from flask import Blueprint, Response, request, send_from_directory

from messenger.core.errors import localized, pick_locale
from messenger.server import settings
from messenger.server.errors import ApiError
from messenger.server.http.client_update import current_release

STATIC_DIR = Path(__file__).parent / "static"
# Only the page's own files run: no inline script or style, no eval, nothing from elsewhere.
# 'self' in connect-src covers the same host's ws:/wss: (CSP Level 3).
CONTENT_SECURITY_POLICY = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' blob:; "
                           "connect-src 'self'; font-src 'self'; manifest-src 'self'; base-uri 'none'; "
                           "form-action 'self'; frame-ancestors 'none'")

bp = Blueprint("web", __name__)


@bp.after_request
def _page_headers(response: Response) -> Response:
    response.headers["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "no-referrer"
    # The page is the server's code: always fetched again, so a fixed server fixes every browser.
    response.headers["Cache-Control"] = "no-cache"
    return response


@bp.get("/")
def index() -> Response:
    if settings.desktop_only():
        return _desktop_only_page()
    return send_from_directory(STATIC_DIR, "index.html")


@bp.get("/web/<path:name>")
def static_file(name: str) -> Response:
    if settings.desktop_only():
        raise ApiError("BROWSER_ACCESS_DISABLED")
    return send_from_directory(STATIC_DIR, name)


def _desktop_only_page() -> Response:
    """What a browser sees on a desktop-only server: why, and where to get the app."""
    locale = pick_locale(None, request.args.get("lang"), request.headers.get("Accept-Language"))
    release = current_release("stable")
    korean = locale == "ko-KR"
    download = release["download_url"]
    link = (f'<p><a href="{escape(download)}">{"데스크톱 앱 내려받기" if korean else "Download the desktop app"}</a></p>'
            if download else f'<p>{"관리자에게 설치 파일을 문의하세요." if korean else "Ask your administrator for the installer."}</p>')
    body = (f'<!doctype html><html lang="{"ko" if korean else "en"}"><head><meta charset="utf-8">'
            f'<title>Messenger</title></head><body><main><h1>Messenger</h1>'
            f'<p id="reason">{escape(localized("BROWSER_ACCESS_DISABLED", locale))}</p>'
            f'<p>{"최소 버전" if korean else "Minimum version"}: <span id="minimum-version">'
            f'{escape(str(release["minimum_version"]))}</span></p>'
            f'<p>{"최신 버전" if korean else "Latest version"}: <span id="latest-version">'
            f'{escape(str(release["latest_version"]))}</span></p>{link}</main></body></html>')
    return Response(body, mimetype="text/html")
