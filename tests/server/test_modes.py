"""Cutover modes and the update policy (contract section 9)."""

import pytest
import socketio

from harness import PASSWORD, Socket, login, register_and_login
from test_admin import cli

# Routes a browser session used in hybrid mode; desktop-only must refuse every one of them.
BROWSER_ROUTES = [
    ("GET", "/api/me"),
    ("GET", "/api/users"),
    ("GET", "/api/rooms"),
    ("GET", "/api/device-sessions"),
    ("GET", "/api/events?after=0"),
    ("GET", "/api/security/audit"),
    ("PUT", "/api/profile"),
    ("GET", "/api/admin/settings"),
]


def browser_login(srv, username: str, password: str = PASSWORD):
    """A cookie session, as the browser UI gets it in hybrid mode; returns (client, csrf token)."""
    browser = srv.api()
    reply = browser.post("/api/login", json={"username": username, "password": password})
    assert reply.status_code == 200, reply.text
    return browser, reply.json()["csrf_token"]


def cookie_socket(srv, browser) -> Socket:
    return Socket(srv.url, None, headers={"Cookie": f"messenger_session={browser.cookies['messenger_session']}"})


def assert_browser_refused(srv, browser, csrf):
    for method, path in BROWSER_ROUTES:
        reply = browser.request(method, path, json={"status_message": "x"} if method == "PUT" else None,
                                headers={"X-CSRFToken": csrf})
        assert reply.status_code == 403 and reply.json()["error_code"] == "BROWSER_ACCESS_DISABLED", path
    with pytest.raises(socketio.exceptions.ConnectionError):
        cookie_socket(srv, browser)
    relogin = srv.api().post("/api/login", json={"username": "admin", "password": srv.first_admin_password})
    assert relogin.status_code == 403 and relogin.json()["error_code"] == "BROWSER_ACCESS_DISABLED"


def test_switching_to_desktop_only_at_run_time_refuses_an_existing_cookie_everywhere(fresh_server):
    srv = fresh_server()
    desktop_admin = login(srv, "admin", srv.first_admin_password)
    alice = register_and_login(srv)
    browser, csrf = browser_login(srv, "admin", srv.first_admin_password)  # the admin's browser UI
    for method, path in BROWSER_ROUTES:
        reply = browser.request(method, path, json={"status_message": "hi"} if method == "PUT" else None,
                                headers={"X-CSRFToken": csrf})
        assert reply.status_code == 200, path
    sock = cookie_socket(srv, browser)

    switched = browser.put("/api/admin/settings", json={"mode": "desktop-only"}, headers={"X-CSRFToken": csrf})
    assert switched.status_code == 200 and switched.json()["desktop_only_mode"] is True
    assert sock.wait_for("session_revoked")["reason"] == "browser_access_disabled"
    assert_browser_refused(srv, browser, csrf)
    assert alice.get("/api/me").status_code == 200  # desktop devices are unaffected
    assert Socket(srv.url, alice.token).connected
    assert srv.api().get("/api/client/update").json()["desktop_only_mode"] is True

    back = desktop_admin.put("/api/admin/settings", json={"mode": "hybrid"})
    assert back.json()["desktop_only_mode"] is False
    # The switch signed the browser out for good (its device keys must get nothing more), so
    # hybrid mode again does not bring it back: a new sign-in does.
    assert browser.get("/api/me").json()["error_code"] == "AUTH_TOKEN_INVALID_OR_EXPIRED"


def test_set_mode_from_the_command_line_reaches_a_running_server(fresh_server):
    srv = fresh_server()
    alice = register_and_login(srv)
    browser, csrf = browser_login(srv, alice.user["username"])
    sock = cookie_socket(srv, browser)
    assert browser.get("/api/me").status_code == 200
    result = cli(srv, "set-mode", "desktop-only")
    assert result.returncode == 0, result.stderr
    assert "mode in force: desktop-only" in result.stdout
    assert_browser_refused(srv, browser, csrf)
    # Closed by the server's own sweep, since the command line has no sockets to close.
    assert sock.wait_for("session_revoked", timeout=8)["reason"] == "browser_access_disabled"
    assert alice.get("/api/me").status_code == 200
    assert cli(srv, "set-mode", "hybrid").returncode == 0
    assert browser.get("/api/me").status_code == 401  # signed out by the switch, not paused


def test_environment_override_wins_over_the_stored_mode(fresh_server):
    srv = fresh_server(env={"DESKTOP_ONLY_MODE": "0"})
    admin = login(srv, "admin", srv.first_admin_password)
    view = admin.put("/api/admin/settings", json={"mode": "desktop-only"}).json()
    assert view["settings"]["mode"] == "desktop-only"
    assert view["desktop_only_mode"] is False and view["mode_forced_by_environment"] is True
    browser, _ = browser_login(srv, "admin", srv.first_admin_password)
    assert browser.get("/api/me").status_code == 200


# --- GET /api/client/update ----------------------------------------------------------------------

def update(srv, **params) -> dict:
    reply = srv.api().get("/api/client/update", params=params)
    assert reply.status_code == 200, reply.text
    return reply.json()


def test_update_policy_defaults_to_the_servers_own_version(server):
    version = server.api().get("/api/system/health").json()["version"]
    body = update(server, client_version="0.0.1")
    assert body == {"channel": "stable", "desktop_only_mode": False, "minimum_version": "0.0.0",
                    "latest_version": version, "download_url": None, "release_notes_url": None,
                    "update_available": True, "force_update": False}
    assert update(server, client_version=version)["update_available"] is False
    assert update(server)["update_available"] is False  # no version given: nothing to compare


@pytest.mark.parametrize("params,code", [
    ({"client_version": "not-a-version"}, "CLIENT_VERSION_INVALID"),
    ({"client_version": "1.0", "channel": "nightly"}, "UPDATE_CHANNEL_INVALID"),
])
def test_update_refuses_a_bad_version_or_channel(server, params, code):
    reply = server.api().get("/api/client/update", params=params)
    assert reply.status_code == 400 and reply.json()["error_code"] == code


def test_update_compares_pep440_versions_per_channel(fresh_server):
    srv = fresh_server()
    admin = login(srv, "admin", srv.first_admin_password)
    reply = admin.put("/api/admin/settings", json={"release_policy": {
        "stable": {"minimum_version": "1.0.0", "latest_version": "1.2.0",
                   "download_url": "https://updates.office/messenger-1.2.0.msi",
                   "release_notes_url": "https://updates.office/notes/1.2.0"},
        "canary": {"minimum_version": "1.0.0", "latest_version": "1.3.0a1",
                   "download_url": "https://updates.office/messenger-1.3.0a1.msi"},
    }})
    assert reply.status_code == 200, reply.text
    cases = [
        ("stable", "0.9.5", "1.2.0", True, True),
        ("stable", "1.0.0", "1.2.0", True, False),
        ("stable", "1.2.0", "1.2.0", False, False),
        ("stable", "1.2.0a1", "1.2.0", True, False),  # a pre-release is older than its release
        ("stable", "1.3.0a1", "1.2.0", False, False),  # a canary tester on stable is not downgraded
        ("canary", "1.2.0", "1.3.0a1", True, False),
        ("canary", "1.3.0a1", "1.3.0a1", False, False),
        ("canary", "0.9", "1.3.0a1", True, True),
    ]
    for channel, client, latest, available, forced in cases:
        body = update(srv, client_version=client, channel=channel)
        assert (body["latest_version"], body["update_available"], body["force_update"]) == (latest, available, forced), \
            (channel, client)
    assert update(srv, channel="canary")["download_url"] == "https://updates.office/messenger-1.3.0a1.msi"
    assert update(srv)["release_notes_url"] == "https://updates.office/notes/1.2.0"

    # Canary never offers less than stable: once stable passes it, canary gets stable's release.
    admin.put("/api/admin/settings", json={"release_policy": {
        "stable": {"minimum_version": "1.0.0", "latest_version": "1.4.0",
                   "download_url": "https://updates.office/messenger-1.4.0.msi"},
        "canary": {"minimum_version": "1.0.0", "latest_version": "1.3.0a1"},
    }})
    canary = update(srv, client_version="1.3.0a1", channel="canary")
    assert (canary["latest_version"], canary["download_url"]) == ("1.4.0", "https://updates.office/messenger-1.4.0.msi")
