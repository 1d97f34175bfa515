"""The store: Redis when a URL is configured, else an embedded SQLite file."""

from __future__ import annotations

from core.config import StoreSettings
from core.store.base import Store
from core.store.redis import RedisStore
from core.store.sqlite import SqliteStore

__all__ = ["RedisStore", "SqliteStore", "Store", "open_store"]


def open_store(settings: StoreSettings) -> Store:
    """The configured store; connections open lazily on first use."""
    if settings.url:
        return RedisStore(settings.url, prefix=settings.prefix, cluster=settings.cluster)
    return SqliteStore(settings.path)
