"""`stream-guard produce`, `alerts tail` and `forward`: writing a source topic and reading the alert topic."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from rich.console import Console

from stream_guard.cli.common import command, counted, redacted_url, service_flags, usage
from stream_guard.core.topology.file import load_topology, with_overrides
from stream_guard.errors import StreamGuardError

# produce ----------------------------------------------------------------------------------------

def produce_parser(commands: Any) -> None:
    sub = command(commands, "produce", "send a .jsonl / .jsonl.gz file to a monitor's source topic", _produce)
    sub.add_argument("topology", metavar="TOPOLOGY", type=Path, help="a topology YAML file, e.g. topologies/demo.yaml")
    sub.add_argument("events", metavar="EVENTS", type=Path,
                     help="one JSON event per line (.jsonl or .jsonl.gz), e.g. what demo --events-out wrote")
    sub.add_argument("--rate", type=float, metavar="N", help="messages per second (default: as fast as possible)")
    sub.add_argument("--monitor", metavar="M", help="whose source topic (default: the first monitor's)")
    service_flags(sub, redis=False)


def _produce(args: argparse.Namespace) -> int:
    from stream_guard.adapters.credentials import kafka_security
    from stream_guard.adapters.kafka_io import produce
    from stream_guard.offline.replay import open_events

    topology = with_overrides(load_topology(args.topology), args.broker)
    monitor = topology.monitor(args.monitor) if args.monitor else topology.monitors[0]
    if not args.events.is_file():
        raise StreamGuardError(f"{args.events}: no such events file")
    console = Console(stderr=True, soft_wrap=True)
    with open_events(args.events) as handle, console.status("producing…") as status:
        lines = (line.rstrip(b"\r\n") for line in handle)
        delivery = produce(topology.kafka.broker, monitor.source.topic, lines, args.rate,
                           on_progress=lambda n: status.update(f"producing… {n:,} messages"),
                           security=kafka_security(topology.kafka))
    console.print(delivery.describe(monitor.source.topic))
    return 0 if delivery.complete else 1


# alerts tail ------------------------------------------------------------------------------------

def alerts_parser(commands: Any) -> None:
    alerts = commands.add_parser("alerts", help="read the alert topic", description="read the alert topic")
    actions = alerts.add_subparsers(title="actions", metavar="ACTION")
    alerts.set_defaults(run=lambda args: usage(alerts))
    sub = command(actions, "tail", "print alerts (and window digests, dimmed) as they arrive on the topology's "
                  "alert topic", _alerts_tail)
    sub.add_argument("topology", metavar="TOPOLOGY", type=Path, help="a topology YAML file, e.g. topologies/demo.yaml")
    sub.add_argument("--from-beginning", action="store_true", help="start at the oldest alert on the topic")
    sub.add_argument("--json", action="store_true", help="print the raw alert records, one per line")
    sub.add_argument("--no-digests", action="store_true", help="leave out the window digests (stream_guard.digest/v1)")
    sub.add_argument("--details", action="store_true",
                     help="print each alert's evaluation under its line: ids, metric, value, threshold, p-values, "
                          "sample sizes, reference")
    sub.add_argument("--idle-exit", type=float, metavar="S", help="exit after S seconds without a new alert")
    service_flags(sub, redis=False)


def _alerts_tail(args: argparse.Namespace) -> int:
    from stream_guard.adapters.credentials import kafka_security
    from stream_guard.adapters.kafka_io import records
    from stream_guard.runtime.preflight import check_broker
    from stream_guard.views.console import print_tail

    topology = with_overrides(load_topology(args.topology), args.broker)
    check_broker(topology.kafka.broker)
    console = Console(soft_wrap=True)
    for record in records(topology.kafka.broker, topology.alerts.topic, args.from_beginning, args.idle_exit,
                          security=kafka_security(topology.kafka)):
        print_tail(console, record, args.json, not args.no_digests, args.details)
    return 0


# forward ----------------------------------------------------------------------------------------

FORWARD_EPILOG = """\
examples:
  stream-guard forward topologies/demo.yaml --alertmanager http://alertmanager:9093
  stream-guard forward topologies/demo.yaml --webhook https://hooks.example.com/sg --digests
  stream-guard forward topologies/demo.yaml --alertmanager http://am:9093 --webhook http://u:PASS@bot:8080/in

Delivery is at-least-once: the group's offset is committed only after every target accepted a
record, so a restart re-sends at most the records in flight. 5xx, 408, 429 and connection errors are
retried with backoff; a 4xx, or a failure after the last retry, stops the forwarder (exit 1) before
committing past the record. A user:password@ in a URL is sent as Basic auth and shown as ***.
"""


def forward_parser(commands: Any) -> None:
    sub = command(commands, "forward", "send alert records to Alertmanager and to webhooks, at least once",
                  _forward)
    sub.formatter_class = argparse.RawDescriptionHelpFormatter
    sub.epilog = FORWARD_EPILOG
    sub.add_argument("topology", metavar="TOPOLOGY", type=Path, help="a topology YAML file, e.g. topologies/demo.yaml")
    sub.add_argument("--alertmanager", metavar="URL",
                     help="Alertmanager base URL, e.g. http://alertmanager:9093 (alerts go to /api/v2/alerts)")
    sub.add_argument("--webhook", metavar="URL", action="append", default=[],
                     help="POST each alert record, unchanged, to URL (repeat for several)")
    sub.add_argument("--digests", action="store_true", help="also POST window digests to the webhooks")
    sub.add_argument("--from-beginning", action="store_true",
                     help="on the group's first start, begin at the oldest record (default: records from now on)")
    sub.add_argument("--group", metavar="ID", help="consumer group storing the offsets (default: APP-forwarder)")
    sub.add_argument("--retries", type=int, default=5, metavar="N",
                     help="retries of a failed POST before stopping (default 5)")
    sub.add_argument("--backoff", type=float, default=0.5, metavar="S",
                     help="first wait between retries, doubled each time up to 10s (default 0.5)")
    sub.add_argument("--idle-exit", type=float, metavar="S", help="exit after S seconds without a new record")
    sub.add_argument("--resend-interval", type=float, default=60.0, metavar="S",
                     help="send Alertmanager the alerts still firing again every S seconds, each ending 4×S "
                          "ahead unless re-sent (default 60, as Prometheus does)")
    service_flags(sub, redis=False)


def _forward(args: argparse.Namespace) -> int:
    from stream_guard.adapters.forwarder import ForwardOptions, group_of, run_forwarder
    from stream_guard.core.alerting.forwarding import RetryPolicy
    from stream_guard.runtime.preflight import check_broker

    if not args.alertmanager and not args.webhook:
        raise StreamGuardError("nothing to forward to: give --alertmanager URL and/or --webhook URL")
    if args.retries < 0 or args.backoff < 0 or args.resend_interval <= 0:
        raise StreamGuardError("--retries and --backoff cannot be negative, --resend-interval must be above 0")
    for url in [args.alertmanager, *args.webhook]:
        if url and not url.startswith(("http://", "https://")):
            raise StreamGuardError(f"{redacted_url(url)} is not an http:// or https:// URL")
    topology = with_overrides(load_topology(args.topology), args.broker)
    check_broker(topology.kafka.broker)
    console = Console(stderr=True, soft_wrap=True, highlight=False)
    options = ForwardOptions(args.alertmanager, args.webhook, args.group, args.from_beginning, args.digests,
                             RetryPolicy(args.retries + 1, args.backoff), args.idle_exit,
                             resend_every=args.resend_interval)
    targets = ", ".join(redacted_url(u) for u in [args.alertmanager, *args.webhook] if u)
    console.print(f"forwarding {topology.alerts.topic} (group {group_of(topology, options)}) to {targets}")
    counts = run_forwarder(topology, options, lambda line: console.print(line, markup=False))
    console.print(f"forwarded {counted(counts.alerts, 'alert')}"
                  + (f" and {counted(counts.digests, 'digest')}" if args.digests else ""))
    return 0
