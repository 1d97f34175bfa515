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
_MARKER = re.compile(r"`+|~+")
# A cut later than this share of the budget is "good enough" for a weaker boundary to be skipped.
_MIN_FILL = 0.5
# A reopened fence carries its marker and language only: an opening line can be any length.
_MAX_FENCE_INFO = 20


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
            info = m.group(2).split()
            fence = m.group(1) + (info[0][:_MAX_FENCE_INFO] if info else "")
        elif m.group(1).startswith(fence[:3]) and not m.group(2).strip():
            fence = None
    return fence


def _fit(text: str, budget: int, measure: Measure) -> int:
    """The largest index i such that measure(text[:i]) <= budget (never splitting a surrogate pair)."""
    i = min(len(text), budget)
    while i > 0 and measure(text[:i]) > budget:
        i -= max(1, measure(text[:i]) - budget)
    return i


def _content_start(text: str) -> int:
    """Where the first line that is neither blank nor a fence starts. A cut before it would send
    an empty message or code block, and after a reopened fence would never move on."""
    position = 0
    while position < len(text):
        end = text.find("\n", position)
        end = len(text) if end < 0 else end
        line = text[position:end]
        if line.strip() and not _FENCE.match(line):
            return position
        position = end + 1
    return len(text)


def _cut_point(window: str, start: int) -> int:
    """Where to cut inside ``window``: after the best boundary past ``start``, or at its end."""
    floor = max(int(len(window) * _MIN_FILL), start + 1)
    fallback = 0
    for pattern in _BOUNDARIES:
        ends = [m.end() for m in pattern.finditer(window, start)]
        if ends and ends[-1] >= floor:
            return ends[-1]
        if ends and not fallback and ends[-1] > start:
            fallback = ends[-1]
    return fallback or len(window)


def _closing(fence: str) -> str:
    """The line that closes a fence opened by ``fence`` (same character, same length)."""
    marker = _MARKER.match(fence)
    return "\n" + (marker.group() if marker else "```")


def take_piece(text: str, limit: int, measure: Measure = len) -> Piece:
    """The first message's worth of ``text``; a code fence cut in two is closed and reopened."""
    if measure(text) <= limit:
        return Piece(text=text, consumed=len(text), carry="")
    budget = limit
    while True:
        window_end = _fit(text, budget, measure)
        cut = _cut_point(text[:window_end], _content_start(text[:window_end])) or window_end
        head = text[:cut]
        fence = open_fence(head)
        if fence is None:
            return Piece(text=head.rstrip() or head, consumed=cut, carry="")
        closing = _closing(fence)
        sealed = head.rstrip("\n") + closing
        if measure(sealed) <= limit or budget <= limit - measure(closing) or cut <= 1:
            # The reopened fence and its closing must leave the next piece room for content,
            # or it would carry them on for ever: in a small limit the language is dropped.
            if measure(fence) + 2 * measure(closing) > limit // 2:
                fence = closing.lstrip("\n")
            return Piece(text=sealed, consumed=cut, carry=fence + "\n")
        # Make room for the closing line and cut again.
        budget = limit - measure(closing)


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
