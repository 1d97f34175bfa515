"""The chaos soak's one-minute profile: real `bridge run` processes under overlapping faults
keep every guarantee, and the soak prints each figure (no timings checked)."""

from __future__ import annotations

import re
import shutil

import pytest

from tests.harness import run_bench

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
    r"guarantees: held",
)


def test_a_minute_of_overlapping_faults_keeps_every_guarantee() -> None:
    if shutil.which("redis-server") is None:
        pytest.skip("redis-server is not installed")
    out = run_bench("soak", "--minutes", "1", "--seed", "3", timeout=240)
    for figure in FIGURES:
        assert re.search(rf"^{figure}", out, re.M), f"{figure!r} not in:\n{out}"
