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


def test_pacing_bench_runs_the_writers_in_two_processes_on_one_redis(redis_url: str) -> None:
    out = run_bench(
        "pacing_bench",
        *("--processes", "2", "--chars", "60", "--k", "3", "--pieces", "6"),
        *("--gap", "0.01", "--first", "0.02", "--stagger", "0.2", "--redis", redis_url),
        timeout=180,
    )
    for platform in PLATFORMS:
        row = re.search(rf"^\| {platform} \| 60 \| 3 \|(.*)\|$", out, re.MULTILINE)
        assert row, f"no row for {platform} in:\n{out}"
        cells = [c.strip() for c in row.group(1).split("|")]
        assert len(cells) == 13, cells
        # No 429 of either kind, every chat exact, and the writers' store trips were counted
        # (so the bot-wide budget was in the store, not in each process).
        assert cells[3:5] == ["0", "0"] and cells[-2] == "3/3", cells
        assert float(cells[-1]) > 0, cells
    assert "2 writer processes on one Redis" in out
    assert "targets: 0 platform 429s" in out
