"""What goes upstream for one message: the text, named after its author in shared channels,
with the message it replies to quoted above it."""

from __future__ import annotations

from core.config import RelaySettings
from core.model import Incoming

QUOTE_LIMIT = 300  # characters of a replied-to message carried along


def is_shared(msg: Incoming) -> bool:
    """A group, server channel, thread or topic (not a DM, private chat or the console)."""
    return msg.origin is not None and not msg.origin.private


def upstream_text(msg: Incoming, settings: RelaySettings) -> str:
    """The prompt for ``msg``.

    With names on (``speaker_names``: "groups" in shared channels, "always", "never"), the text
    goes through ``speaker_format``. A reply to someone else's message (``quote_replies``) is
    preceded by the quoted text, cut to 300 characters, each line marked with "> " and headed by
    the quoted author's name when names are on::

        > Bob: the message Bob wrote
        Alice: what Alice says about it
    """
    if not msg.text.strip():
        return msg.text  # the relay answers empty messages; nothing to dress up
    named = settings.speaker_names == "always" or (
        settings.speaker_names == "groups" and is_shared(msg)
    )
    text = msg.text
    if named and msg.author_name.strip():
        text = settings.speaker_format.format_map({"name": msg.author_name.strip(), "text": text})
    quote = msg.quote.strip()
    if settings.quote_replies and quote:
        if len(quote) > QUOTE_LIMIT:
            quote = quote[: QUOTE_LIMIT - 1].rstrip() + "…"
        if named and msg.quote_author.strip():
            quote = f"{msg.quote_author.strip()}: {quote}"
        quoted = "\n".join(f"> {line}" for line in quote.splitlines())
        text = f"{quoted}\n{text}"
    return text
