"""`bridge run`'s collector settings: start-up's objects frozen out of the scans, the youngest
generation collected less often. Checked in a fresh interpreter: they are process-wide."""

from __future__ import annotations

import json
import subprocess
import sys

from bots.heap import YOUNG_THRESHOLD
from tests.harness import ROOT

PROBE = """
import gc, json
from bots.heap import settle_heap
before = gc.get_threshold()
settle_heap()
print(json.dumps({"before": before, "after": gc.get_threshold(), "frozen": gc.get_freeze_count()}))
"""


def test_settle_heap_freezes_start_up_and_collects_the_young_less_often() -> None:
    out = subprocess.run(
        [sys.executable, "-c", PROBE], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout
    seen = json.loads(out)
    assert seen["before"][0] < YOUNG_THRESHOLD
    assert seen["after"] == [YOUNG_THRESHOLD, *seen["before"][1:]]
    assert seen["frozen"] > 1000  # the modules and objects imported so far
