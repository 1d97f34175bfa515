"""Ending background tasks: cancel, then wait until each has unwound."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any


async def cancel(*tasks: asyncio.Future[Any] | None) -> None:
    """Cancel each of ``tasks`` (None and finished ones are skipped) and wait for it to end; its
    own cancellation is the expected end, not an error."""
    for task in tasks:
        if task is None:
            continue
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
