"""benchmarks/soak.py keeps working: a few seconds of every kind of traffic, its rows and its verdicts."""

import re
import subprocess
import sys
from pathlib import Path

SOAK = Path(__file__).resolve().parents[2] / "benchmarks" / "soak.py"


def test_a_short_soak_prints_its_table_and_exits_0():
    done = subprocess.run(
        [sys.executable, str(SOAK), "--minutes", "0.2", "--report-seconds", "4", "--warmup-minutes", "0",
         "--clients", "6", "--room-size", "3", "--message-every", "1", "--read-every", "1",
         "--upload-every", "2", "--reconnect-every", "3", "--login-every", "3"],
        capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stdout + done.stderr
    out = done.stdout
    rows = re.findall(r"^ +[\d.]+ +[\d.]+ MiB +(\d+) +(-?\d+) +(\d+) +(\d+) +(\d+) ", out, re.MULTILINE)
    assert len(rows) == 3, out
    for fds, other, threads, greenlets, acks in rows:
        assert int(fds) > int(other) > 0 and int(threads) > 0 and int(acks) > 0, out
        assert int(greenlets) > 6, out  # at least one per socket, read from the server's SIGUSR1 line
    actions = re.search(r"^actions \(messages, reads, uploads, reconnects, logins\) +(.+)$", out, re.MULTILINE)
    assert actions and all(int(n) > 0 for n in actions.group(1).split(", ")), out
    assert re.search(r"^RSS growth after warm-up \(goal < 50 MB\) +[+-][\d.]+ MiB: ok$", out, re.MULTILINE), out
    assert re.search(r"^not on a live connection min/max/end +\d+ / \d+ / \d+: flat ", out, re.MULTILINE), out
    assert re.search(r"^errors \(goal none\) +none$", out, re.MULTILINE), out
