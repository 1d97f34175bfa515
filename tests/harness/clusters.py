"""A Redis Cluster of a test's own: three masters, each with one replica, on free ports, started
and killed by the test (never the shared cluster).

Everything here blocks (plain processes and the synchronous client), as in
:mod:`tests.harness.sentinels`; an async test calls the waits through ``asyncio.to_thread``.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import redis
from redis.crc import key_slot

from tests.harness.sentinels import answers, client, until
from tests.harness.settings import free_port
from tests.harness.stores import server_command

# A node that does not answer for a second is failing, so its replica is promoted within a few
# seconds; a replica whose link broke only just before may still be promoted (no validity cap).
NODE_OPTIONS = (
    "--cluster-enabled",
    "yes",
    "--cluster-node-timeout",
    "1000",
    "--cluster-replica-validity-factor",
    "0",
)


class ClusterGroup:
    """Three masters and three replicas, one replica per master, as ``redis-cli --cluster create
    --cluster-replicas 1`` pairs them."""

    def __init__(self, workdir: Path, masters: int = 3) -> None:
        self.workdir = workdir
        self.ports = [free_port() for _ in range(2 * masters)]
        self.procs: dict[int, subprocess.Popen[bytes]] = {}
        self.replicas: dict[int, list[int]] = {}
        """Each master's port -> its replicas' ports, as the cluster first paired them."""

    @property
    def url(self) -> str:
        """A node's URL, as the bridge's ``store.url`` names the cluster."""
        return f"redis://127.0.0.1:{self.ports[0]}/0"

    def start(self) -> None:
        """Start every node, create the cluster, and return once each node sees it whole, with
        every replica in sync."""
        cli = shutil.which("redis-cli")
        if cli is None:
            raise RuntimeError("redis-cli is not installed")
        for port in self.ports:
            workdir = self.workdir / str(port)
            workdir.mkdir(parents=True, exist_ok=True)
            # The bus on a free port of its own (by default port + 10000, which may be taken).
            bus = ("--cluster-port", str(free_port()))
            extra = (*NODE_OPTIONS, *bus, "--logfile", str(workdir / "log"))
            self.procs[port] = subprocess.Popen(
                server_command(port, workdir, extra=extra),
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        for port in self.ports:
            until(lambda p=port: answers(p), within=30, what=f"node {port} to answer")
        nodes = [f"127.0.0.1:{port}" for port in self.ports]
        subprocess.run(
            [cli, "--cluster", "create", *nodes, "--cluster-replicas", "1", "--cluster-yes"],
            check=True,
            capture_output=True,
            timeout=60,
        )
        until(self._settled, within=60, what="the cluster to form with its replicas in sync")

    def master_of(self, hash_tag: str) -> int:
        """The port of the master serving the slot of keys tagged ``{hash_tag}``."""
        slot = key_slot(hash_tag.encode())
        with client(self._alive()[0]) as node:
            rows = _slot_masters(node)
        return next(master for start, end, master in rows if start <= slot <= end)

    def kill(self, port: int) -> None:
        """SIGKILL the node on ``port``."""
        proc = self.procs[port]
        proc.kill()
        proc.wait()

    def wait_promoted(self, old: int, within: float = 60.0) -> int:
        """Until a replica of the killed master ``old`` is a master serving its slots and every
        live node says the cluster is ok; the new master's port."""
        replicas = self.replicas[old]

        def promoted() -> bool:
            for port in self._alive():
                with client(port) as node:
                    if _info(node).get("cluster_state") != "ok":
                        return False
                    masters = {master for *_, master in _slot_masters(node)}
                if old in masters or not masters & set(replicas):
                    return False
            return True

        until(promoted, within=within, what=f"a replica of {old} to be promoted")
        with client(self._alive()[0]) as node:
            return next(m for *_, m in _slot_masters(node) if m in replicas)

    def stop(self) -> None:
        """Kill every node."""
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.kill()
                proc.wait()

    def _alive(self) -> list[int]:
        return [port for port, proc in self.procs.items() if proc.poll() is None]

    def _settled(self) -> bool:
        pairs: dict[int, list[int]] = {}
        for port in self.ports:
            with client(port) as node:
                info = _info(node)
                if info.get("cluster_state") != "ok":
                    return False
                if int(info.get("cluster_known_nodes", 0)) != len(self.ports):
                    return False
                role = node.execute_command("ROLE")
                if role[0] == "slave":
                    if role[3] != "connected":
                        return False
                    pairs.setdefault(int(role[2]), []).append(port)
        if len(pairs) != len(self.ports) // 2:
            return False
        self.replicas = pairs
        return True


def _slot_masters(node: redis.Redis) -> list[tuple[int, int, int]]:
    """CLUSTER SLOTS as (first slot, last slot, master's port) rows."""
    rows = node.execute_command("CLUSTER", "SLOTS")
    return [(int(row[0]), int(row[1]), int(row[2][1])) for row in rows]


def _info(node: redis.Redis) -> dict[str, str]:
    """CLUSTER INFO as a dict (a plain client leaves it as text)."""
    text = str(node.execute_command("CLUSTER", "INFO"))
    return dict(line.split(":", 1) for line in text.splitlines() if ":" in line)
