"""Transactions that wait for replicas: `WAIT numreplicas timeout` sent right after EXEC, on EXEC's connection.

Redis replicates asynchronously, so a master that dies after answering EXEC and before a replica has the
write takes the write with it, while the worker has already committed the Kafka offsets it covered.
`WAIT` closes that window: it returns how many replicas acknowledged every write made *on the same
connection* until then. redis-py releases a transaction's connection as soon as EXEC is answered, and
in cluster mode routes a keyless `WAIT` to every master, so the two transaction classes below send it
themselves on the connection that ran the transaction, before it goes back to the pool.

`replicas` is what WAIT answered, or -1 when it could not be asked (the connection failed after EXEC):
either way the write is on the master but not known to be on a replica.

The hooks are redis-py's `Pipeline._execute_transaction` and, for Redis Cluster,
`TransactionStrategy._execute_transaction` (redis-py 6 to 8); `tests/integration/test_redis_cluster_failover.py`
and the state store contract run them against real servers.
"""

from __future__ import annotations

from typing import Any

from redis.asyncio.client import Pipeline
from redis.asyncio.cluster import ClusterPipeline, RedisCluster, TransactionStrategy
from redis.exceptions import RedisError

UNKNOWN = -1


async def _wait(connection: Any, replicas: int, timeout_ms: int) -> int:
    """Send WAIT on `connection`; -1 when the connection failed (the caller treats it as not replicated)."""
    try:
        await connection.send_command("WAIT", replicas, timeout_ms)
        return int(await connection.read_response())
    except (RedisError, OSError):
        await connection.disconnect()
        return UNKNOWN


class ReplicatedPipeline(Pipeline):
    """A MULTI/EXEC pipeline on one Redis server that asks WAIT after EXEC (`replicas` holds the answer)."""

    def __init__(self, client: Any, wait_replicas: int, wait_timeout: int) -> None:
        super().__init__(client.connection_pool, client.response_callbacks, True, None)
        self.wait_replicas, self.wait_timeout, self.replicas = wait_replicas, wait_timeout, UNKNOWN

    async def _execute_transaction(self, connection: Any, commands: Any, raise_on_error: bool) -> Any:
        data = await super()._execute_transaction(connection, commands, raise_on_error)
        self.replicas = await _wait(connection, self.wait_replicas, self.wait_timeout)
        return data


class ReplicatedTransaction(TransactionStrategy):
    """The Redis Cluster form: WAIT on the connection to the master of the transaction's slot."""

    def __init__(self, pipe: ClusterPipeline, wait_replicas: int, wait_timeout: int) -> None:
        super().__init__(pipe)
        self.wait_replicas, self.wait_timeout, self.replicas = wait_replicas, wait_timeout, UNKNOWN

    async def _execute_transaction(self, stack: Any, raise_on_error: bool) -> Any:
        data = await super()._execute_transaction(stack, raise_on_error)
        self.replicas = await _wait(self._transaction_connection, self.wait_replicas, self.wait_timeout)
        return data


def replicated_transaction(client: Any, wait_replicas: int, wait_timeout: int) -> tuple[Any, Any]:
    """A transactional pipeline of `client` (a Redis or RedisCluster) and the object whose `replicas`
    says, after `execute()`, how many replicas acknowledged the transaction."""
    if isinstance(client, RedisCluster):
        cluster_pipe: ClusterPipeline = client.pipeline(transaction=True)
        strategy = ReplicatedTransaction(cluster_pipe, wait_replicas, wait_timeout)
        cluster_pipe._execution_strategy = strategy
        return cluster_pipe, strategy
    pipe = ReplicatedPipeline(client, wait_replicas, wait_timeout)
    return pipe, pipe
