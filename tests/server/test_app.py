"""The app factory: every app `create_app` builds has its own database."""

from harness import PASSWORD

from messenger.server.app import create_app
from messenger.server.config import ServerConfig
from messenger.server.db import database_of


def test_two_apps_in_one_process_each_read_and_write_their_own_database(tmp_path):
    offices = {name: create_app(ServerConfig(data_dir=tmp_path / name, async_mode="threading", testing=True))[0]
               for name in ("north", "south")}
    try:
        tokens = {}
        for name, app in offices.items():
            client = app.test_client()
            reply = client.post("/api/register", json={"username": f"{name}_user", "password": PASSWORD,
                                                       "nickname": name})
            assert reply.status_code == 201, reply.text
            reply = client.post("/api/device-sessions", json={"username": f"{name}_user", "password": PASSWORD,
                                                              "device_name": "desk"})
            assert reply.status_code == 201, reply.text
            tokens[name] = reply.json["device_token"]
            reply = client.post("/api/rooms", json={"name": f"{name} room", "member_ids": []},
                                headers={"Authorization": f"Bearer {tokens[name]}"})
            assert reply.status_code == 201, reply.text
        for name, app in offices.items():
            headers = {"Authorization": f"Bearer {tokens[name]}"}
            client = app.test_client()
            assert [u["username"] for u in client.get("/api/users", headers=headers).json["users"]] == [f"{name}_user"]
            assert [r["name"] for r in client.get("/api/rooms", headers=headers).json["rooms"]] == [f"{name} room"]
            other = "south" if name == "north" else "north"
            # The other office's token names a device session this database never had.
            refused = client.get("/api/users", headers={"Authorization": f"Bearer {tokens[other]}"})
            assert refused.status_code == 401, refused.text
    finally:
        for app in offices.values():
            database_of(app).close()
