"""The chaos soak's one-minute profile: real `bridge run` processes under overlapping faults
keep every guarantee, and the soak prints each figure (no timings checked)."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys

import pytest

from tests.harness import ROOT

FIGURES = (
    r"messages sent: [1-9]\d*",
    r"faults injected: [1-9]\d* \(",
    r"process kills: \d+ \(\d+ kill -9, \d+ SIGTERM\)",
    r"answered once: \d+; ended with a notice: \d+",
    r"lost: 0",
    r"answered twice: 0",
    r"double POSTs: 0",
    r"order breaks: 0",
    r"tracebacks seen by users: 0",
    r"longest silence: \d+\.\d s \(",
    r"silences: p95 \d+\.\d s of \d+ waiting messages",
    r"guarantees: held",
)
# The one-minute profile: two processes and twenty chats keep a loaded 2-core machine's run short;
# every fault of the full soak is in the mix.
PROFILE = ("--minutes", "1", "--seed", "3", "--processes", "2", "--chats", "20")


def soak(*args: str, timeout: float) -> tuple[int, str, str]:
    """``python -m bench.soak ARGS`` in a session of its own, so a timeout takes its bridge
    processes and Redis down with it; (exit code, stdout, stderr)."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "bench.soak", *args],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, err = proc.communicate()
    return proc.returncode, out, err


@pytest.mark.timeout(330)
def test_a_minute_of_overlapping_faults_keeps_every_guarantee() -> None:
    if shutil.which("redis-server") is None:
        pytest.skip("redis-server is not installed")
    code, out, err = soak(*PROFILE, timeout=300)
    assert code == 0, f"{out}\n{err[-3000:]}"
    for figure in FIGURES:
        assert re.search(rf"^{figure}", out, re.M), f"{figure!r} not in:\n{out}"
