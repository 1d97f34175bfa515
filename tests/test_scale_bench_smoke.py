"""The scale benchmark runs end to end with tiny numbers and prints every figure (no timings
checked): store cost per message, keys by kind, webhook intake."""

from __future__ import annotations

import re
import shutil

import pytest

from tests.harness import run_bench


def test_scale_bench_prints_every_figure() -> None:
    if shutil.which("redis-server") is None:
        pytest.skip("redis-server is not installed")
    out = run_bench(
        "scale_bench",
        *("--messages", "20", "--channels", "4", "--updates", "10", "--cluster-url", ""),
        timeout=180,
    )
    assert re.search(r"^redis: 20 messages in .* msg/s", out, re.M), out
    assert "outcomes: {'replied': 20}" in out, out
    assert re.search(r"store round-trips per message: \d+\.\d\d; Redis commands per message", out)
    for kind in ("binding", "rate", "seen"):
        assert re.search(rf"^\s+{kind}\s+\d+\s", out, re.M), out
    assert len(re.findall(r"telegram webhook worker: 10 updates .* \(.*0 not 200\)", out)) == 3
