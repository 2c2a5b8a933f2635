"""The server process: HTTPS, graceful shutdown, admin commands, SQLite settings."""

import signal
import sqlite3
import ssl
import subprocess
import sys
import time

import httpx

from harness import PASSWORD, login


def test_prod_serves_https_with_a_generated_certificate(fresh_server):
    srv = fresh_server(env={"MESSENGER_ENV": "prod"})
    assert srv.url.startswith("https://")
    assert (srv.data_dir / "tls" / "server.crt").exists()
    reply = httpx.get(f"{srv.url}/api/system/health", verify=ssl.create_default_context(cafile=srv.data_dir / "tls" / "server.crt"))
    assert reply.json()["status"] == "ok"


def test_sigterm_stops_cleanly(fresh_server):
    srv = fresh_server()
    assert srv.stop() == 0
    assert any("stopped" in line for line in srv.output)


def test_sigusr1_prints_the_greenlet_count_and_serves_on(fresh_server):
    """The count benchmarks/soak.py reads: greenlets exist only inside the server."""
    srv = fresh_server()
    srv.proc.send_signal(signal.SIGUSR1)
    deadline = time.monotonic() + 20
    while not any(line.startswith("diagnostics: greenlets ") for line in srv.output) and time.monotonic() < deadline:
        time.sleep(0.05)
    lines = [line for line in srv.output if line.startswith("diagnostics: greenlets ")]
    assert lines, "".join(srv.output)
    assert int(lines[0].split()[2]) > 1  # the hub and the main greenlet at least
    assert httpx.get(f"{srv.url}/api/system/health").status_code == 200


def test_database_is_wal_with_foreign_keys_schema(fresh_server):
    srv = fresh_server()
    srv.stop()
    db = sqlite3.connect(srv.data_dir / "messenger.db")
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert db.execute("SELECT version_num FROM alembic_version").fetchone()[0]


def test_admin_create_user_works_on_a_running_server(fresh_server):
    srv = fresh_server()
    result = subprocess.run(
        [sys.executable, "-m", "messenger", "admin", "--data-dir", str(srv.data_dir), "create-user", "kim_ops",
         "--nickname", "김운영", "--admin", "--password-stdin"],
        input=PASSWORD + "\n", capture_output=True, text=True, timeout=60,
    )
    assert result.returncode == 0, result.stderr
    api = login(srv, "kim_ops")
    assert api.user["is_admin"] is True and api.user["nickname"] == "김운영"
    again = subprocess.run(
        [sys.executable, "-m", "messenger", "admin", "--data-dir", str(srv.data_dir), "create-user", "kim_ops",
         "--password-stdin"], input=PASSWORD + "\n", capture_output=True, text=True, timeout=60)
    assert again.returncode == 1 and "USERNAME_TAKEN" in again.stderr


def test_version_flag():
    from messenger import __version__

    result = subprocess.run([sys.executable, "-m", "messenger", "--version"], capture_output=True, text=True)
    assert result.stdout.strip() == f"messenger {__version__}"


def test_start_prints_no_library_chatter(fresh_server):
    """An operator reads the start-up lines: no Alembic plugin or migration lines among them."""
    srv = fresh_server()
    srv.stop()
    assert not [line for line in srv.output if "alembic" in line], "".join(srv.output)
    assert any("first run: created administrator" in line for line in srv.output)
