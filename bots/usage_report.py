"""``bridge usage``: the allowance counters in the store, by user, chat, server or backend, as
a table, CSV or JSON."""

from __future__ import annotations

import csv
import json
import re
from collections.abc import Sequence
from typing import TextIO

from core.model import MeterScope

BY = {"user": MeterScope.USER, "chat": MeterScope.CHAT, "server": MeterScope.SERVER}
BY["backend"] = MeterScope.PLAN
FORMATS = ("table", "csv", "json")
_SINCE = re.compile(r"^\s*(\d+)\s*([dhm])\s*$")
_SECONDS = {"d": 86400, "h": 3600, "m": 60}


def parse_since(text: str) -> float:
    """``"7d"``, ``"12h"``, ``"30m"`` in seconds; ValueError otherwise."""
    found = _SINCE.match(text)
    if found is None or int(found[1]) == 0:
        raise ValueError(f"--since: {text!r} is not a duration (use e.g. 7d, 12h or 30m)")
    return int(found[1]) * _SECONDS[found[2]]


def write_usage(rows: Sequence[tuple[str, int]], by: str, fmt: str, out: TextIO) -> None:
    """``rows`` (key, messages) as ``fmt``: an aligned table, CSV with a header, or JSON."""
    if fmt == "json":
        json.dump([{by: key, "messages": used} for key, used in rows], out, ensure_ascii=False)
        out.write("\n")
        return
    if fmt == "csv":
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow([by, "messages"])
        writer.writerows(rows)
        return
    width = max([len(by), *(len(key) for key, _ in rows)])
    out.write(f"{by:<{width}}  messages\n")
    for key, used in rows:
        out.write(f"{key:<{width}}  {used:>8}\n")
