"""One check's value over the last windows as a small inline SVG, its threshold drawn as a dashed line.

>>> svg = sparkline_svg([Point(0.02, 0.1, "ok"), Point(0.3, 0.1, "critical"), Point(None, 0.1, "ok")])
>>> svg.count("<circle"), "stroke-dasharray" in svg
(2, True)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple, Protocol

from stream_guard.views.distributions import COLOURS, number

WIDTH, HEIGHT, PAD = 180, 40, 4
DOTS = {"ok": "#3c8c3c", "info": "#3b78b5", "warning": "#c79100", "critical": "#d93025"}


class CheckValue(Protocol):
    @property
    def value(self) -> float | None: ...
    @property
    def threshold(self) -> float | None: ...
    @property
    def severity(self) -> str: ...


class Point(NamedTuple):
    value: float | None
    threshold: float | None
    severity: str


def sparkline_svg(points: Sequence[CheckValue]) -> str:
    """Values left to right (one per window, gaps where a window had none), dots coloured by severity."""
    values = [p.value for p in points if p.value is not None]
    threshold = next((p.threshold for p in reversed(points) if p.threshold is not None), None)
    scale = [*values, *([threshold] if threshold is not None else []), 0.0]
    low, high = min(scale), max(scale)
    span = high - low or 1.0
    step = (WIDTH - 2 * PAD) / max(len(points) - 1, 1)

    def y(v: float) -> float:
        return HEIGHT - PAD - (v - low) / span * (HEIGHT - 2 * PAD)

    xy = [(PAD + i * step, y(p.value), p.severity) for i, p in enumerate(points) if p.value is not None]
    line = " ".join(f"{x:.1f},{yy:.1f}" for x, yy, _ in xy)
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" role="img">',
             f'<rect width="{WIDTH}" height="{HEIGHT}" fill="white"/>']
    if threshold is not None:
        parts.append(f'<line x1="{PAD}" x2="{WIDTH - PAD}" y1="{y(threshold):.1f}" y2="{y(threshold):.1f}" '
                     f'stroke="{DOTS["critical"]}" stroke-dasharray="3 2"><title>threshold {number(threshold)}'
                     "</title></line>")
    parts.append(f'<polyline fill="none" stroke="#555" stroke-width="1.2" points="{line}"/>')
    parts += [f'<circle cx="{x:.1f}" cy="{yy:.1f}" r="2.2" fill="{DOTS.get(s, COLOURS.get(s, "#555"))}"/>'
              for x, yy, s in xy]
    return "".join(parts) + "</svg>"
