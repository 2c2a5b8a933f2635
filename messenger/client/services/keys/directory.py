"""The server's key directory calls (spec/e2e-keys.md §12)."""

from __future__ import annotations

from typing import Any, Iterable

from messenger.client.services.api import ApiClient, ServerRefused


class KeyDirectory:
    """The server's key directory calls (spec/e2e-keys.md §12) for one signed-in device."""

    def __init__(self, api: ApiClient):
        self.api = api

    def _call(self, method: str, path: str, **kwargs) -> Any:
        # ApiClient has no methods for these calls yet: its one transport gives them the same
        # token handling, rotation retries and errors as every other call.
        return self.api._call(method, path, **kwargs)

    def current_device_session_id(self) -> int:
        return next(row["id"] for row in self.api.device_sessions() if row["is_current"])

    def publish_device_keys(self, encryption_key: str, signing_key: str) -> dict:
        return self._call("PUT", "/api/keys/device", json={"encryption_key": encryption_key,
                                                           "signing_key": signing_key})

    def user_keys(self, user_id: int) -> dict:
        """`{user_id, identity_key, devices}` of a user sharing a room (or oneself)."""
        return self._call("GET", f"/api/keys/users/{user_id}")

    def identity(self) -> dict | None:
        """The caller's `{identity_key, recovery_blob, ...}`, or None when the user has none yet."""
        return self._get_or_none("/api/keys/identity", "IDENTITY_KEY_NOT_FOUND")

    def publish_identity(self, identity_key: str, recovery_blob: str | None = None, replace: bool = False) -> dict:
        body: dict[str, Any] = {"identity_key": identity_key, "replace": replace}
        if recovery_blob is not None:
            body["recovery_blob"] = recovery_blob
        return self._call("PUT", "/api/keys/identity", json=body)

    def sign_device(self, device_id: int, signature: str) -> dict:
        return self._call("PUT", f"/api/keys/devices/{device_id}/signature", json={"signature": signature})

    def room_devices(self, room_id: int) -> list[dict]:
        return self._call("GET", f"/api/rooms/{room_id}/devices")["devices"]

    def key_state(self, room_id: int) -> dict:
        return self._call("GET", f"/api/rooms/{room_id}/keys/state")

    def my_keys(self, room_id: int) -> dict:
        return self._call("GET", f"/api/rooms/{room_id}/keys/mine")

    def share(self, room_id: int, key_version: int, key_id: str, packages: list[tuple[int, str]]) -> dict:
        body = {"key_version": key_version, "key_id": key_id,
                "packages": [{"device_session_id": device, "sealed": sealed} for device, sealed in packages]}
        return self._call("POST", f"/api/rooms/{room_id}/keys", json=body)

    def open_requests(self, room_id: int) -> list[dict]:
        return self._call("GET", f"/api/rooms/{room_id}/keys/requests")["requests"]

    def request(self, room_id: int, versions: Iterable[int]) -> dict:
        return self._call("POST", f"/api/rooms/{room_id}/keys/requests", json={"versions": sorted(versions)})

    def backup(self) -> dict | None:
        return self._get_or_none("/api/keys/backup", "KEY_BACKUP_NOT_FOUND")

    def _get_or_none(self, path: str, missing_code: str) -> dict | None:
        try:
            return self._call("GET", path)
        except ServerRefused as exc:
            if exc.code == missing_code:
                return None
            raise

    def store_backup(self, blob: str, version: int) -> dict:
        return self._call("PUT", "/api/keys/backup", json={"blob": blob, "version": version})


