"""The scale benchmark runs end to end with tiny numbers and prints every figure (no timings
checked): store cost per message, keys by kind, webhook intake."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_scale_bench_prints_every_figure() -> None:
    if shutil.which("redis-server") is None:
        pytest.skip("redis-server is not installed")
    done = subprocess.run(
        [sys.executable, "-m", "bench.scale_bench", "--messages", "20", "--channels", "4",
         "--updates", "10", "--cluster-url", ""],
        cwd=ROOT, capture_output=True, text=True, timeout=180,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    out = done.stdout
    assert re.search(r"^redis: 20 messages in .* msg/s", out, re.M), out
    assert "outcomes: {'replied': 20}" in out, out
    assert re.search(r"store round-trips per message: \d+\.\d\d; Redis commands per message", out)
    for kind in ("binding", "rate", "seen"):
        assert re.search(rf"^\s+{kind}\s+\d+\s", out, re.M), out
    assert len(re.findall(r"telegram webhook worker: 10 updates .* \(.*0 not 200\)", out)) == 3
