"""The store: Redis when a URL or sentinels are configured, else an embedded SQLite file."""

from __future__ import annotations

from core.config import StoreSettings
from core.store.base import Store
from core.store.redis import RedisStore
from core.store.sentinel import SentinelTarget
from core.store.sqlite import SqliteStore

__all__ = ["RedisStore", "SqliteStore", "Store", "open_store"]


def open_store(settings: StoreSettings) -> Store:
    """The configured store; connections open lazily on first use."""
    sentinel = SentinelTarget.of(settings)
    if sentinel is not None:
        return RedisStore(prefix=settings.prefix, sentinel=sentinel)
    if settings.url:
        return RedisStore(settings.url, prefix=settings.prefix, cluster=settings.cluster)
    return SqliteStore(settings.path)
