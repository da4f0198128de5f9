"""Sizes in bytes written the way people write them (`512KiB`, `8MiB`, `1GiB`, `64kB`), read by pydantic's
`ByteSize`; a bare integer is bytes.

>>> parse_size("8MiB")
8388608
>>> parse_size(4096)
4096
>>> format_size(8 * 1024 * 1024), format_size(1536)
('8MiB', '1.5KiB')
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BeforeValidator, ByteSize, TypeAdapter, ValidationError

_BYTES: TypeAdapter[ByteSize] = TypeAdapter(ByteSize)


def parse_size(value: Any) -> int:
    """`8MiB`, `512KiB`, `64kB` or a bare integer of bytes, as an int."""
    if isinstance(value, bool):
        raise ValueError("expected a size such as 512KiB, 8MiB or 1GiB")
    try:
        return int(_BYTES.validate_python(value))
    except ValidationError:
        raise ValueError(f"{value!r} is not a size; write it like 512KiB, 8MiB or 1GiB") from None


def format_size(size: int) -> str:
    """The size in the largest binary unit that keeps it at least 1, to one decimal where it is not whole."""
    for unit, scale in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if size >= scale:
            amount = size / scale
            return f"{amount:.0f}{unit}" if amount == int(amount) else f"{amount:.1f}{unit}"
    return f"{size}B"


Size = Annotated[int, BeforeValidator(parse_size)]
