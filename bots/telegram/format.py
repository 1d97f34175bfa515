"""Text rules of Telegram: UTF-16 lengths and the model's Markdown turned into message entities."""

from __future__ import annotations

import logging
from urllib.parse import urlsplit

import telegramify_markdown
from telegram import MessageEntity

from core.split import utf16_length

log = logging.getLogger(__name__)

MAX_MESSAGE_LENGTH = 4096
"""Telegram's limit for one message, in UTF-16 code units after entity parsing."""
LINK_SCHEMES = frozenset({"http", "https"})
"""Schemes a link in the AI's output may use; others (``javascript:``, ``tg://``, ...) stay text."""


def is_web_link(url: str | None) -> bool:
    """True for an absolute http(s) URL with a host."""
    try:
        parts = urlsplit(url or "")
    except ValueError:
        return False
    return parts.scheme.lower() in LINK_SCHEMES and bool(parts.netloc)


def markdown_to_entities(markdown: str) -> tuple[str, list[MessageEntity]] | None:
    """Render Markdown to plain text plus entities, or None when there is nothing to format
    (or the result would not fit one message); the caller then sends the text as it is.
    Only http(s) links become links: another link keeps its text, without the entity."""
    try:
        text, found = telegramify_markdown.convert(markdown)
    except Exception:  # a renderer bug must never cost the user their reply
        log.warning("markdown rendering failed; sending plain text", exc_info=True)
        return None
    found = [e for e in found if e.type != "text_link" or is_web_link(e.url)]
    if not found or not text.strip() or utf16_length(text) > MAX_MESSAGE_LENGTH:
        return None
    entities = [
        MessageEntity(
            type=e.type,
            offset=e.offset,
            length=e.length,
            url=e.url,
            language=e.language,
            custom_emoji_id=e.custom_emoji_id,
        )
        for e in found
    ]
    return text, entities
