"""Real PostgreSQL, Redis and an nginx front for tests: each started on a free loopback port in a
folder of its own, from the Debian packages (`build/system_packages.py test` installs them), and
stopped after.

PostgreSQL refuses to run as root, so as root it runs as the `postgres` account the package
made. Nothing listens beyond 127.0.0.1.
"""

from __future__ import annotations

import glob
import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

from harness import Api

REPO = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def postgres_bin(name: str) -> str:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    assert found, f"{name} is missing: run `python3 build/system_packages.py test` as root (package postgresql)"
    return found[-1]


class Postgres:
    """One PostgreSQL server; `database(name)` makes a database and answers its SQLAlchemy URL."""

    def __init__(self):
        self.folder = Path(tempfile.mkdtemp(prefix="messenger-pg-"))
        self.port = free_port()
        self.as_user = {}
        if os.geteuid() == 0:
            account = pwd.getpwnam("postgres")
            os.chown(self.folder, account.pw_uid, account.pw_gid)
            self.as_user = {"user": account.pw_uid, "group": account.pw_gid}
        self.proc: subprocess.Popen | None = None

    def _run(self, *command: str) -> None:
        done = subprocess.run(command, capture_output=True, text=True, timeout=120, cwd="/", **self.as_user)
        assert done.returncode == 0, f"{command[0]} failed:\n{done.stdout}\n{done.stderr}"

    def start(self) -> "Postgres":
        data = str(self.folder / "data")
        self._run(postgres_bin("initdb"), "-D", data, "--auth=trust", "-U", "postgres", "-E", "UTF8",
                  "--locale=C.UTF-8")
        self.proc = subprocess.Popen(
            [postgres_bin("postgres"), "-D", data, "-h", "127.0.0.1", "-p", str(self.port), "-k", str(self.folder),
             "-c", "max_connections=200"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd="/", **self.as_user)
        deadline = time.monotonic() + 60
        while subprocess.run([postgres_bin("pg_isready"), "-h", "127.0.0.1", "-p", str(self.port)],
                             capture_output=True).returncode != 0:
            assert self.proc.poll() is None and time.monotonic() < deadline, "PostgreSQL did not start"
            time.sleep(0.2)
        return self

    def database(self, name: str) -> str:
        self._run(postgres_bin("createdb"), "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", name)
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{name}"

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            # SIGINT: PostgreSQL's "fast" shutdown. "Smart" (SIGTERM) waits for every client to
            # leave, so a server process still holding its pool stalled a test's end for 30 s.
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        shutil.rmtree(self.folder, ignore_errors=True)


class Redis:
    """One Redis server, nothing saved to disk; `url` is its redis:// address."""

    def __init__(self):
        self.folder = Path(tempfile.mkdtemp(prefix="messenger-redis-"))
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.proc: subprocess.Popen | None = None

    def start(self) -> "Redis":
        server = shutil.which("redis-server")
        assert server, "redis-server is missing: run `python3 build/system_packages.py test` as root"
        self.proc = subprocess.Popen([server, "--bind", "127.0.0.1", "--port", str(self.port), "--save", "",
                                      "--appendonly", "no", "--dir", str(self.folder)],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 30
        while True:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1) as conn:
                    conn.sendall(b"PING\r\n")
                    if conn.recv(16).startswith(b"+PONG"):
                        return self
            except OSError:
                pass
            assert self.proc.poll() is None and time.monotonic() < deadline, "Redis did not start"
            time.sleep(0.1)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(30)
        shutil.rmtree(self.folder, ignore_errors=True)


NGINX = "/usr/sbin/nginx"


class Front:
    """nginx running deploy/nginx.conf, its upstream pointed at `backends`, on a free loopback port."""

    def __init__(self, backends: list[str]):
        self.folder = Path(tempfile.mkdtemp(prefix="messenger-front-"))
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        site = (REPO / "deploy" / "nginx.conf").read_text()
        servers = "".join(f"    server {url.split('://')[1]} max_fails=1 fail_timeout=5s;\n" for url in backends)
        site, count = re.subn(r"(?m)^    server 127\.0\.0\.1:\d+ .*\n", "", site)
        assert count == 4, "deploy/nginx.conf no longer lists its four example backends"
        site = site.replace("    least_conn;", servers + "    least_conn;", 1)
        site = site.replace("listen 80;", f"listen 127.0.0.1:{self.port};")
        (self.folder / "site.conf").write_text(site)
        temp = "\n".join(f"    {kind}_temp_path {self.folder / kind};" for kind in
                         ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
        (self.folder / "nginx.conf").write_text(f"""
{"user root root;" if os.geteuid() == 0 else ""}
worker_processes 1;
pid {self.folder / "nginx.pid"};
error_log {self.folder / "error.log"};
events {{ worker_connections 512; }}
http {{
    log_format upstreams '$request_method $uri $upstream_addr $status';
    access_log {self.folder / "access.log"} upstreams;
{temp}
    include {self.folder / "site.conf"};
}}
""")
        self.proc = subprocess.Popen([NGINX, "-p", str(self.folder), "-c", str(self.folder / "nginx.conf"),
                                      "-g", "daemon off;"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 15
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                break
            except OSError:
                assert self.proc.poll() is None, self.proc.stdout.read().decode()
                assert time.monotonic() < deadline, "nginx did not start"
                time.sleep(0.1)

    def api(self, token: str | None = None, **kwargs) -> Api:
        return Api(self.url, token, **kwargs)

    def upstreams(self, path: str) -> set[str]:
        """The backends that answered requests for `path`, from the access log."""
        lines = (self.folder / "access.log").read_text().splitlines()
        return {line.split()[2] for line in lines if line.split()[1] == path}

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGQUIT)
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        shutil.rmtree(self.folder, ignore_errors=True)
