"""Finding a prompt's reply in an upstream's stored history (read newest first)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

HISTORY_PAGES = 3
"""Pages read before giving up: the prompt is normally the newest user turn, since a channel
sends one message at a time; a few pages cover turns other clients added meanwhile."""


@dataclass(frozen=True)
class Turn:
    """One stored message: who wrote it, its text, and whether it is a usable reply."""

    user: bool
    content: str
    usable: bool = True


@dataclass(frozen=True)
class Lookup:
    """The outcome over the turns read so far: ``found`` once the prompt was seen."""

    found: bool
    reply: str | None = None


def same_text(stored: str, prompt: str) -> bool:
    """Whether a stored user turn is this prompt (servers may trim it, as Laravel does)."""
    return stored.strip() == prompt.strip()


def reply_after(newest_first: Sequence[Turn], prompt: str) -> Lookup:
    """The reply that follows the newest user turn equal to ``prompt``.

    The reply is the first assistant turn after it and before the next user turn; a failed one
    (``usable`` False) or none at all gives ``Lookup(found=True, reply=None)``.
    """
    for index, turn in enumerate(newest_first):
        if turn.user and same_text(turn.content, prompt):
            for later in reversed(newest_first[:index]):
                if later.user:
                    break
                return Lookup(True, later.content if later.usable and later.content else None)
            return Lookup(True, None)
    return Lookup(False)
