"""The renderer's decision: which write brings a chat up to date with a reply, from plain facts."""

from __future__ import annotations

from dataclasses import dataclass

from core.split import Measure, take_piece


@dataclass(slots=True)
class Progress:
    """How far the chat has got in showing one reply."""

    consumed: int = 0
    """Characters of the reply sealed into earlier messages."""
    carry: str = ""
    """What the open message starts with (a code fence reopened after a cut)."""
    shown: str = ""
    """The open message's text ('' until it exists)."""
    covered: int = 0
    """Length of the reply the latest partial write showed, or failed to: the next waits for more."""
    done: bool = False
    """The final text is written."""

    def wrote(self, write: Write) -> None:
        """The chat now shows ``write``."""
        if write.seals:
            self.consumed, self.carry, self.shown = write.consumed, write.carry, ""
        else:
            self.shown, self.covered, self.done = write.text, write.covers, write.final


@dataclass(slots=True)  # not frozen: that costs a microsecond per chunk
class Write:
    """One write to the open message."""

    text: str
    final: bool
    """The message's last write: the reply's final text, or a message sealed because it is full."""
    seals: bool
    """The message is full: the reply goes on in a new one, from ``consumed`` with ``carry``."""
    consumed: int
    carry: str
    covers: int
    """Length of the reply this write brings the chat up to."""


def next_write(
    progress: Progress, text: str, ended: bool, limit: int, measure: Measure = len
) -> Write | None:
    """The write that brings the chat closer to ``text``, or None when it is up to date.

    ``text`` is the reply so far; once the stream has ``ended``, its final text (any notice
    included), which is written once more as the final write. A full message is sealed
    before the rest goes on in the next one.
    """
    if progress.done or (not ended and len(text) <= progress.covered):
        return None
    carry = progress.carry
    open_text = carry + text[progress.consumed :]
    if measure(open_text) > limit:  # the open message is full: seal it, go on in the next
        piece = take_piece(open_text, limit, measure)
        consumed = progress.consumed + piece.consumed - len(carry)
        # The next message does not start with the blank lines the cut left behind.
        rest = text[consumed:]
        consumed += len(rest) - len(rest.lstrip("\n"))
        return Write(piece.text, True, True, consumed, piece.carry, len(text))
    if open_text.strip() and (open_text != progress.shown or ended):
        return Write(open_text, ended, False, progress.consumed, carry, len(text))
    return None
