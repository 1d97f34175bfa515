"""Edits and deletions of a user's message: the rule for what an edit does, and its journal
record. An edit of a message still waiting for its turn replaces its text; an edit of one that
went upstream is ignored, or with ``relay.edits = "answer"`` relayed as a new message; a
deleted message still waiting leaves the queue without a word."""

from __future__ import annotations

import hashlib
from dataclasses import replace
from enum import StrEnum
from typing import Literal

from core.model import Incoming

EditMode = Literal["queued", "answer", "off"]


class EditAction(StrEnum):
    """What an edit of a message does."""

    REPLACE = "replace"
    """The message has not gone upstream: it goes with the new text."""
    ANSWER = "answer"
    """It was answered: the new text is relayed as a new message."""
    IGNORE = "ignore"


def on_edit(mode: EditMode, *, queued: bool, relayed: bool) -> EditAction:
    """The rule: what an edit does, by the setting and where the message stands (``queued``:
    waiting for its turn here; ``relayed``: it went, or is going, upstream)."""
    if mode == "off":
        return EditAction.IGNORE
    if queued:
        return EditAction.REPLACE
    if mode == "answer" and relayed:
        return EditAction.ANSWER
    return EditAction.IGNORE


def as_new_message(msg: Incoming) -> Incoming:
    """An answered message's edit as a message of its own: its id names the edit's text, so a
    redelivered edit is relayed once."""
    digest = hashlib.sha256(msg.text.encode("utf-8", "surrogatepass")).hexdigest()[:8]
    return replace(msg, message_id=f"{msg.message_id}#edit-{digest}")
