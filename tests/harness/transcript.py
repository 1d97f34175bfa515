"""Reading what a chat shows from outside: which bot messages are the bridge's notices."""

from __future__ import annotations

import re

from core.translations import EN

# A notice is recognised by the longest fixed stretch of its template (between placeholders).
NOTICE_MARKS = tuple(
    mark
    for mark in (max(re.split(r"\{[^}]*\}", t), key=len).strip() for t in EN.values())
    if len(mark) >= 12
)


def is_notice(text: str) -> bool:
    """Whether a bot message shows one of the bridge's notices (in English)."""
    return any(mark in text for mark in NOTICE_MARKS)
