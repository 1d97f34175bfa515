"""The pacing benchmark runs end to end with tiny numbers and prints every row (no timings checked)."""

from __future__ import annotations

import re

from tests.harness import run_bench

PLATFORMS = ("discord", "tg-private", "tg-group")


def test_pacing_bench_prints_every_row() -> None:
    out = run_bench(
        "pacing_bench",
        *("--chars", "60", "--chats", "1,2", "--pieces", "6"),
        *("--gap", "0.01", "--first", "0.02", "--no-probe"),
        timeout=120,
    )
    for platform in PLATFORMS:
        for k in (1, 2):
            row = re.search(rf"^\| {platform} \| 60 \| {k} \|(.*)\|$", out, re.MULTILINE)
            assert row, f"no row for {platform} x{k} in:\n{out}"
            cells = [c.strip() for c in row.group(1).split("|")]
            assert len(cells) == 10, cells
            # Every chat ends with the whole text, and the fakes refused nothing.
            assert cells[-1] == f"{k}/{k}" and cells[-2] == "0", cells
    assert "targets: final lag p50" in out
