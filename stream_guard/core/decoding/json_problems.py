"""Why a payload is not the JSON expected, as a dead letter's (reason, message): `empty`, `not_utf8`,
`too_deep` or `invalid_json`. Only looked at once parsing has failed, so the common path pays nothing."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

EMPTY_MESSAGE = "the message has no payload (tombstone or empty)"
_NOT_NUMBERS = ("NaN", "Infinity")


def json_problem(data: bytes | None, exc: Exception) -> tuple[str, str]:
    """Why `data` did not parse, as (reason, message); only called once parsing has failed.

    >>> json_problem(b"\\xff{}", ValueError())[0], json_problem(b"  ", ValueError())[0]
    ('not_utf8', 'empty')
    """
    if not data or not data.strip():
        return "empty", EMPTY_MESSAGE
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as bad:
        return "not_utf8", f"byte {data[bad.start]:#04x} at position {bad.start} is not UTF-8 ({bad.reason})"
    detail = str(exc)
    if "surrogate" in detail:
        return "not_utf8", f"a lone UTF-16 surrogate escape cannot be decoded to text: {detail}"
    if "depth limit" in detail:
        return "too_deep", f"nested deeper than JSON parsing allows (1024 levels): {detail}"
    if "infinity" in detail:
        return "invalid_json", f"not valid JSON: a number is beyond a 64-bit float's range (about 1.8e308): {detail}"
    position = getattr(exc, "pos", -1)   # where the parser stopped, in characters
    word = next((w for w in _NOT_NUMBERS if position >= 0 and text.startswith(w, position)), None)
    if word:
        sign = "-" if text[position - 1:position] == "-" else ""
        return "invalid_json", f"not valid JSON: {sign}{word} is not a JSON number (send null instead): {detail}"
    return "invalid_json", f"not valid JSON: {detail}"


@dataclass(frozen=True)
class JsonError:
    reason: str
    message: str


def loads_or_error(data: bytes) -> Any:
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        return JsonError(*json_problem(data, exc))


def json_kind(value: Any) -> str:
    return {dict: "an object", list: "an array", str: "a string", bool: "a boolean",
            type(None): "null"}.get(type(value), "a number")
