"""Checks before a long-running command starts: is the broker there, is Redis there? One clear line if not."""

from __future__ import annotations

import socket
from typing import Any

import redis

from stream_guard.adapters.credentials import redacted
from stream_guard.errors import ServiceUnreachable
from stream_guard.runtime.app import broker_address


def check_broker(url: str, timeout: float = 3.0) -> None:
    host, port = broker_address(url)
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return
    except OSError as exc:
        raise ServiceUnreachable(
            f"cannot reach the Kafka broker at {redacted(url)} ({exc.strerror or exc}); start one with "
            f"`stream-guard local up` or pass --broker URL / set SG_BROKER"
        ) from None


def check_redis(url: str, timeout: float = 3.0, options: dict[str, Any] | None = None) -> None:
    """`options`: redis-py keywords beside the URL, as `credentials.redis_options` gives them."""
    try:
        client = redis.Redis.from_url(url, socket_connect_timeout=timeout, socket_timeout=timeout,
                                      **(options or {}))
        client.ping()
        client.close()
    except (redis.RedisError, OSError, ValueError) as exc:
        raise ServiceUnreachable(
            f"cannot reach Redis at {redacted(url)} ({exc}); start one with `stream-guard local up` "
            f"or pass --redis URL / set SG_REDIS"
        ) from None
