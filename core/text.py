"""Unicode rules for text crossing the bridge's edges: well-formed strings from the upstreams,
and what counts as an empty message."""

from __future__ import annotations

import re
import unicodedata

_SURROGATE = re.compile("[\ud800-\udfff]")
# Letters that draw nothing although they are no format characters: the Hangul fillers and the
# blank Braille pattern, used to post "empty" messages.
_BLANK_LETTERS = frozenset("\u115f\u1160\u3164\uffa0\u2800")


def well_formed(text: str) -> str:
    """``text`` with surrogate pairs joined into the characters they encode and every lone
    surrogate replaced by U+FFFD, so it can be encoded (JSON escapes such as ``\\ud83d`` decode
    to lone halves in Python)."""
    if text.isascii() or not _SURROGATE.search(text):
        return text
    return text.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace")


def is_blank(text: str) -> bool:
    """True when ``text`` shows nothing: only whitespace, control and format characters
    (zero-width spaces and joiners, U+2060, U+FEFF, bidi marks) and blank fillers."""
    return all(
        c.isspace() or c in _BLANK_LETTERS or unicodedata.category(c) in ("Cc", "Cf") for c in text
    )


class SurrogateJoiner:
    """Mends a text cut in pieces that may split a surrogate pair between two of them (a server
    slicing UTF-16 strings): a high half ending a piece is held for the next one."""

    def __init__(self) -> None:
        self._held = ""

    def feed(self, piece: str) -> str:
        """The well-formed text of ``piece``, a trailing high half held back."""
        piece, self._held = self._held + piece, ""
        if piece and "\ud800" <= piece[-1] <= "\udbff":
            piece, self._held = piece[:-1], piece[-1]
        return well_formed(piece)

    def end(self) -> str:
        """What is still held at the end of the text: U+FFFD for a lone half, else ''."""
        held, self._held = self._held, ""
        return well_formed(held)
