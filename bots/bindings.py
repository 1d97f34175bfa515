"""``bridge bindings export|import``: every channel's settings as JSON lines, for backups and for
moving from the SQLite file to Redis."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import TextIO

from core.model import ChannelRecord
from core.store.base import Store


class BadRecords(ValueError):
    """Lines that are not channel records; ``problems`` is one ``FILE:LINE: reason`` each."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


def write_records(records: Sequence[ChannelRecord], out: TextIO) -> int:
    """Write one JSON line per channel; the number of channels."""
    for record in records:
        out.write(json.dumps(record.to_json(), ensure_ascii=False, sort_keys=True) + "\n")
    out.flush()
    return len(records)


def parse_records(lines: Iterable[str], source: str) -> list[ChannelRecord]:
    """Every record of an export; BadRecords naming each bad line (nothing is half-read)."""
    records, problems = [], []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            records.append(ChannelRecord.from_json(json.loads(line)))
        except json.JSONDecodeError:
            problems.append(f"{source}:{number}: not a JSON line")
        except ValueError as exc:
            problems.append(f"{source}:{number}: {exc}")
    if problems:
        raise BadRecords(problems)
    return records


def unknown_backends(records: Iterable[ChannelRecord], configured: Iterable[str]) -> list[str]:
    """One line per backend the records bind to that the config does not have: those channels
    would answer "no backend" until the config gains it or an admin binds them again."""
    known = set(configured)
    counts: dict[str, int] = {}
    for record in records:
        if record.binding is not None and record.binding.backend not in known:
            counts[record.binding.backend] = counts.get(record.binding.backend, 0) + 1
    shown = ", ".join(sorted(known)) or "none"
    return [
        f"{count} channel(s) are bound to backend '{name}', which this config does not have "
        f"(configured: {shown}); add [backends.{name}] or bind them again"
        for name, count in sorted(counts.items())
    ]


async def import_records(store: Store, records: Iterable[ChannelRecord]) -> int:
    """Write every record into ``store``; the number written."""
    count = 0
    for record in records:
        await store.restore_channel(record)
        count += 1
    return count
