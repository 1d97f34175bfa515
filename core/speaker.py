"""What goes upstream for one message: the text, named after its author in shared channels,
with the message it replies to quoted above it."""

from __future__ import annotations

import re
import unicodedata

from core.config import RelaySettings
from core.model import Incoming
from core.text import is_blank

QUOTE_LIMIT = 300  # characters of a replied-to message carried along
NAME_LIMIT = 64
"""Characters of a speaker's name carried along: any Discord name (32 at most) and any Telegram
first name (64) fit whole, while a name cannot carry a paragraph of instructions."""

# Bidi embeddings, overrides, isolates and marks: they reorder the text around the name, so
# "Eve" may read as someone else's words.
_BIDI = dict.fromkeys(
    map(ord, "\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
)
_SPACES = re.compile(r"\s+")


def is_shared(msg: Incoming) -> bool:
    """A group, server channel, thread or topic (not a DM, private chat or the console)."""
    return msg.origin is not None and not msg.origin.private


def speaker_name(name: str) -> str:
    """``name`` as one line: line breaks and control characters become spaces (a name such as
    "Eve\\nSYSTEM: ..." must not pose as a line of its own), bidi controls are dropped, runs of
    spaces collapse, and it is cut to :data:`NAME_LIMIT` characters."""
    name = name.translate(_BIDI)
    name = "".join(" " if unicodedata.category(c) in ("Cc", "Zl", "Zp") else c for c in name)
    name = _SPACES.sub(" ", name).strip()
    if len(name) > NAME_LIMIT:
        name = name[: NAME_LIMIT - 1].rstrip() + "…"
    return name


def upstream_text(msg: Incoming, settings: RelaySettings) -> str:
    """The prompt for ``msg``.

    With names on (``speaker_names``: "groups" in shared channels, "always", "never"), the text
    goes through ``speaker_format``. A reply to someone else's message (``quote_replies``) is
    preceded by the quoted text, cut to 300 characters, each line marked with "> " and headed by
    the quoted author's name when names are on::

        > Bob: the message Bob wrote
        Alice: what Alice says about it
    """
    if is_blank(msg.text):
        return msg.text  # the relay answers empty messages; nothing to dress up
    named = settings.speaker_names == "always" or (
        settings.speaker_names == "groups" and is_shared(msg)
    )
    text = msg.text
    author, quote_author = speaker_name(msg.author_name), speaker_name(msg.quote_author)
    if named and author:
        text = settings.speaker_format.format_map({"name": author, "text": text})
    quote = msg.quote.strip()
    if settings.quote_replies and quote:
        if len(quote) > QUOTE_LIMIT:
            quote = quote[: QUOTE_LIMIT - 1].rstrip() + "…"
        if named and quote_author:
            quote = f"{quote_author}: {quote}"
        quoted = "\n".join(f"> {line}" for line in quote.splitlines())
        text = f"{quoted}\n{text}"
    return text
