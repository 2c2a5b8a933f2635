"""`messenger --serve --workers N`: N server processes on one box, one per port from `--port`
up (each on a free port of its own with `--port 0`), sharing one database and one message queue;
a front such as deploy/nginx.conf spreads the clients over them.

This process only minds the others: it passes a stop (SIGTERM, Ctrl+C) on to each and waits for
them, and starts again one that died, so the office keeps N processes.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

from messenger.programs import console_command
from messenger.server.app import command_app
from messenger.server.bootstrap import ensure_first_admin
from messenger.server.config import ServerConfig
from messenger.server.db import database_of

RESTART_PAUSE_SECONDS = 1.0


class WorkersRefused(Exception):
    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code


def check_shared(config: ServerConfig) -> None:
    """Several processes need what they share: a queue for sockets and a database server."""
    if not config.message_queue:
        raise WorkersRefused("MESSAGE_QUEUE_REQUIRED", "several server processes need a message queue: set "
                             "MESSENGER_MESSAGE_QUEUE=redis://... (README, \"Office grows\")")
    if not config.database_url or config.database_url.startswith("sqlite"):
        raise WorkersRefused("SHARED_DATABASE_REQUIRED", "several server processes need one PostgreSQL database: "
                             "set MESSENGER_DATABASE_URL=postgresql+psycopg://... (README, \"Office grows\")")


def worker_command(config: ServerConfig, port: int, config_file: Path | None) -> list[str]:
    command = [*console_command(), "--serve", "--host", config.host, "--port", str(port),
               "--data-dir", str(config.data_dir)]
    return command + (["--config", str(config_file)] if config_file else [])


def prepare(config: ServerConfig) -> None:
    """What the first start does once (the secret key, the schema, the first admin), done before
    the processes start together so that they do not race to do it."""
    app = command_app(config)
    with app.app_context():
        ensure_first_admin(config)
    database_of(app).close()


def run_workers(config: ServerConfig, count: int, config_file: Path | None = None) -> int:
    check_shared(config)
    prepare(config)
    ports = [0 if config.port == 0 else config.port + i for i in range(count)]
    processes = [subprocess.Popen(worker_command(config, port, config_file)) for port in ports]
    stopping = []
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stopping.append(True))
    print(f"messenger workers: {count} server processes started", flush=True)
    while not stopping:
        time.sleep(0.2)
        for i, process in enumerate(processes):
            if process.poll() is not None and not stopping:
                print(f"messenger workers: the process on port {ports[i]} ended ({process.returncode}); "
                      "starting it again", file=sys.stderr, flush=True)
                time.sleep(RESTART_PAUSE_SECONDS)
                processes[i] = subprocess.Popen(worker_command(config, ports[i], config_file))
    for process in processes:
        if process.poll() is None:
            process.terminate()
    for process in processes:
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
    print("messenger workers stopped", flush=True)
    return 0
