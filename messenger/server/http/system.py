from flask import Blueprint

from messenger import __version__
from messenger.server import settings

bp = Blueprint("system", __name__)


@bp.get("/api/system/health")
def health():
    """No sign-in needed: desktop clients also learn here whether they may offer registration."""
    return {"status": "ok", "version": __version__, "self_registration": bool(settings.get("self_registration"))}
