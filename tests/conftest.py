import os
import shutil
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from harness import ServerProcess, Socket, register_and_login, unique_name

DATABASES = ("sqlite", "postgresql")


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config, log):
    """Under pytest-xdist (the README runs `-n 2`) each test module goes to one worker, so its
    module fixtures are made once, and all of tests/build to one worker: the frozen program is
    built once, and a second worker would wait on its build lock (tests/build/conftest.py).
    (pytest-xdist's own `--dist loadgroup` no longer groups under pytest 9: it renames nodeids.)"""
    if config.getvalue("dist") != "load":
        return None
    from xdist.scheduler import LoadFileScheduling

    class ModulesAndTheBuildTogether(LoadFileScheduling):
        def _split_scope(self, nodeid):
            return "tests/build" if nodeid.startswith("tests/build/") else super()._split_scope(nodeid)

    return ModulesAndTheBuildTogether(config, log)


def pytest_generate_tests(metafunc):
    """Tests marked `contract` (the wire's HTTP and Socket.IO contract) run against servers on
    each database; the others on SQLite only."""
    if metafunc.definition.get_closest_marker("contract") and "database_env" in metafunc.fixturenames:
        metafunc.parametrize("database_env", DATABASES, indirect=True, scope="session")


@pytest.fixture(scope="session")
def postgres():
    """One real PostgreSQL for the session (tests/services.py), started when a test first needs it."""
    from services import Postgres

    cluster = Postgres().start()
    yield cluster
    cluster.stop()


@pytest.fixture(scope="session")
def database_env(request):
    """Gives each new server its environment: nothing on SQLite (a file in its data dir), a
    fresh database of the session's PostgreSQL for the `postgresql` parameter. Tests not marked
    `contract` run on SQLite, or on PostgreSQL with MESSENGER_TEST_DATABASE=postgresql."""
    if getattr(request, "param", os.environ.get("MESSENGER_TEST_DATABASE", "sqlite")) == "sqlite":
        return dict
    cluster = request.getfixturevalue("postgres")
    return lambda: {"MESSENGER_DATABASE_URL": cluster.database(unique_name("office"))}


@pytest.fixture(scope="session")
def server(tmp_path_factory, database_env):
    """One shared server for tests that create their own users and rooms. Its E2E policy is
    "optional": tests of other things send plaintext; the policy is tested on servers of its own."""
    proc = ServerProcess(tmp_path_factory.mktemp("server"), env=database_env(), e2e_policy="optional").start()
    yield proc
    proc.stop()


@pytest.fixture
def fresh_server(tmp_path, database_env):
    """A server of the test's own, for tests that restart it or change its settings."""
    procs = []
    databases = {}  # data dir -> its database's environment: a restart finds the same database

    def start(env=None, config=None, data_dir=None, e2e_policy="optional"):
        data_dir = Path(data_dir or tmp_path / f"server{len(procs)}")
        if data_dir not in databases:
            databases[data_dir] = database_env()
        proc = ServerProcess(data_dir, env={**databases[data_dir], **(env or {})}, config=config,
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
    from messenger.server.db import database_of

    app, _ = create_app(ServerConfig(data_dir=tmp_path / "data", async_mode="threading", testing=True))
    with app.app_context():
        yield app
    database_of(app).close()


@pytest.fixture
def in_process(app):
    """The database of `app`, for counting queries."""
    from messenger.server.db import database_of

    return database_of(app)


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


CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]


@pytest.fixture(scope="module")
def chromium():
    """Debian's Chromium, headless, driven by Playwright (one per test module; Playwright's own
    browser downloads are never used)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        # Playwright gives the browser a fresh temporary user-data-dir.
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield browser
        browser.close()


@pytest.fixture
def new_page(chromium):
    """Pages of fresh browser profiles (no cookies, no IndexedDB): each is a browser device of its own."""
    contexts = []

    def open_page(url: str, locale: str = "en-US"):
        context = chromium.new_context(locale=locale, accept_downloads=True)
        contexts.append(context)
        page = context.new_page()
        page.errors = []  # uncaught exceptions of the page's code
        page.on("pageerror", lambda exc: page.errors.append(str(exc)))
        page.goto(url)
        return page

    yield open_page
    for context in contexts:
        context.close()
