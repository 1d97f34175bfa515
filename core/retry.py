"""One retry policy for store writes that must land: a brief outage is waited out, a longer one
is left to the caller (to log, drop or defer)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from core.errors import StoreUnavailable

WRITE_ATTEMPTS = 4  # about 1.5 s in all with the store's own timeouts, then the caller decides
WRITE_BACKOFF = 0.1


async def retry_store(write: Callable[[], Awaitable[object]]) -> bool:
    """Run ``write`` until the store takes it, backing off between tries; False when the store
    stayed unreachable through every try."""
    for attempt in range(WRITE_ATTEMPTS):
        try:
            await write()
            return True
        except StoreUnavailable:
            if attempt + 1 < WRITE_ATTEMPTS:
                await asyncio.sleep(WRITE_BACKOFF * 2**attempt)
    return False
