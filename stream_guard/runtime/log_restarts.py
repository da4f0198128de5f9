"""A partition's log that restarted below what was folded from it (a broker that lost its data, a topic
recreated, an unclean leader election) is folded again from its start, not skipped as folded before.

Two ways it shows. Records come at offsets below the next one to fold while the log ends below it too
(`core.ownership.log_restarted`; a redelivery after a crash comes from a log that still holds every
offset folded). Or no records come at all: the consumer resumed at the stored offset, past the new log's
end, and a broker that answers such a fetch with an empty one rather than an out-of-range error (Tansu
does; Kafka's error makes the client reset to the log's start by itself) leaves it waiting there for
ever. The fetch still reports the log's end, so when it has stayed below the next offset to fold for
`REWIND_AFTER_MS` the partition is read again from offset 0, and its first records then show the
restart. Not at once: a Kafka partition's new leader can report a high watermark below the old one
for a moment after an election, and a seek to 0 then would read the whole log again for nothing."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from operator import attrgetter

from stream_guard.core.decoding.records import RawRecord
from stream_guard.core.ownership import log_restarted
from stream_guard.core.ports import Source
from stream_guard.core.profiles.folding import PartitionFolder

log = logging.getLogger("stream_guard.worker")
REWIND_AFTER_MS = 10_000
_partition_of, _offset_of = attrgetter("partition"), attrgetter("offset")


class LogRestarts:
    def __init__(self, monitor: str, topic: str, source: Source) -> None:
        self.monitor, self.topic, self.source = monitor, topic, source
        self._below: dict[int, tuple[int, int]] = {}   # partition -> (log end below the next offset, seen since)
        self._rewound: dict[int, int] = {}   # partition -> the log end it was read again from the start at

    def notice(self, folders: Mapping[int, PartitionFolder], records: Sequence[RawRecord],
               partitions: set[int]) -> None:
        """Fold from its first record here each partition of `records` whose log restarted."""
        ordered = records[::-1] if len(partitions) > 1 else records[:1]   # a fetch holds one partition
        first = dict(zip(map(_partition_of, ordered), map(_offset_of, ordered), strict=True))
        for partition, offset in first.items():
            folder = folders[partition]
            mark = self.source.high_watermark(partition)
            if log_restarted(folder.next_offset, offset, mark):
                log.warning(f"{self.monitor}: partition {partition} of {self.topic}: the broker's log ends at "
                            f"offset {mark:,}, below the {folder.next_offset:,} already folded from it: the log "
                            f"restarted or was truncated (a broker that lost its data, a topic recreated, an "
                            f"unclean leader election); folding the new log from offset {offset:,} "
                            f"(reset {folder.log_resets + 1} of this partition)")
                folder.restart_log(offset)

    async def rewind(self, folders: Mapping[int, PartitionFolder], now: int) -> None:
        """Read again from offset 0 each owned partition whose fetches have said for `REWIND_AFTER_MS` that its
        log ends below the next offset to fold; once per log end seen, so a seek is not repeated while its
        records are on the way."""
        for partition, folder in folders.items():
            mark = self.source.high_watermark(partition)
            if mark is None or mark >= folder.next_offset:
                self._below.pop(partition, None)
                self._rewound.pop(partition, None)
                continue
            seen, since = self._below.get(partition, (mark, now))
            self._below[partition] = (mark, since if seen == mark else now)
            if seen != mark or now - since < REWIND_AFTER_MS or self._rewound.get(partition) == mark:
                continue
            self._rewound[partition] = mark
            log.warning(f"{self.monitor}: partition {partition} of {self.topic}: the broker says the log ends at "
                        f"offset {mark:,}, below the {folder.next_offset:,} already folded from it, and sends "
                        f"nothing past it; reading the partition again from its start")
            await self.source.rewind(partition)
