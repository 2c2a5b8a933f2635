"""The update policy a desktop client asks for at start (contract section 9); no sign-in needed."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, request
from packaging.version import InvalidVersion, Version

from messenger import __version__
from messenger.server import settings
from messenger.server.errors import ApiError
from messenger.server.http.updates import latest_versions, repository_dir

bp = Blueprint("client_update", __name__)


def current_release(channel: str) -> dict[str, Any]:
    """What the admin publishes for `channel`: `{minimum_version, latest_version,
    download_url, release_notes_url}`, versions as `Version`.

    The one place the release comes from (the admin's release policy, raised to the
    newest release in the update repository the server serves). A channel without a latest version offers the
    server's own (server and client are one program); canary never offers less than stable.
    """
    policy = settings.get("release_policy")

    def release(name: str) -> dict[str, Any]:
        chosen = policy[name]
        minimum = Version(chosen["minimum_version"])
        latest = Version(chosen["latest_version"] or __version__)
        return {"minimum_version": minimum, "latest_version": max(latest, minimum),
                "download_url": chosen["download_url"], "release_notes_url": chosen["release_notes_url"]}

    answer = release(channel)
    published = _published_latest().get(channel)
    if published is not None and published > answer["latest_version"]:
        answer["latest_version"] = published
    if channel == "canary":
        stable = release("stable")
        if stable["latest_version"] > answer["latest_version"]:
            answer.update(latest_version=stable["latest_version"], download_url=stable["download_url"],
                          release_notes_url=stable["release_notes_url"])
    return answer


def _published_latest() -> dict[str, Version]:
    """The newest version per channel in the update repository the server serves; {} without one."""
    metadata = repository_dir() / "metadata"
    return latest_versions(metadata) if (metadata / "targets.json").exists() else {}


@bp.get("/api/client/update")
def client_update() -> dict[str, Any]:
    """`?client_version&channel=stable|canary`: whether an update exists and whether it is forced
    (the client is older than the channel's minimum version). Versions follow PEP 440."""
    channel = request.args.get("channel") or "stable"
    if channel not in settings.CHANNELS:
        raise ApiError("UPDATE_CHANNEL_INVALID")
    raw = request.args.get("client_version")
    client = None
    if raw:
        try:
            client = Version(raw)
        except InvalidVersion:
            raise ApiError("CLIENT_VERSION_INVALID") from None
    release = current_release(channel)
    return {
        "channel": channel,
        "desktop_only_mode": settings.desktop_only(),
        "minimum_version": str(release["minimum_version"]),
        "latest_version": str(release["latest_version"]),
        "download_url": release["download_url"],
        "release_notes_url": release["release_notes_url"],
        "update_available": client is not None and client < release["latest_version"],
        "force_update": client is not None and client < release["minimum_version"],
    }
