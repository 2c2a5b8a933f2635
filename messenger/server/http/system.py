from flask import Blueprint, current_app

from messenger import __version__
from messenger.server import settings, tls
from messenger.server.errors import ApiError

bp = Blueprint("system", __name__)


@bp.get("/api/system/health")
def health():
    """No sign-in needed: desktop clients also learn here whether they may offer registration."""
    return {"status": "ok", "version": __version__, "self_registration": bool(settings.get("self_registration"))}


@bp.get("/api/system/next-certificate")
def next_certificate():
    """No sign-in needed: the certificate the server switches to next, vouched for by the key
    of the one it presents now, so that desks which pinned this one move over silently."""
    config = current_app.config["MESSENGER"]
    published = tls.next_certificate(config) if config.https else None
    if published is None:
        raise ApiError("NOT_FOUND", detail="no certificate renewal is prepared")
    return published
