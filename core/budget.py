"""A platform's write budget for one chat, and its config form ("5/5s").

Kept apart from :mod:`core.pacing` so the config can check a budget without the pacing machinery.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

BOT_RESERVE_SHARE = 5  # one write in this many of a bot-wide budget waits for no streaming edit
MARGIN = 0.05  # added to every window: a write's trip to the platform is not instant
_BUDGET = re.compile(r"^\s*(\d+)\s*/\s*(\d+(?:\.\d+)?)\s*s?\s*$")


@dataclass(frozen=True, slots=True)
class Budget:
    """A platform's write limit for one chat: ``writes`` per ``window`` seconds.

    ``reserve`` writes are kept back while streaming, for the final text.
    """

    writes: int
    window: float
    reserve: int = 1

    def __post_init__(self) -> None:
        if self.writes < 1 or self.window <= 0 or not 0 <= self.reserve < self.writes:
            raise ValueError("a budget needs 1 write or more in a window over 0 s, like '5/5s'")

    @classmethod
    def parse(cls, text: str, *, reserve: int = 1) -> Budget:
        """``"5/5s"`` -> 5 writes per 5 seconds (the form used in the config)."""
        match = _BUDGET.match(text)
        if match is None:
            raise ValueError(f"'{text}' is not a budget like '5/5s' (writes / seconds)")
        writes, window = int(match.group(1)), float(match.group(2))
        return cls(writes, window, min(reserve, writes - 1))

    @classmethod
    def bot_wide(cls, text: str) -> Budget:
        """A whole bot's budget from ``"45/1s"``: a fifth is kept for first messages and final
        texts, so a busy evening slows the streaming edits, not the answers."""
        base = cls.parse(text, reserve=0)
        return cls(base.writes, base.window, base.writes // BOT_RESERVE_SHARE)

    @property
    def spacing(self) -> float:
        """The gap between streaming writes that uses the budget, less the reserve, evenly."""
        return self.spread(self.window + MARGIN)

    def spread(self, window: float) -> float:
        """The even gap between streaming writes over ``window`` seconds."""
        return window / (self.writes - self.reserve)
