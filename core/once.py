"""Do a deploy-wide chore once, not once per process: e.g. registering a bot's command list.

The store remembers a hash of what was done; a process that finds the same hash there skips it.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Awaitable, Callable

from core.errors import StoreUnavailable
from core.store.base import Store

log = logging.getLogger(__name__)

DONE_TTL = 365 * 86400.0  # a new deploy with other content has another hash anyway
BUSY_TTL = 300.0  # one process at a time; a failed attempt is retried after this
_PROBE_TTL = 0.001


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
    """Run ``action`` unless some process already did it for this ``payload``; True if run here.

    ``what`` names the chore (e.g. ``dc:commands:<app id>``). Without a store, or when the store
    cannot be reached, the action runs (doing it twice is harmless, never doing it is not). A
    failed action leaves no record, so the next process to start tries again.
    """
    if store is None:
        await action()
        return True
    key = f"once:{what}:{content_hash(payload)}"
    try:
        # A claim that lapses at once is a read: False means the chore was recorded as done.
        if not await store.claim(f"{key}:done", _PROBE_TTL):
            log.info("%s: done before, skipped", what)
            return False
        if not await store.claim(f"{key}:busy", busy_ttl):
            log.info("%s: another process is doing it", what)
            return False
    except StoreUnavailable:
        await action()
        return True
    await action()
    try:
        await store.claim(f"{key}:done", DONE_TTL)
    except StoreUnavailable:
        log.warning("%s: done, but the store could not record it", what)
    return True
