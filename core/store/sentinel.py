"""Redis behind Sentinel: the master the sentinels name, followed across a failover."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from redis import exceptions as redis_errors
from redis.asyncio import BlockingConnectionPool, Redis
from redis.asyncio.connection import AbstractConnection
from redis.asyncio.sentinel import Sentinel, SentinelConnectionPool, SentinelManagedConnection

from core.config import StoreSettings, host_port
from core.errors import StoreUnavailable


def write_refusal(error: object) -> str:
    """'READONLY' from a master a failover demoted, or 'NOREPLICAS' from a master short of the
    replicas ``min-replicas-to-write`` asks for ('' for any other reply): nothing was written,
    and the store cannot take writes until the failover ends, as during an outage."""
    if isinstance(error, redis_errors.ReadOnlyError):
        return "READONLY"
    if isinstance(error, redis_errors.ResponseError) and str(error).startswith("NOREPLICAS"):
        return "NOREPLICAS"
    return ""


@dataclass(frozen=True, slots=True)
class SentinelTarget:
    """Where the master is found: the sentinels, the master's name, and the passwords of the
    Redis servers and of the sentinels (None for none)."""

    sentinels: tuple[tuple[str, int], ...]
    master: str
    password: str | None = field(default=None, repr=False)  # never in a log line
    sentinel_password: str | None = field(default=None, repr=False)

    @classmethod
    def of(cls, settings: StoreSettings) -> SentinelTarget | None:
        """The target the settings name; None when they name no sentinels."""
        if not settings.sentinels:
            return None
        secret = settings.password, settings.sentinel_password
        password, sentinel_password = (s.get_secret_value() if s else None for s in secret)
        return cls(
            tuple(host_port(address) for address in settings.sentinels),
            settings.sentinel_master.strip(),
            password,
            sentinel_password,
        )


class _BlockingSentinelPool(SentinelConnectionPool, BlockingConnectionPool):
    """Sentinel's pool, asking the sentinels on each new connection where the master is now,
    that waits for a free connection as the single-server pool does (a burst of messages is
    not an outage)."""


class SentinelLink:
    """The sentinels and a client of the master they name.

    Every new connection asks the sentinels for the master's address, so after a failover
    the next connection reaches the promoted replica; a demoted master's READONLY closes the
    connection (redis-py turns it into a ConnectionError), and the store's retry reconnects.
    """

    def __init__(
        self,
        target: SentinelTarget,
        options: dict[str, Any],
        packed: type[AbstractConnection] | None = None,
    ) -> None:
        self.target = target
        # The sentinels' own clients: the same timeouts and quick retries, their password.
        asking = {k: options[k] for k in ("socket_timeout", "socket_connect_timeout", "retry")}
        self.sentinel = Sentinel(
            list(target.sentinels),
            sentinel_kwargs={
                **asking,
                "decode_responses": True,
                "password": target.sentinel_password,
            },
        )
        connection = packed or SentinelManagedConnection
        self.master: Redis = self.sentinel.master_for(
            target.master,
            connection_pool_class=_BlockingSentinelPool,
            connection_class=connection,
            password=target.password,
            timeout=None,
            **options,
        )

    async def describe(self) -> str:
        """'sentinel master NAME at HOST:PORT, N replica(s)', as the sentinels see it now."""
        name = self.target.master
        try:
            host, port = await self.sentinel.discover_master(name)
            replicas = await self.sentinel.discover_replicas(name)
        except (redis_errors.ConnectionError, redis_errors.TimeoutError):
            # The error lists every sentinel tried; the addresses are enough to say.
            raise StoreUnavailable(
                f"store unreachable: no sentinel of {len(self.target.sentinels)} names a "
                f"master '{name}' that is up"
            ) from None
        count = len(replicas)
        return f"sentinel master {name} at {host}:{port}, {count} replica{'s' * (count != 1)}"

    async def aclose(self) -> None:
        """Close the master's client and the sentinels' clients."""
        await self.master.aclose()
        await self.sentinel.aclose()
