"""Notices to a chat: in the configured language, through the chat's flood waits. A long wait is
sat out in the background, so the channel's next message does not queue behind it. Under the
bot-wide budget a notice waits its turn after first messages and final texts, before streaming
edits; it waits as long as it takes, never dropped for it."""

from __future__ import annotations

import asyncio
import logging
from typing import NamedTuple

from core import notices
from core.activity import Activity
from core.errors import ChatUnwritable, FloodControl, WriteFailed, WriteUncertain
from core.pacing import Pacing, Priority
from core.surface import Surface

log = logging.getLogger(__name__)

NOTICE_FLOOD_WAIT = 30.0  # longer flood waits are sat out in the background
NOTICE_ATTEMPTS = 8  # tries after the first before a notice is given up
NOTICE_RETRY_MAX_GAP = 30.0  # a failed notice is tried again after 1, 2, 4 ... s, up to this


class _Again(NamedTuple):
    """When to try a notice again, and whether the channel's next message may go first."""

    wait: float
    background: bool


class Notifier:
    """Posts notices (one instance per process); the late ones are dropped on shutdown."""

    def __init__(
        self,
        texts: notices.Texts | None = None,
        activity: Activity | None = None,
        pacing: Pacing | None = None,
    ) -> None:
        self._texts = texts or notices.Texts()
        self._activity = activity
        self._pacing = pacing
        self._late: set[asyncio.Task[None]] = set()

    def render(self, text: str, *, backend: str | None = None) -> str:
        """``text`` as the user reads it (see :meth:`core.notices.Texts.render`)."""
        return self._texts.render(text, backend=backend)

    async def notify(self, surface: Surface, text: str, *, hold: bool = False) -> None:
        """Post a notice, after the chat's flood wait if there is one; one the chat refuses
        costs a log line. A named notice joins the operator's page's trouble list.

        With ``hold`` every try is waited for here, never in the background: the caller keeps
        its journal record open until the notice landed (or was given up), so a process killed
        meanwhile leaves it to be sent again by the next."""
        if self._activity is not None and isinstance(text, notices.Notice):
            # The English text: short, and the same on the page whatever the chat's language.
            self._activity.trouble(f"notice {text.name}", surface.pace_key, str(text))
        text = self._texts.render(text)
        again = await self._try(surface, text, 0)
        if again is None:
            return
        if hold or not again.background:
            await self._after(surface, text, again.wait)
            return
        log.info("notice tried again in %.0fs", again.wait, extra={"channel": surface.pace_key})
        task = asyncio.create_task(self._after(surface, text, again.wait))
        self._late.add(task)
        task.add_done_callback(self._late.discard)

    def drop_late(self) -> None:
        """Give up the notices still waiting out a flood (the process is stopping)."""
        if self._late:
            log.warning("%d notices waiting out flood control dropped", len(self._late))
        for late in list(self._late):
            late.cancel()

    async def _try(self, surface: Surface, text: str, attempt: int) -> _Again | None:
        """Post the notice once: when to try again, or None when done with it. A platform
        error (a 5xx: nothing landed) is tried again in the background, as a long flood wait
        is, so the channel's next message does not wait behind an outage."""
        pacing = self._pacing
        if pacing is not None:
            # Its turn bot-wide; the write then goes whatever the chat's budget says, as before.
            await pacing.turn(surface.pace_key, Priority.NOTICE, pacing.clock())
        try:
            await surface.notice(text)
        except FloodControl as flood:
            if pacing is not None:
                scope = None if flood.scoped else surface.write_budget
                await pacing.flooded(surface.pace_key, flood.retry_after, budget=scope)
            return _Again(flood.retry_after, flood.retry_after > NOTICE_FLOOD_WAIT)
        except WriteFailed as exc:
            wait = min(2.0**attempt, NOTICE_RETRY_MAX_GAP)
            log.info("notice failed (%s); trying again in %.0fs", exc, wait)
            return _Again(wait, True)
        except (ChatUnwritable, WriteUncertain) as exc:
            log.warning("notice not delivered: %s", exc, extra={"channel": surface.pace_key})
        return None

    async def _after(self, surface: Surface, text: str, wait: float) -> None:
        for attempt in range(1, NOTICE_ATTEMPTS + 1):
            await asyncio.sleep(wait)
            again = await self._try(surface, text, attempt)
            if again is None:
                return
            wait = again.wait
        log.warning("notice dropped after %d tries", NOTICE_ATTEMPTS + 1)
