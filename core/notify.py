"""Notices to a chat: in the configured language, through the chat's flood waits. A long wait is
sat out in the background, so the channel's next message does not queue behind it."""

from __future__ import annotations

import asyncio
import logging

from core import notices
from core.activity import Activity
from core.errors import ChatUnwritable, FloodControl, WriteFailed, WriteUncertain
from core.surface import Surface

log = logging.getLogger(__name__)

NOTICE_FLOOD_WAIT = 30.0  # longer flood waits are sat out in the background
NOTICE_ATTEMPTS = 5  # flood waits in a row a notice sits out before it is given up


class Notifier:
    """Posts notices (one instance per process); the late ones are dropped on shutdown."""

    def __init__(
        self, texts: notices.Texts | None = None, activity: Activity | None = None
    ) -> None:
        self._texts = texts or notices.Texts()
        self._activity = activity
        self._late: set[asyncio.Task[None]] = set()

    def render(self, text: str, *, backend: str | None = None) -> str:
        """``text`` as the user reads it (see :meth:`core.notices.Texts.render`)."""
        return self._texts.render(text, backend=backend)

    async def notify(self, surface: Surface, text: str) -> None:
        """Post a notice, after the chat's flood wait if there is one; one the chat refuses
        costs a log line. A named notice joins the operator's page's trouble list."""
        if self._activity is not None and isinstance(text, notices.Notice):
            # The English text: short, and the same on the page whatever the chat's language.
            self._activity.trouble(f"notice {text.name}", surface.pace_key, str(text))
        text = self._texts.render(text)
        wait = await self._try(surface, text)
        if wait is None:
            return
        if wait <= NOTICE_FLOOD_WAIT:
            await self._after(surface, text, wait)
            return
        log.info("notice waits %.0fs for flood control", wait, extra={"channel": surface.pace_key})
        task = asyncio.create_task(self._after(surface, text, wait))
        self._late.add(task)
        task.add_done_callback(self._late.discard)

    def drop_late(self) -> None:
        """Give up the notices still waiting out a flood (the process is stopping)."""
        if self._late:
            log.warning("%d notices waiting out flood control dropped", len(self._late))
        for late in list(self._late):
            late.cancel()

    async def _try(self, surface: Surface, text: str) -> float | None:
        """Post the notice once: the flood wait asked for, or None when done with it."""
        try:
            await surface.notice(text)
        except FloodControl as flood:
            return flood.retry_after
        except (ChatUnwritable, WriteFailed, WriteUncertain) as exc:
            log.warning("notice not delivered: %s", exc, extra={"channel": surface.pace_key})
        return None

    async def _after(self, surface: Surface, text: str, wait: float) -> None:
        for _ in range(NOTICE_ATTEMPTS):
            await asyncio.sleep(wait)
            again = await self._try(surface, text)
            if again is None:
                return
            wait = again
        log.warning("notice dropped after %d flood waits", NOTICE_ATTEMPTS)
