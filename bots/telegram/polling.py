"""Long polling that confirms an update to Telegram only once the bridge has recorded it.

python-telegram-bot's Updater moves the ``getUpdates`` offset past every update as soon as it
has fetched it, so a crash between fetching and recording loses the update for good. Here the
offset only moves past updates whose ``recorded`` event is set (or whose handling ended); after
a crash Telegram hands the rest out again, and the relay's de-duplication makes that safe.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence

from telegram import Bot, Update
from telegram.error import Conflict, InvalidToken, RetryAfter, TelegramError

from bots.telegram.surface import retry_seconds
from core.tasks import cancel

log = logging.getLogger(__name__)

Dispatch = Callable[[Update, asyncio.Event], Awaitable[object]]

POLL_TIMEOUT = 10  # seconds Telegram holds an empty getUpdates open
UNRECORDED_RECHECK = 0.5  # how often to poll again while fetched updates are still unrecorded
MAX_BACKOFF = 30.0


def _log_failure(err: Exception, backoff: float) -> None:
    """One line for a failed getUpdates: what Telegram said, or the traceback of anything else."""
    if isinstance(err, Conflict):
        log.warning("telegram: another process polls this bot; retrying in %.0fs", backoff)
    elif isinstance(err, TelegramError):
        log.warning("telegram: getUpdates failed (%s); retrying in %.0fs", err, backoff)
    else:
        log.error("telegram: polling failed; retrying in %.0fs", backoff, exc_info=err)


class Poller:
    """Fetches updates, hands each to ``dispatch`` in its own task, and confirms them in order.

    ``dispatch(update, recorded)`` must set ``recorded`` once the update can no longer be lost;
    the event is also set when the dispatch ends, whatever happened.
    """

    def __init__(
        self, bot: Bot, dispatch: Dispatch, *, allowed_updates: Sequence[str] | None = None
    ) -> None:
        self._bot = bot
        self._dispatch = dispatch
        self._allowed = list(allowed_updates) if allowed_updates is not None else None
        self._pending: dict[int, asyncio.Event] = {}  # fetched, not confirmed yet
        self._tasks: set[asyncio.Task[None]] = set()
        self._next = 0  # highest update id handed out + 1
        self._runner: asyncio.Task[None] | None = None

    @property
    def running(self) -> bool:
        """True while the polling loop runs."""
        return self._runner is not None and not self._runner.done()

    def start(self) -> None:
        """Start polling in the background."""
        self._runner = asyncio.create_task(self._run(), name="telegram-polling")

    async def stop(self) -> None:
        """Stop fetching; confirm what was recorded so a restart does not fetch it again.

        The confirming call needs a second getUpdates connection: the long poll cancelled
        here may keep the first one (``get_updates_connection_pool_size(2)``)."""
        runner, self._runner = self._runner, None
        await cancel(runner)
        offset = self._offset()
        if offset:
            try:
                await self._bot.get_updates(offset=offset, timeout=0, limit=1)
            except TelegramError as err:
                log.info("telegram: could not confirm the last updates (%s)", err)

    async def wait_handled(self, within: float) -> None:
        """Until every dispatched update has been handled, at most ``within`` seconds."""
        if self._tasks:
            await asyncio.wait(set(self._tasks), timeout=within)

    def _offset(self) -> int:
        """The next offset: just past every update that is recorded, up to the first that isn't."""
        unrecorded = [uid for uid, event in self._pending.items() if not event.is_set()]
        offset = min(unrecorded) if unrecorded else self._next
        for uid in [uid for uid in self._pending if uid < offset]:
            del self._pending[uid]
        return offset

    async def _run(self) -> None:
        backoff = 1.0
        while True:
            offset = self._offset()
            waiting = [e for e in self._pending.values() if not e.is_set()]
            try:
                updates = await self._bot.get_updates(
                    offset=offset or None,
                    # Unconfirmed updates come straight back: no long poll while some wait.
                    timeout=0 if waiting else POLL_TIMEOUT,
                    allowed_updates=self._allowed,
                )
            except InvalidToken:
                log.error("telegram: the bot token was refused; polling stopped")
                return
            except RetryAfter as err:
                await asyncio.sleep(retry_seconds(err))
                continue
            except Exception as err:
                # Whatever went wrong, a bot that stops polling goes silent: keep going.
                _log_failure(err, backoff)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, MAX_BACKOFF)
                continue
            backoff = 1.0
            fresh = [u for u in updates if u.update_id >= self._next]
            for update in fresh:
                self._hand_out(update)
            still = [e for e in self._pending.values() if not e.is_set()]
            if still and not fresh:
                await _any_set(still, UNRECORDED_RECHECK)

    def _hand_out(self, update: Update) -> None:
        recorded = asyncio.Event()
        self._pending[update.update_id] = recorded
        self._next = update.update_id + 1
        task = asyncio.create_task(self._handle(update, recorded))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _handle(self, update: Update, recorded: asyncio.Event) -> None:
        try:
            await self._dispatch(update, recorded)
        except Exception:
            log.exception("telegram: update %d not handled", update.update_id)
        finally:
            recorded.set()


async def _any_set(events: list[asyncio.Event], within: float) -> None:
    """Wait until one of ``events`` is set, at most ``within`` seconds."""
    waiters = [asyncio.create_task(e.wait()) for e in events]
    try:
        await asyncio.wait(waiters, timeout=within, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for w in waiters:
            w.cancel()
