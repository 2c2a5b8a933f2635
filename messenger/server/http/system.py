from pathlib import Path
from typing import Any

from flask import Blueprint, Response, current_app, send_file

from messenger import __version__
from messenger.server import settings, tls
from messenger.server.errors import ApiError

bp = Blueprint("system", __name__)

# spec/openapi.yaml as JSON (build/openapi_json.py writes it; a test keeps it equal to the YAML).
API_DESCRIPTION = Path(__file__).with_name("openapi.json")


@bp.get("/api/system/health")
def health() -> dict[str, Any]:
    """No sign-in needed: desktop clients also learn here whether they may offer registration, and
    the browser client the upload limit (it refuses a larger file before sending anything)."""
    return {"status": "ok", "version": __version__, "self_registration": bool(settings.get("self_registration")),
            "max_upload_bytes": current_app.config["MESSENGER"].max_upload_bytes}


@bp.get("/api/openapi.json")
def api_description() -> Response:
    """The OpenAPI 3.1 description of every route; no sign-in needed (it holds no secrets)."""
    return send_file(API_DESCRIPTION, mimetype="application/json", max_age=0)


@bp.get("/api/system/next-certificate")
def next_certificate() -> dict[str, Any]:
    """No sign-in needed: the certificate the server switches to next, vouched for by the key
    of the one it presents now, so that desks which pinned this one move over silently."""
    config = current_app.config["MESSENGER"]
    published = tls.next_certificate(config) if config.https else None
    if published is None:
        raise ApiError("NOT_FOUND", detail="no certificate renewal is prepared")
    return published
