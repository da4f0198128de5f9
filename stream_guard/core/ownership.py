"""Who folds and who evaluates what, and when a silent partition stops holding windows open.

The rules a worker follows around its state store, as pure functions of what it knows (its clock,
its claims, what the store holds of other workers' partitions); the runtime only does the I/O:

- the owner of a source's partition 0 evaluates the monitor (`evaluates`);
- a partition just claimed waits a while for the records before a gap (`GapWatch`);
- a worker says it is alive every flush interval, and since when without a break (`Watching`);
- a window closes only once every partition of the source has passed it or is idle or gone
  (`remote_partition`, `waiting_for_partitions`); a partition whose log holds records its owner has
  not folded yet is not idle, however long it has been silent (`behind`).
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import NamedTuple

from stream_guard.core.decoding.records import RawRecord
from stream_guard.core.state import Presence

EVALUATOR_PARTITION = 0
GAP_PATIENCE = 5_000   # ms a just-claimed partition waits for the records before a gap


def evaluates(partitions: Iterable[int]) -> bool:
    """Whether the owner of these partitions evaluates the monitor's windows.

    >>> evaluates([2, 0]), evaluates([1, 2])
    (True, False)
    """
    return EVALUATOR_PARTITION in set(partitions)


class RemotePartition(NamedTuple):
    """A partition folded by another worker, as that worker last stored it."""

    watermark: int | None
    active_at: int | None        # when it last counted as active (records came, claimed, or owner unsure)
    windows: frozenset[int]      # starts of the windows it holds open
    heard_at: int | None = None  # when its records last arrived, as far as anyone knows (freshness)
    log_resets: int = 0          # times its log was found restarted


def behind(lag: int | None) -> bool:
    """Whether a partition's log holds records its owner has not folded yet: `lag` is the log's end as the
    owner's consumer last fetched it minus the next offset to fold (None: no fetch has said yet).

    >>> behind(2_378), behind(0), behind(None)
    (True, False, False)
    """
    return lag is not None and lag > 0


def unread(end: int | None, next_offset: int, floor: int | None) -> int | None:
    """How many records of a partition its owner still has to fold (its lag, see `behind`): from the next
    offset to fold, or from `floor` when that is further, to where its log ends as the owner's consumer
    last fetched it (`end`; None: no fetch has said yet, and the lag is unknown).

    `floor` is where records of the partition can still come to this worker from, for its current claim:
    where its consumer began reading it (the first offset handed over since the claim, else the consumer's
    position), or past the records left out as past a gap (`GapWatch`). Records below it never come: after
    a Redis failover without WAIT the stored next offset is behind Kafka's committed one, which the
    consumer starts from. Counted from the next offset to fold alone, they would make the partition look
    behind for ever, and its monitor would never close another window.

    >>> unread(2_400, next_offset=1_981, floor=None)     # the consumer has not said where it began
    419
    >>> unread(2_400, next_offset=1_981, floor=2_400)    # it began at Kafka's committed offset: nothing to come
    0
    >>> unread(2_600, next_offset=1_981, floor=2_400), unread(2_600, next_offset=2_500, floor=2_400)
    (200, 100)
    >>> unread(500, next_offset=8_122, floor=None), unread(None, next_offset=0, floor=0)   # a restarted log
    (0, None)
    """
    if end is None:
        return None
    return max(0, end - max(next_offset, floor if floor is not None else next_offset))


def local_activity(last: int | None, lag: int | None, now: int) -> int | None:
    """When a partition folded here counts as active: when its records last came (`last`), or `now` while
    its log holds records not folded yet. A partition silent since its claim may have a burst waiting
    behind it; were it taken for idle, the partitions read first would close windows and its own events
    for them would be dead-lettered as `late`.

    >>> local_activity(1_000, lag=0, now=60_000), local_activity(1_000, lag=5, now=60_000)
    (1000, 60000)
    """
    return now if behind(lag) else last


def remote_activity(heard: int | None, alive: int | None, claimed: int | None, now: int,
                    idle_timeout: int, since: int | None = None, lag: int | None = None) -> tuple[int, int]:
    """When another worker's partition counts as active, and when its records were last heard of.

    `heard` is when its owner last received records of it, `claimed` when the owner claimed it, `alive`
    when the owner last said it was alive and reading it, `since` when it began saying so without a
    break (`Watching`): all four on the owner's clock.

    The partition may stop holding windows open only when its owner said it was alive after the
    partition had been silent for `idle_timeout`, and had been saying so without a break all that
    time: the owner saw the silence. An owner paused meanwhile (SIGSTOP, a stalled process) read
    nothing while paused; on waking it says it is alive before it reads the records that came
    meanwhile, so its silence counts only from when it woke. An owner that died just
    after its last records also went silent; its `alive` stops a moment after `heard`, so a test on
    `alive` alone would take the silence of a dead worker for an idle source during that moment and
    close windows past the records waiting for a new owner (they would be dead-lettered as `late`).
    Until the owner confirms, or while it is not heard from for `idle_timeout` (gone: its records wait
    for the next owner), or while the owner last said it had records of it not folded yet (`lag`, see
    `behind`), the partition counts as active now.

    >>> remote_activity(heard=1_000, alive=12_000, claimed=0, now=12_500, idle_timeout=10_000)
    (1000, 1000)
    >>> remote_activity(heard=1_000, alive=1_200, claimed=0, now=12_500, idle_timeout=10_000)
    (12500, 12500)
    >>> remote_activity(heard=1_000, alive=12_000, claimed=0, now=12_500, idle_timeout=10_000, since=12_000)
    (12500, 1000)
    >>> remote_activity(heard=1_000, alive=12_000, claimed=0, now=12_500, idle_timeout=10_000, lag=900)
    (12500, 1000)
    """
    last = max(heard or 0, claimed or 0)
    if alive is None or now - alive >= idle_timeout or not last:
        return now, now
    if behind(lag):
        return now, last         # the owner has records of it to fold: not idle, whatever the silence
    if now - last < idle_timeout or alive - max(last, since or 0) >= idle_timeout:
        return last, last
    return now, last             # silent for long, and the owner has not watched it that long since


def remote_partition(presence: Presence, now: int, idle_timeout: int) -> RemotePartition | None:
    """Another worker's partition as the evaluator sees it; None when no worker ever claimed it."""
    if presence.alive_at is None and presence.watermark is None and not presence.windows:
        return None
    active_at, heard_at = remote_activity(presence.heard_at, presence.alive_at, presence.claimed_at, now,
                                          idle_timeout, presence.alive_since, presence.lag)
    return RemotePartition(presence.watermark, active_at, presence.windows, heard_at, presence.log_resets)


@dataclass
class Watching:
    """Since when this worker has been watching its partitions without a break.

    The worker says it is alive once every flush interval (`said`); a longer gap means it read nothing
    for a while (paused, stalled, or waiting for its store): the silence of its partitions meanwhile
    says nothing of the source, so its watch starts again (`since`), and what it tells others of how
    long it has watched goes with it.

    >>> watching = Watching(interval=1_000)
    >>> watching.said(0), watching.said(1_000), watching.said(2_100), watching.since
    (False, False, False, 0)
    >>> watching.said(12_000), watching.since
    (True, 12000)
    """

    interval: int                 # the flush interval: how often the worker says it is alive
    said_at: int | None = None    # when it last said so
    since: int | None = None      # when it began saying so without a break

    def due(self, now: int) -> bool:
        """Whether it is time to say it again."""
        return self.said_at is None or now - self.said_at >= self.interval

    def restart(self, now: int) -> None:
        """The worker could read nothing at `now` (its broker does not answer): its watch starts again.

        >>> watching = Watching(interval=1_000)
        >>> watching.said(0), watching.said(1_000), watching.restart(1_500), watching.said(2_000), watching.since
        (False, False, None, False, 1500)
        """
        self.since = now

    def said(self, now: int) -> bool:
        """The worker says it is alive at `now`; True when it had not for long (its watch was broken)."""
        broken = self.said_at is not None and now - self.said_at > 2 * self.interval
        if self.since is None or broken:
            self.since = now
        self.said_at = now
        return broken


class LocalPartition(NamedTuple):
    """A partition this worker folds: its watermark, when its records last came, and its lag (`behind`)."""

    watermark: int | None
    active_at: int | None
    lag: int | None = None


def waiting_for_partitions(expected: Collection[int], local: Mapping[int, LocalPartition],
                           remote: Mapping[int, RemotePartition], now: int, idle_timeout: int) -> bool:
    """True while a partition of the source has sent nothing yet and is not idle for long.

    Without this, a worker catching up could close a window from the partitions it happened to
    read first, before a slower partition's events for that window arrive.

    >>> waiting_for_partitions([0, 1], {0: LocalPartition(5, 0)}, {}, now=1, idle_timeout=10)
    True
    >>> waiting_for_partitions([0], {0: LocalPartition(None, 1)}, {}, now=11, idle_timeout=10)
    False
    >>> waiting_for_partitions([0], {0: LocalPartition(None, 1, lag=400)}, {}, now=11, idle_timeout=10)
    True
    """
    for p in expected:
        mine, theirs = local.get(p), remote.get(p)
        if mine is not None:
            if mine.watermark is None and now - (local_activity(mine.active_at, mine.lag, now) or now) < idle_timeout:
                return True     # claimed here, silent since, not for long (or records of it wait unread)
        elif theirs is None:
            return True         # no worker has claimed it yet (or its claim is being made)
        elif theirs.watermark is None and now - (theirs.active_at or now) < idle_timeout:
            return True         # silent since another worker claimed it, not for long (or owner gone)
    return False


def log_restarted(next_offset: int, first: int, high_watermark: int | None) -> bool:
    """Whether records from offset `first` mean the partition's log restarted or was truncated: they are
    below the next offset to fold and the log now ends (`high_watermark`, from the same fetch) below it
    too. A redelivery after a crash comes from a log that still holds every offset folded.

    >>> log_restarted(next_offset=8_122, first=0, high_watermark=500)      # the broker lost its log
    True
    >>> log_restarted(next_offset=8_122, first=8_000, high_watermark=9_000)  # read again after a crash
    False

    A log that grew past the old next offset before the first fetch after the restart cannot be told
    from a redelivery this way; its first records are then skipped as if folded before.
    """
    return first < next_offset and high_watermark is not None and high_watermark < next_offset


def expected_partitions(count: int | None, assigned: Iterable[int], claimed: Iterable[int]) -> set[int]:
    """The partitions whose events the evaluated windows must hold: all of the source's; until the
    partition count is known (a worker without a consumer group), those it was given or claimed.

    >>> sorted(expected_partitions(3, [1], [1])), sorted(expected_partitions(None, [1], [2]))
    ([0, 1, 2], [1, 2])
    """
    return set(range(count)) if count else set(assigned) | set(claimed)


@dataclass(frozen=True)
class AcceptedGap:
    """A gap after a claim that lasted `GAP_PATIENCE`: offsets `expected` to `first - 1` never came."""

    partition: int
    expected: int
    first: int


@dataclass
class GapWatch:
    """Holds back records of a just-claimed partition that start past its next offset to fold.

    That happens to a batch fetched before a rebalance and handed over after this worker claimed
    the partition again: the records before it were folded in memory, then forgotten unstored, and
    the consumer, sent back to the committed offset, reads them again first. Folding the later batch
    now would skip them for good. A gap that lasts `patience` ms is accepted (the records are gone
    from the broker, or the offsets were never records: compaction, transaction markers); the records
    held back while waiting are then lost. Only the first records after a claim are checked.

    >>> watch = GapWatch()
    >>> watch.claimed(1)
    >>> watch.hold({1: 50}, {1: 40}, now=0)
    ({1}, [])
    >>> watch.hold({1: 50}, {1: 40}, now=5_000)
    (set(), [AcceptedGap(partition=1, expected=40, first=50)])
    >>> watch.resuming
    set()
    """

    patience: int = GAP_PATIENCE
    resuming: set[int] = field(default_factory=set)     # claimed, no records folded since
    since: dict[int, int] = field(default_factory=dict)  # partition -> when records past a gap first came
    held_to: dict[int, int] = field(default_factory=dict)   # partition -> past the last record held back

    def claimed(self, partition: int) -> None:
        self.forget(partition)
        self.resuming.add(partition)

    def forget(self, partition: int) -> None:
        self.resuming.discard(partition)
        self.since.pop(partition, None)
        self.held_to.pop(partition, None)

    def left_out(self, partition: int, now: int) -> int | None:
        """Past the records of the partition held back for `patience` or longer, None when there are none.

        Past the gap's patience nothing brings them back to this worker: a next batch accepts the gap and
        leaves them out, and with none the partition stays there. They are not records still to fold
        (`unread`): counted as such, a partition whose records past a lasting gap were the last of its log
        would look behind for ever, and its monitor would close no other window.

        >>> watch = GapWatch()
        >>> watch.claimed(0)
        >>> watch.filter([RawRecord(b"", 0, 2_400, "t"), RawRecord(b"", 0, 2_599, "t")], lambda p: 1_981, now=0)
        ([], [])
        >>> watch.left_out(0, now=4_999), watch.left_out(0, now=5_000)
        (None, 2600)
        """
        began = self.since.get(partition)
        return self.held_to.get(partition) if began is not None and now - began >= self.patience else None

    def filter(self, records: Sequence[RawRecord], next_offset: Callable[[int], int],
               now: int) -> tuple[Sequence[RawRecord], list[AcceptedGap]]:
        """The records to fold now (those of partitions held back left out), and the gaps accepted."""
        first: dict[int, int] = {}
        last: dict[int, int] = {}
        for record in records:
            first[record.partition] = min(first.get(record.partition, record.offset), record.offset)
            last[record.partition] = max(last.get(record.partition, record.offset), record.offset)
        held, accepted = self.hold(first, {p: next_offset(p) for p in first}, now)
        for partition in held:
            self.held_to[partition] = max(self.held_to.get(partition, 0), last[partition] + 1)
        return ([r for r in records if r.partition not in held] if held else records), accepted

    def hold(self, first: Mapping[int, int], expected: Mapping[int, int],
             now: int) -> tuple[set[int], list[AcceptedGap]]:
        """Given each partition's first offset in a batch and its next offset to fold: the partitions
        whose records to hold back now, and the gaps accepted at `now`."""
        held: set[int] = set()
        accepted: list[AcceptedGap] = []
        for partition, offset in first.items():
            want = expected[partition]
            if partition not in self.resuming or offset <= want or want == 0:
                self.forget(partition)
            elif now - self.since.setdefault(partition, now) < self.patience:
                held.add(partition)
            else:
                accepted.append(AcceptedGap(partition, want, offset))
                self.forget(partition)
        return held, accepted
