"""Every reason code a dead letter can carry, so counters and dashboards can name them before the first one.

Record-level codes come from decoding (`decoder`, `registry`): a record too large, empty, not UTF-8, not
JSON, too deeply nested, not an object (or, batched, not an array), without a usable timestamp, or,
from a registry format, not framed, of an unknown schema id, or not matching its schema. Event-time
codes come from folding (`folding`), which knows the partition's watermark: too late for its window,
older than the retention, or too far in the future.
"""

from __future__ import annotations

DECODING_REASONS = ("oversized", "empty", "not_utf8", "invalid_json", "too_deep", "not_an_object", "not_an_array",
                    "missing_timestamp", "invalid_timestamp")
# registry formats (Avro, Protobuf, JSON Schema): not framed, a schema id the registry does not know,
# bytes that do not decode with the writer's schema (or a schema of another format)
REGISTRY_REASONS = ("no_magic_byte", "unknown_schema_id", "schema_mismatch")
FOLDING_REASONS = ("late", "too_old", "future")
DEAD_LETTER_REASONS = DECODING_REASONS + REGISTRY_REASONS + FOLDING_REASONS
