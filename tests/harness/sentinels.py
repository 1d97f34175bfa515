"""Redis Sentinel of a test's own: one master, one replica and three sentinels on free ports,
started and killed by the test (never the shared Redis).

Everything here blocks (plain processes and the synchronous client), so a session fixture can
start it outside any event loop; an async test calls the waits through ``asyncio.to_thread``.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import redis

from tests.harness.settings import free_port
from tests.harness.stores import server_command

MASTER_NAME = "mymaster"

# A master that does not answer for a second is down; a failover that stalls is tried again
# soon (twice the failover timeout). Quorum 2 of 3.
SENTINEL_CONF = """\
sentinel monitor {name} 127.0.0.1 {port} 2
sentinel down-after-milliseconds {name} 1000
sentinel failover-timeout {name} 3000
"""


class SentinelGroup:
    """A master, its replica and three sentinels watching it under :data:`MASTER_NAME`."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.procs: dict[int, subprocess.Popen[bytes]] = {}
        self.first_master = free_port()
        self.replica = free_port()
        self.sentinel_ports = [free_port() for _ in range(3)]

    @property
    def addresses(self) -> list[str]:
        """The sentinels as the bridge's settings name them."""
        return [f"127.0.0.1:{port}" for port in self.sentinel_ports]

    def start(self) -> None:
        """Start every process; return once each sentinel sees the replica and the two other
        sentinels, and the replica is in sync."""
        self._spawn("master", self.first_master)
        self._spawn("replica", self.replica, "--replicaof", "127.0.0.1", str(self.first_master))
        for index, port in enumerate(self.sentinel_ports):
            config = self.workdir / f"sentinel-{index}.conf"
            config.write_text(SENTINEL_CONF.format(name=MASTER_NAME, port=self.first_master))
            self._spawn(f"sentinel-{index}", port, "--sentinel", config=config)
        until(self._settled, within=60, what="the sentinels to see each other and the replica")

    def master_port(self) -> int:
        """The master's port as the first sentinel names it."""
        with client(self.sentinel_ports[0]) as sentinel:
            _, port = sentinel.sentinel_get_master_addr_by_name(MASTER_NAME)
        return int(port)

    def replicated(self) -> int:
        """Write once on the master and wait until the replica has everything written so far
        (WAIT counts from this connection's last write); how many replicas acknowledged."""
        with client(self.master_port()) as master:
            master.set("sentinel-test:synced", "1")
            return int(master.wait(1, 5000))

    def kill_master(self) -> int:
        """SIGKILL the master; its port."""
        port = self.master_port()
        proc = self.procs[port]
        proc.kill()
        proc.wait()
        return port

    def wait_promoted(self, old: int, within: float = 60.0) -> int:
        """Until every sentinel names a new master that says it is one; its port."""

        def promoted() -> bool:
            named = set()
            for port in self.sentinel_ports:
                with client(port) as sentinel:
                    named.add(int(sentinel.sentinel_get_master_addr_by_name(MASTER_NAME)[1]))
            if len(named) != 1 or old in named:
                return False
            with client(named.pop()) as master:
                return bool(master.execute_command("ROLE")[0] == "master")

        until(promoted, within=within, what="a replica to be promoted")
        return self.master_port()

    def stop(self) -> None:
        """Kill every process of the group."""
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.kill()
                proc.wait()

    def _spawn(self, name: str, port: int, *extra: str, config: Path | None = None) -> None:
        workdir = self.workdir / name
        workdir.mkdir(parents=True, exist_ok=True)
        command = server_command(
            port, workdir, config=config, extra=("--logfile", str(workdir / "log"), *extra)
        )
        self.procs[port] = subprocess.Popen(
            command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        until(lambda: answers(port), within=30, what=f"{name} to answer")

    def _settled(self) -> bool:
        for port in self.sentinel_ports:
            with client(port) as sentinel:
                state: dict[str, Any] = sentinel.sentinel_master(MASTER_NAME)
            if state["num-other-sentinels"] != 2 or state["num-slaves"] != 1:
                return False
        with client(self.replica) as replica:
            return bool(replica.info("replication").get("master_link_status") == "up")


def client(port: int) -> redis.Redis:
    """A short-lived client of one process of the group."""
    return redis.Redis(port=port, socket_timeout=1, socket_connect_timeout=1, decode_responses=True)


def answers(port: int) -> bool:
    """Whether the process on ``port`` answers PING."""
    with client(port) as one:
        return bool(one.ping())


def until(check: Callable[[], bool], *, within: float, what: str) -> None:
    """Poll ``check`` (errors count as not yet) until it holds; AssertionError after ``within``."""
    ends = time.monotonic() + within
    while time.monotonic() < ends:
        try:
            if check():
                return
        except (redis.RedisError, OSError):
            pass
        time.sleep(0.05)
    raise AssertionError(f"waited {within:.0f} s for {what}")
