import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from harness import ServerProcess, Socket, register_and_login


@pytest.fixture(scope="session")
def server(tmp_path_factory):
    """One shared server for tests that create their own users and rooms. Its E2E policy is
    "optional": tests of other things send plaintext; the policy is tested on servers of its own."""
    proc = ServerProcess(tmp_path_factory.mktemp("server"), e2e_policy="optional").start()
    yield proc
    proc.stop()


@pytest.fixture
def fresh_server(tmp_path):
    """A server of the test's own, for tests that restart it or change its settings."""
    procs = []

    def start(env=None, config=None, data_dir=None, e2e_policy="optional"):
        proc = ServerProcess(data_dir or tmp_path / f"server{len(procs)}", env=env, config=config,
                             e2e_policy=e2e_policy).start()
        procs.append(proc)
        return proc

    yield start
    for proc in procs:
        proc.stop()


@pytest.fixture
def user(server):
    """A signed-in user (an `Api` with `.user` and a device token)."""
    return register_and_login(server)


@pytest.fixture
def users(server):
    """A factory of signed-in users."""
    return lambda n=1, **kw: [register_and_login(server, **kw) for _ in range(n)]


@pytest.fixture
def sockets(server):
    """A factory of connected sockets, all closed at the end of the test."""
    opened = []

    def connect(api, **kwargs):
        sock = Socket(server.url, api.token, **kwargs)
        opened.append(sock)
        return sock

    yield connect
    for sock in opened:
        sock.close()


@pytest.fixture
def app(tmp_path):
    """The server's code in this process on a real data dir (SQLite file, every migration),
    inside an app context: for jobs and query counts, with no server listening."""
    from messenger.server.app import create_app
    from messenger.server.config import ServerConfig
    from messenger.server.extensions import database

    app, _ = create_app(ServerConfig(data_dir=tmp_path / "data", async_mode="threading", testing=True))
    with app.app_context():
        yield app
    database.close()


@pytest.fixture
def in_process(app):
    """The database of `app`, for counting queries."""
    from messenger.server.extensions import database

    return database


@pytest.fixture
def platform_home(tmp_path, monkeypatch):
    """A fresh HOME for the platform's default folders (platformdirs resolves under it), with
    no XDG_* or messenger variables that would move them: the defaults of this test alone."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    for name in ("XDG_DATA_HOME", "XDG_CONFIG_HOME", "XDG_STATE_HOME", "XDG_CACHE_HOME",
                 "MESSENGER_CLIENT_HOME", "MESSENGER_DATA_DIR"):
        monkeypatch.delenv(name, raising=False)
    return home
