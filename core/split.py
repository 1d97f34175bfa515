"""Cutting a long reply into messages that fit a platform's limit, at the kindest boundary."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

Measure = Callable[[str], int]

# Boundaries in order of preference; each pattern matches the text *after which* we may cut.
_BOUNDARIES = (
    re.compile(r"\n\n"),
    re.compile(r"\n"),
    re.compile(r"[.!?…。！？][\"')\]]*\s"),
    re.compile(r"\s"),
)
_FENCE = re.compile(r"^\s*(```+|~~~+)(.*)$")
# A cut later than this share of the budget is "good enough" for a weaker boundary to be skipped.
_MIN_FILL = 0.5


@dataclass(frozen=True, slots=True)
class Piece:
    """One message's text, plus how much of the source it used and what the next message starts with."""

    text: str
    consumed: int
    carry: str


def utf16_length(text: str) -> int:
    """Length in UTF-16 code units, as Telegram counts."""
    return len(text.encode("utf-16-le")) // 2


def open_fence(text: str) -> str | None:
    """The opening line of a code fence left open at the end of ``text``, if any."""
    fence: str | None = None
    for line in text.split("\n"):
        m = _FENCE.match(line)
        if not m:
            continue
        if fence is None:
            fence = line.strip()
        elif m.group(1).startswith(fence[:3]) and not m.group(2).strip():
            fence = None
    return fence


def _fit(text: str, budget: int, measure: Measure) -> int:
    """The largest index i such that measure(text[:i]) <= budget (never splitting a surrogate pair)."""
    i = min(len(text), budget)
    while i > 0 and measure(text[:i]) > budget:
        i -= max(1, measure(text[:i]) - budget)
    return i


def _cut_point(window: str) -> int:
    """Where to cut inside ``window``: after the best boundary, or at its end if none is found."""
    floor = int(len(window) * _MIN_FILL)
    fallback = 0
    for pattern in _BOUNDARIES:
        ends = [m.end() for m in pattern.finditer(window)]
        if ends and ends[-1] >= floor:
            return ends[-1]
        if ends and not fallback:
            fallback = ends[-1]
    return fallback or len(window)


def take_piece(text: str, limit: int, measure: Measure = len) -> Piece:
    """The first message's worth of ``text``; a code fence cut in two is closed and reopened."""
    if measure(text) <= limit:
        return Piece(text=text, consumed=len(text), carry="")
    closing = "\n```"
    window_end = _fit(text, limit, measure)
    if open_fence(text[:window_end]) is not None:
        window_end = _fit(text, limit - measure(closing), measure)
    cut = _cut_point(text[:window_end]) or window_end
    head = text[:cut]
    fence = open_fence(head)
    if fence is None:
        return Piece(text=head.rstrip() or head, consumed=cut, carry="")
    return Piece(text=head.rstrip("\n") + closing, consumed=cut, carry=fence + "\n")


def split_text(text: str, limit: int, measure: Measure = len) -> list[str]:
    """All of ``text`` as messages of at most ``limit``; joined back they lose no words."""
    pieces: list[str] = []
    rest = text
    while rest:
        piece = take_piece(rest, limit, measure)
        pieces.append(piece.text)
        rest = (
            piece.carry + rest[piece.consumed :].lstrip("\n") if piece.consumed < len(rest) else ""
        )
    return pieces
