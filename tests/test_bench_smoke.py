"""The relay benchmark runs end to end with tiny numbers and prints every row (no timings checked)."""

from __future__ import annotations

import re
from pathlib import Path

from tests.harness import ROOT, run_bench

SIZES = (1, 3)


def relay_bench(*extra: str) -> str:
    """Run the relay benchmark with tiny numbers; its standard output."""
    sizes = ",".join(map(str, SIZES))
    return run_bench(
        "relay_bench",
        *("--sizes", sizes, "--chunks", "3", "--chunk-delay", "0.002", "--budget", "100/1s"),
        *extra,
        timeout=90,
    )


def check_table(out: str) -> None:
    for size in SIZES:
        row = re.search(rf"^\| {size} \|(.*)\|$", out, re.MULTILINE)
        assert row, f"no row for {size} concurrent in:\n{out}"
        cells = [c.strip() for c in row.group(1).split("|")]
        assert len(cells) == 11, cells
        # Every reply came through whole on both paths, with three store round-trips each
        # (admission, the journal's streaming record, release); a lease renewal tick (one per
        # process every few seconds) may fall into a pass of one. Round-trips asked for in the
        # same loop turn may share a pipeline, never the other way round.
        assert cells[-1] == f"{size}/{size} (bare {size})", cells
        trips, pipelines = float(cells[-3]), float(cells[-2])
        assert 3.0 <= trips <= 3.0 + 1 / size, cells
        assert 0 < pipelines <= trips, cells
        assert "n/a" not in cells[:-1], cells
    assert "target ratio <= 1.10 at 1000: n/a" in out
    assert "target first visible p99 <= 20 ms at 100: n/a" in out
    trips = re.search(r"target store round-trips <= 3/message: (\d\.\d\d) at 3 (PASS|MISS)", out)
    assert trips and (float(trips.group(1)) <= 3.0) == (trips.group(2) == "PASS"), out


def test_bench_prints_every_row_on_sqlite(tmp_path: Path) -> None:
    check_table(relay_bench("--store", "sqlite", "--sqlite-path", str(tmp_path / "bench.db")))


def test_bench_prints_every_row_on_redis(redis_url: str) -> None:
    check_table(relay_bench("--store", "redis", "--redis-url", redis_url))


def test_early_close_bench_prints_its_table() -> None:
    out = run_bench("early_close_bench", str(ROOT / "README.md"), timeout=60)
    row = re.search(r"^\| unfinished \| (\d\.\d\d) \| (\d+\.\d)% \| (\d+\.\d)% \|$", out, re.M)
    assert row, out
    assert 0 < float(row.group(1)) < 1  # some replies are checked, not all
    assert 50 < float(row.group(2)) < 100  # most cuts are caught, a sentence end is not
