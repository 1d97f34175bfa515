"""Do a deploy-wide chore once, not once per process: e.g. registering a bot's command list.

The store remembers what the chore last did (a hash of its content); a process that finds the same
hash there skips it. Only the last one counts, so going back to earlier content (a reload that
restores the previous language) does the chore again.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import time
from collections.abc import Awaitable, Callable

from core.errors import StoreUnavailable
from core.store.base import Store

log = logging.getLogger(__name__)

DONE_TTL = 365 * 86400.0  # how long the store remembers what was done last
BUSY_TTL = 300.0  # one process at a time; a failed attempt is retried after this


def content_hash(payload: object) -> str:
    """A short, stable hash of JSON-able ``payload``."""
    text = json.dumps(payload, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:24]


async def once_per_deploy(
    store: Store | None,
    what: str,
    payload: object,
    action: Callable[[], Awaitable[object]],
    *,
    busy_ttl: float = BUSY_TTL,
) -> bool:
    """Run ``action`` unless the last time some process did chore ``what`` it was for this
    ``payload``; True if run here.

    ``what`` names the chore (e.g. ``dc:commands:<app id>``). Without a store, or when the store
    cannot be reached, the action runs (doing it twice is harmless, never doing it is not). A
    failed action leaves no record of being done, so the next attempt, in this process or
    another, tries again at once.
    """
    if store is None:
        await action()
        return True
    digest = content_hash(payload)
    mark = f"once:{what}"
    try:
        last = await store.get_mark(mark)
        if last is not None and last.partition("@")[0] == digest:
            log.info("%s: done before, skipped", what)
            return False
        # One process per step from what was done last (each time it is done is a new mark), and
        # per failed attempt: a failure names a new attempt, so the next try need not wait out
        # the failed one's claim.
        attempt = await store.get_mark(f"{mark}:failed") or "-"
        if not await store.claim(f"{mark}:{last or '-'}>{digest}:{attempt}:busy", busy_ttl):
            log.info("%s: another process is doing it", what)
            return False
    except StoreUnavailable:
        await action()
        return True
    try:
        await action()
    except BaseException:
        with contextlib.suppress(StoreUnavailable):
            await store.set_mark(f"{mark}:failed", f"{time.time():.6f}", busy_ttl)
        raise
    try:
        await store.set_mark(mark, f"{digest}@{time.time():.6f}", DONE_TTL)
    except StoreUnavailable:
        log.warning("%s: done, but the store could not record it", what)
    return True
