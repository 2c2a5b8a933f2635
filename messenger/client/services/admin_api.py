"""The platform administration's calls (platform admins only; others get FORBIDDEN), on the
signed-in ApiClient's transport (its token handling, rotation retries and errors)."""

from __future__ import annotations

from typing import Any

from messenger.client.services.api import ApiClient


class AdminApi:
    def __init__(self, api: ApiClient):
        self.api = api

    def users(self, *, status: str | None = None) -> list[dict]:
        """Every account with its `status` (active, disabled, deleted), last seen and live devices."""
        return self.api._call("GET", "/api/admin/users", params={"status": status} if status else None)["users"]

    def create_user(self, username: str, *, nickname: str | None = None, password: str | None = None,
                    is_admin: bool = False) -> dict:
        """Returns `{user, generated_password?}`: without `password` the server makes one,
        answered this once."""
        body: dict[str, Any] = {"username": username, "is_admin": is_admin}
        body.update({k: v for k, v in (("nickname", nickname), ("password", password)) if v})
        return self.api._call("POST", "/api/admin/users", json=body)

    def disable_user(self, user_id: int) -> dict:
        """Stop an account: its devices are signed out at once. Returns `{changed, user}`."""
        return self.api._call("POST", f"/api/admin/users/{user_id}/disable")

    def enable_user(self, user_id: int) -> dict:
        return self.api._call("POST", f"/api/admin/users/{user_id}/enable")

    def reset_password(self, user_id: int) -> dict:
        """A new temporary password, made by the server: `{user, generated_password}`."""
        return self.api._call("POST", f"/api/admin/users/{user_id}/reset-password", json={})

    def delete_user(self, user_id: int) -> dict:
        return self.api._call("DELETE", f"/api/admin/users/{user_id}")

    def device_sessions(self, *, user_id: int | None = None) -> list[dict]:
        """Everyone's live device sessions (or one user's), each with `user_id` and `username`."""
        params = {"user_id": user_id} if user_id is not None else None
        return self.api._call("GET", "/api/admin/device-sessions", params=params)["sessions"]

    def revoke_device_session(self, session_id: int) -> bool:
        """Sign any device out; True if it was this one (then forgotten here)."""
        current = self.api._call("DELETE", f"/api/admin/device-sessions/{session_id}")["current_revoked"]
        if current:
            self.api.session_over()
        return current

    def settings(self) -> dict:
        """`{settings, desktop_only_mode, mode_forced_by_environment}`."""
        return self.api._call("GET", "/api/admin/settings")

    def update_settings(self, changes: dict) -> dict:
        """Replace the settings named in `changes` (all checked before any is stored)."""
        return self.api._call("PUT", "/api/admin/settings", json=changes)

    def audit(self, *, limit: int = 100, offset: int = 0, user_id: int | None = None,
              actions: list[str] | None = None) -> list[dict]:
        """The security log, newest first."""
        params: dict[str, Any] = {"limit": limit, "offset": offset}
        if user_id is not None:
            params["user_id"] = user_id
        if actions:
            params["action"] = ",".join(actions)
        return self.api._call("GET", "/api/admin/audit", params=params)["entries"]
