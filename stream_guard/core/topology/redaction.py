"""Passwords out of URLs, so that a URL can be shown in a message, a log line or a repr."""

from __future__ import annotations

import re

_QUERY_PASSWORD = re.compile(r"([?&]password=)[^&#]*")


def redacted(url: str) -> str:
    """The URL with any password replaced by `***` (each broker of a comma-separated list too).

    >>> redacted("rediss://app:s3cret@redis:6380/0")
    'rediss://app:***@redis:6380/0'
    >>> redacted("kafka://u:p@a:9092,b:9092")
    'kafka://u:***@a:9092,b:9092'
    >>> redacted("redis://redis:6379/0?password=s3cret&db=1")
    'redis://redis:6379/0?password=***&db=1'
    """
    return _QUERY_PASSWORD.sub(r"\1***", ",".join(_redacted_one(part) for part in url.split(",")))


def _redacted_one(url: str) -> str:
    if "@" not in url:
        return url
    scheme, rest = url.split("://", 1) if "://" in url else ("", url)
    credentials, host = rest.rsplit("@", 1)
    prefix = f"{scheme}://" if scheme else ""
    if ":" not in credentials:
        return f"{prefix}***@{host}"
    user = credentials.split(":", 1)[0]
    return f"{prefix}{user}:***@{host}"
