"""The Redis servers tests use: the shared one, the local cluster, and one of a test's own."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
from pathlib import Path

import pytest
import redis
import redis.asyncio as aioredis
from redis.exceptions import RedisClusterException

from tests.harness.settings import CLUSTER_URL, REDIS_URL


def need_redis_server(*also: str) -> None:
    """Skip the test when ``redis-server`` (or another Redis tool in ``also``) is missing; on CI,
    which installs them (``.ci/run``), fail instead: a skip there would hide the test."""
    missing = [tool for tool in ("redis-server", *also) if shutil.which(tool) is None]
    if not missing:
        return
    if os.environ.get("CI"):
        pytest.fail(f"{', '.join(missing)} not installed (.ci/run installs it)")
    pytest.skip(f"{', '.join(missing)} not installed")


def redis_available() -> bool:
    """True when the test Redis answers PING."""
    try:
        return bool(redis.Redis.from_url(REDIS_URL, socket_timeout=1).ping())
    except (redis.RedisError, OSError):
        return False


async def cluster_reachable() -> bool:
    """True when the local Redis Cluster answers and its state is ok."""
    client = aioredis.RedisCluster.from_url(CLUSTER_URL, socket_connect_timeout=1, socket_timeout=1)
    try:
        return (await client.cluster_info()).get("cluster_state") == "ok"
    except (OSError, aioredis.RedisError, RedisClusterException):
        return False
    finally:
        await client.aclose()


def server_command(
    port: int,
    workdir: Path,
    *,
    password: str = "",
    appendonly: bool = False,
    config: Path | None = None,
    extra: tuple[str, ...] = (),
) -> list[str]:
    """The command line of a test's own redis-server on ``port``: loopback only, no snapshots;
    ``config`` is a file it reads first (a sentinel's, which it rewrites), ``extra`` comes last."""
    binary = shutil.which("redis-server")
    if binary is None:
        raise RuntimeError("redis-server is not installed")
    return [
        binary,
        *([str(config)] if config else []),
        "--port",
        str(port),
        "--bind",
        "127.0.0.1",
        "--save",
        "",
        "--appendonly",
        "yes" if appendonly else "no",
        "--dir",
        str(workdir),
        *(["--requirepass", password] if password else []),
        *extra,
    ]


class RedisServer:
    """A redis-server of the test's own on ``port`` (never the shared one); no snapshots, and
    an append-only file only with ``appendonly`` (for a restart that keeps the data)."""

    def __init__(
        self, port: int, workdir: Path, *, password: str = "", appendonly: bool = False
    ) -> None:
        self.port = port
        self.workdir = workdir
        self.password = password
        self.appendonly = appendonly
        self.proc: asyncio.subprocess.Process | None = None

    @property
    def url(self) -> str:
        """Its redis:// URL (with the password, when it has one)."""
        auth = f":{self.password}@" if self.password else ""
        return f"redis://{auth}127.0.0.1:{self.port}/0"

    async def start(self) -> None:
        """Start it and wait until it answers PING."""
        self.proc = await asyncio.create_subprocess_exec(
            *server_command(
                self.port, self.workdir, password=self.password, appendonly=self.appendonly
            ),
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
        )
        async with asyncio.timeout(30):
            while True:
                with contextlib.suppress(OSError):
                    reader, writer = await asyncio.open_connection("127.0.0.1", self.port)
                    writer.write(b"PING\r\n")
                    await writer.drain()
                    answer = await reader.readline()
                    writer.close()
                    # Once it listens it answers: PONG, or NOAUTH when it has a password.
                    if answer.startswith((b"+PONG", b"-NOAUTH")):
                        return
                await asyncio.sleep(0.05)

    async def terminate(self) -> None:
        """SIGTERM: Redis flushes its append-only file and exits, as on a restart."""
        if self.proc is not None and self.proc.returncode is None:
            self.proc.terminate()
            await self.proc.wait()

    async def stop(self) -> None:
        """Kill it (this test's own server only)."""
        if self.proc is not None and self.proc.returncode is None:
            self.proc.kill()
            await self.proc.wait()
