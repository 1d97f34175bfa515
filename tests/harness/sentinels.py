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

# With passwords: the sentinels' own (asked of clients and of each other), and the servers'.
SENTINEL_AUTH = """\
requirepass "{sentinel_password}"
sentinel sentinel-pass "{sentinel_password}"
sentinel auth-pass {name} "{password}"
"""


class SentinelGroup:
    """A master, its replica and three sentinels watching it under :data:`MASTER_NAME`; with
    ``password`` the servers ask for it, with ``sentinel_password`` the sentinels ask for theirs."""

    def __init__(self, workdir: Path, *, password: str = "", sentinel_password: str = "") -> None:
        self.workdir = workdir
        self.password = password
        self.sentinel_password = sentinel_password
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
        auth = ("--requirepass", self.password, "--masterauth", self.password)
        servers = auth if self.password else ()
        self._spawn("master", self.first_master, *servers)
        replica_of = ("--replicaof", "127.0.0.1", str(self.first_master))
        self._spawn("replica", self.replica, *replica_of, *servers)
        text = SENTINEL_CONF + (SENTINEL_AUTH if self.sentinel_password else "")
        for index, port in enumerate(self.sentinel_ports):
            config = self.workdir / f"sentinel-{index}.conf"
            config.write_text(
                text.format(
                    name=MASTER_NAME,
                    port=self.first_master,
                    password=self.password,
                    sentinel_password=self.sentinel_password,
                )
            )
            self._spawn(f"sentinel-{index}", port, "--sentinel", config=config)
        until(self._settled, within=60, what="the sentinels to see each other and the replica")

    def master_port(self) -> int:
        """The master's port as the first sentinel names it."""
        with self._sentinel(self.sentinel_ports[0]) as sentinel:
            _, port = sentinel.sentinel_get_master_addr_by_name(MASTER_NAME)
        return int(port)

    def replicated(self) -> int:
        """Write once on the master and wait until the replica has everything written so far
        (WAIT counts from this connection's last write); how many replicas acknowledged."""
        with self._server(self.master_port()) as master:
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
                with self._sentinel(port) as sentinel:
                    named.add(int(sentinel.sentinel_get_master_addr_by_name(MASTER_NAME)[1]))
            if len(named) != 1 or old in named:
                return False
            with self._server(named.pop()) as master:
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

    def _server(self, port: int) -> redis.Redis:
        return client(port, self.password)

    def _sentinel(self, port: int) -> redis.Redis:
        return client(port, self.sentinel_password)

    def _settled(self) -> bool:
        for port in self.sentinel_ports:
            with self._sentinel(port) as sentinel:
                state: dict[str, Any] = sentinel.sentinel_master(MASTER_NAME)
            if state["num-other-sentinels"] != 2 or state["num-slaves"] != 1:
                return False
        with self._server(self.replica) as replica:
            return bool(replica.info("replication").get("master_link_status") == "up")


def client(port: int, password: str = "") -> redis.Redis:
    """A short-lived client of one process of the group."""
    return redis.Redis(
        port=port,
        password=password or None,
        socket_timeout=1,
        socket_connect_timeout=1,
        decode_responses=True,
    )


def answers(port: int) -> bool:
    """Whether the process on ``port`` listens: PONG, or NOAUTH when it has a password."""
    with client(port) as one:
        try:
            return bool(one.ping())
        except redis.AuthenticationError:
            return True


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
