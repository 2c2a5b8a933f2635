from flask import Blueprint

from messenger import __version__

bp = Blueprint("system", __name__)


@bp.get("/api/system/health")
def health():
    return {"status": "ok", "version": __version__}
