"""Edits and deletions of a user's message: the rule for what an edit does, and its journal
record. An edit of a message still waiting for its turn replaces its text; an edit of one that
went upstream is ignored, or with ``relay.edits = "answer"`` relayed as a new message; a
deleted message still waiting leaves the queue without a word."""

from __future__ import annotations

import contextlib
import hashlib
import logging
from dataclasses import replace
from enum import StrEnum
from typing import Literal

from core.errors import StoreUnavailable
from core.merge import Merges
from core.model import Incoming
from core.records import State
from core.store.base import Store

log = logging.getLogger(__name__)

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


async def apply_edit(merges: Merges, store: Store, mode: EditMode, msg: Incoming) -> EditAction:
    """The author edited ``msg`` (its new text, as it would go upstream): a message still
    waiting for its turn here takes the new text, journaled; says what the edit does."""
    one = merges.find(msg.message_id)
    waiting = one if one is not None and not one.is_gone() else None
    if waiting is not None and waiting.journal.record.state is not State.RECEIVED:
        waiting = None  # its turn came: it is going upstream now
    relayed = one is not None
    if not relayed:
        with contextlib.suppress(StoreUnavailable):
            relayed = await store.journal_get(msg.channel, msg.message_id) is not None
    action = on_edit(mode, queued=waiting is not None, relayed=relayed)
    if action is EditAction.REPLACE and waiting is not None:
        waiting.msg = replace(waiting.msg, text=msg.text)
        waiting.journal.later(State.RECEIVED, text=msg.text)
        log.info("a queued message was edited", extra={"channel": msg.channel})
    return action


def withdraw(merges: Merges, message_id: str) -> bool:
    """The author deleted a message: one still waiting for its turn here leaves the queue,
    journaled as done, and nothing is sent for it; False when it went upstream or is not here."""
    one = merges.find(message_id)
    if one is None or one.is_gone() or one.journal.record.state is not State.RECEIVED:
        return False
    one.deleted = True
    one.journal.later(State.DONE)
    log.info("a queued message was deleted", extra={"channel": one.msg.channel})
    return True
