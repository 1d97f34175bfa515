"""Ending background tasks: cancel, then wait until each has unwound."""

from __future__ import annotations

import asyncio
from typing import Any


async def cancel(*tasks: asyncio.Future[Any] | None) -> None:
    """Cancel each of ``tasks`` still running (None is skipped) and wait until it has unwound.
    How each ended is taken and dropped, not raised: a task being stopped has nothing left to
    report (our loops log their own failures). A cancellation of the caller meanwhile still
    reaches the caller, which suppressing CancelledError around ``await task`` would swallow."""
    running = [task for task in tasks if task is not None and not task.done()]
    for task in running:
        task.cancel()
    if running:
        await asyncio.wait(running)
    for task in running:
        if not task.cancelled():
            task.exception()  # taken, so asyncio does not log it as never retrieved
