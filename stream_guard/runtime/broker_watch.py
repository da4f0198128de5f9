"""Is the Kafka broker there? Said once when it stops answering and once when it is back.

The Kafka client alone cannot say it: a broker that hangs (stalled VM, SIGSTOP) keeps its connections
open, so the client waits out its request timeouts in silence, and a broker that is gone makes it log a
connection error per attempt without naming the broker in words an operator looks for. A thread of
its own (so a blocked event loop cannot delay it) sends the broker an ApiVersions request every
`interval_s`, the request every Kafka broker answers before any login.

>>> watch = BrokerReachability("kafka://k:9092")
>>> watch.observe(None, 0.0) is None
True
>>> print(watch.observe("connection refused", 1.0))
Kafka broker at kafka://k:9092 is unreachable (connection refused); consuming, publishing and offset commits wait for it
>>> watch.observe("connection refused", 2.0) is None
True
>>> print(watch.observe(None, 13.5))
Kafka broker at kafka://k:9092 answers again after 12.5s unreachable
"""

from __future__ import annotations

import logging
import socket
import ssl
import struct
import threading
import time
from collections.abc import Callable

from stream_guard.adapters.credentials import redacted

log = logging.getLogger("stream_guard.worker")
PROBE_INTERVAL_S = 2.0
PROBE_TIMEOUT_S = 3.0
_API_VERSIONS = struct.pack(">hhih", 18, 0, 0x5347, 12) + b"stream-guard"   # key, version, correlation, client


class BrokerReachability:
    """Turns probe results into the two lines worth logging: unreachable (once), back (once)."""

    def __init__(self, url: str) -> None:
        self.url = redacted(url)
        self.unreachable_since: float | None = None

    def observe(self, problem: str | None, now: float) -> str | None:
        """`problem`: why the last probe failed, or None if the broker answered. Returns a line to log."""
        if problem is not None and self.unreachable_since is None:
            self.unreachable_since = now
            return (f"Kafka broker at {self.url} is unreachable ({problem}); consuming, publishing and offset "
                    f"commits wait for it")
        if problem is None and self.unreachable_since is not None:
            away, self.unreachable_since = now - self.unreachable_since, None
            return f"Kafka broker at {self.url} answers again after {away:.1f}s unreachable"
        return None


def probe(host: str, port: int, timeout: float = PROBE_TIMEOUT_S, tls: ssl.SSLContext | None = None) -> str | None:
    """None if the broker answers an ApiVersions request within `timeout` seconds, else why not."""
    try:
        with socket.create_connection((host, port), timeout=timeout) as raw:
            sock = tls.wrap_socket(raw, server_hostname=host) if tls else raw
            sock.sendall(struct.pack(">i", len(_API_VERSIONS)) + _API_VERSIONS)
            answer = _read(sock, 8)
    except TimeoutError:
        return f"no answer within {timeout:g}s"
    except OSError as exc:
        return exc.strerror or str(exc) or type(exc).__name__
    return None if answer[4:] == _API_VERSIONS[4:8] else "an answer that is not Kafka's"


def _read(sock: socket.socket, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = sock.recv(size - len(data))
        if not chunk:
            raise ConnectionResetError("connection closed by the broker")
        data += chunk
    return data


class BrokerWatch:
    """Probes the broker from a daemon thread and logs when it goes and comes back. `on_back` gives
    words to add to the 'answers again' line (e.g. how many client errors were summarised)."""

    def __init__(self, url: str, host: str, port: int, tls: ssl.SSLContext | None = None,
                 on_back: Callable[[], str] = lambda: "", interval_s: float = PROBE_INTERVAL_S) -> None:
        self.reachability = BrokerReachability(url)
        self.host, self.port, self.tls = host, port, tls
        self.on_back = on_back
        self.interval_s = interval_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="stream-guard-broker-watch", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def unreachable(self) -> bool:
        """Whether the last probes found the broker unreachable (and none has found it back since)."""
        return self.reachability.unreachable_since is not None

    def stop(self) -> None:
        """Stop probing; waits for a probe under way (at most its timeout)."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(PROBE_TIMEOUT_S + 1)

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            began = time.monotonic()   # a hung broker is found out a probe timeout after this
            problem = probe(self.host, self.port, tls=self.tls)
            line = self.reachability.observe(problem, began)
            if line and problem:
                log.warning(line)
            elif line:
                log.info(line + self.on_back())
