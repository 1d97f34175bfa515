"""Stopping a streaming reply: who may stop it, and this process's replies that can be stopped.

A press of the reply's Stop button (or ``/stop``) reaches the process that streams the reply:
the upstream stream is closed, the text so far stays and ends with the ``stopped`` notice, and
the journal records the reply as stopped, so recovery never completes it.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from enum import StrEnum

from core import notices
from core.config import RelaySettings
from core.conversations import USER_MARK
from core.errors import Stopped
from core.journal import JournalWriter
from core.live import Current, current
from core.model import Incoming
from core.render import ReplyRenderer
from core.surface import StopButton, Surface

log = logging.getLogger(__name__)

TAG_PREFIX = "stop|"


class Press(StrEnum):
    """What came of a request to stop a reply."""

    STOPPED = "stopped"
    REFUSED = "refused"
    """Neither the asker nor an admin: the reply goes on."""
    GONE = "gone"
    """No such reply streams in this process (it ended, or another process streams it)."""


def may_stop(presser: str, asker: str, *, admin: bool) -> bool:
    """The rule: the person who asked, or an admin, may stop a reply."""
    return presser == asker or admin


def stop_tag(message_id: str) -> str:
    """What a reply's Stop button sends back (fits Telegram's 64-byte callback data)."""
    return f"{TAG_PREFIX}{message_id}"


def tagged_message(tag: str) -> str | None:
    """The message id a Stop button's tag names; None for another button's."""
    return tag.removeprefix(TAG_PREFIX) if tag.startswith(TAG_PREFIX) else None


def place_of(channel: str) -> str:
    """The platform channel of a conversation key (a person's conversation in it included)."""
    return channel.split(USER_MARK, 1)[0]


@dataclass(slots=True, eq=False)
class _Streaming:
    message_id: str
    place: str
    asker: str
    journal: JournalWriter
    renderer: ReplyRenderer
    stopped: bool = False

    def stop(self) -> None:
        """Record the stop, then end the reply (the renderer closes the upstream stream)."""
        if self.stopped:
            return
        self.stopped = True
        self.journal.later(self.journal.record.state, stopped=True)
        self.renderer.stop(Stopped())


class Stops:
    """The replies streaming in this process, by the id of the message they answer."""

    def __init__(
        self,
        settings: RelaySettings | Current[RelaySettings],
        render: Callable[[str], str],
    ) -> None:
        self._settings = current(settings)
        self._render = render
        self._streaming: dict[str, _Streaming] = {}

    @contextlib.contextmanager
    def streaming(
        self, msg: Incoming, surface: Surface, journal: JournalWriter, renderer: ReplyRenderer
    ) -> Iterator[None]:
        """``renderer`` streams the reply to ``msg`` meanwhile: it can be stopped, and its
        partial writes carry the Stop button unless the settings turn it off."""
        entry = _Streaming(msg.message_id, place_of(msg.channel), msg.author, journal, renderer)
        self._streaming[msg.message_id] = entry
        if self._settings().stop_button:
            label = self._render(notices.stop_button())
            surface.stop_button = StopButton(stop_tag(msg.message_id), label)
        try:
            yield
        finally:
            if self._streaming.get(msg.message_id) is entry:
                del self._streaming[msg.message_id]

    async def press(self, tag: str, presser: str, is_admin: Callable[[], Awaitable[bool]]) -> Press:
        """Someone pressed the Stop button tagged ``tag``: stop the reply if they may."""
        message_id = tagged_message(tag)
        entry = self._streaming.get(message_id) if message_id is not None else None
        if entry is None:
            return Press.GONE
        admin = presser != entry.asker and await _admin(is_admin)
        if not may_stop(presser, entry.asker, admin=admin):
            return Press.REFUSED
        entry.stop()
        log.info("reply stopped by %s", "its asker" if presser == entry.asker else "an admin")
        return Press.STOPPED

    def stop_own(self, place: str, user: str) -> Press:
        """``/stop``: stop ``user``'s replies streaming in channel ``place``."""
        mine = [e for e in self._streaming.values() if e.place == place and e.asker == user]
        for entry in mine:
            entry.stop()
        return Press.STOPPED if mine else Press.GONE


async def _admin(is_admin: Callable[[], Awaitable[bool]]) -> bool:
    try:
        return await is_admin()
    except Exception:
        log.exception("admin check failed")
        return False
