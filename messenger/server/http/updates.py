"""The signed update repository, served read-only from DATA_DIR/updates/{metadata,targets}.

The files are made by `python -m updates.repository publish` and copied here; clients verify
every byte against the TUF signatures, so this route only has to serve them unchanged.
"""

from __future__ import annotations

import json
from pathlib import Path

from flask import Blueprint, Response, abort, current_app, send_from_directory
from packaging.version import Version

bp = Blueprint("updates", __name__)

APP_NAME = "messenger"  # archives are APP_NAME-<version>.tar.gz (updates/repository.py)
CONTENT_TYPES = {".json": "application/json", ".gz": "application/gzip", ".patch": "application/octet-stream"}


def repository_dir() -> Path:
    """DATA_DIR/updates: the folder holding metadata/ and targets/."""
    return Path(current_app.config["MESSENGER"].data_dir) / "updates"


def latest_versions(metadata_dir: Path) -> dict[str, Version]:
    """The newest archive version per channel listed in `metadata_dir/targets.json` (unverified:
    the server only reports what it serves; clients verify signatures themselves). A channel
    without a release is absent; canary includes stable releases."""
    path = Path(metadata_dir) / "targets.json"
    targets = json.loads(path.read_text(encoding="utf-8"))["signed"]["targets"]
    found: dict[str, Version] = {}
    prefix, suffix = f"{APP_NAME}-", ".tar.gz"
    for name in targets:
        if not (name.startswith(prefix) and name.endswith(suffix)):
            continue
        version = Version(name[len(prefix):-len(suffix)])
        for channel in ("canary",) if version.is_prerelease else ("stable", "canary"):
            if channel not in found or version > found[channel]:
                found[channel] = version
    return found


def _serve(folder: str, name: str) -> Response:
    mimetype = CONTENT_TYPES.get(Path(name).suffix)
    if mimetype is None or "/" in name:
        abort(404)
    # send_from_directory refuses paths escaping the folder; max_age 0 so clients see new releases.
    return send_from_directory(repository_dir() / folder, name, mimetype=mimetype, max_age=0)


@bp.get("/updates/metadata/<name>")
def metadata(name: str) -> Response:
    """A TUF metadata file (root.json, N.root.json, timestamp.json, snapshot.json, targets.json)."""
    return _serve("metadata", name)


@bp.get("/updates/targets/<name>")
def targets(name: str) -> Response:
    """An update archive (.tar.gz) or binary patch (.patch)."""
    return _serve("targets", name)
