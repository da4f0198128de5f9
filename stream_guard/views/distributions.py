"""Reference and current distributions of one feature, drawn together as a small inline SVG.

Shared by `replay --report` and the worker's status page. Numeric features are drawn as two
quantile curves (the cumulative share against the value), categorical ones as paired bars of the
most frequent values. Everything is inline: no script, font or image is fetched.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from typing import Any

import numpy as np

from stream_guard.core.judging.evaluation import SEGMENT_ALL
from stream_guard.core.judging.evaluation import _segment_critical as segment_critical
from stream_guard.core.judging.references import ClosedWindow, resolve_reference
from stream_guard.core.profiles.profile import CategoricalProfile, FeatureProfile, NumericProfile, WindowProfile
from stream_guard.core.profiles.snapshot import Snapshot
from stream_guard.core.topology.monitor import MonitorSpec

COLOURS = {"ok": "#d9f2d9", "info": "#d6e9f8", "warning": "#ffe08a", "critical": "#f28b82"}
WIDTH, HEIGHT, PAD = 360, 150, 28
BAR_SPAN = WIDTH - 190    # the bars' full length; the shares are written to their right


def feature_pair(monitor: MonitorSpec, current: WindowProfile, history: Sequence[ClosedWindow],
                 snapshot: Snapshot | None, segment: str, feature: str) -> tuple[FeatureProfile, FeatureProfile] | None:
    """The reference and current profiles of one feature (in one segment) of a closed window.

    `history` is the reference material the window was compared with; the window itself is left
    out of it. None when either side is missing or empty.
    """
    earlier = [w for w in history if w.profile.start != current.start]
    if segment != SEGMENT_ALL:
        segment_profile = current.segments.get(segment)
        if segment_profile is None:
            return None
        current = segment_profile
        earlier = [ClosedWindow(w.profile.segments[segment], segment_critical(w.critical, segment))
                   for w in earlier if segment in w.profile.segments]
    now = current.features.get(feature)
    if now is None:
        return None
    reference = resolve_reference(monitor, feature, current.start, earlier, snapshot).feature
    if reference is None or now.n == 0 or reference.n == 0:
        return None
    return reference, now


def distribution_svg(reference: FeatureProfile, current: FeatureProfile) -> str:
    """Reference (grey) and current (red) distributions in one small SVG."""
    if isinstance(reference, NumericProfile) and isinstance(current, NumericProfile):
        return _cdf_svg(reference, current)
    assert isinstance(reference, CategoricalProfile) and isinstance(current, CategoricalProfile)
    return _bars_svg(reference, current)


def number(value: Any) -> str:
    """A value for people: four significant digits, `n/a` when absent.

    >>> number(0.123456), number(None)
    ('0.1235', 'n/a')
    """
    return "n/a" if value is None else f"{value:.4g}"


def _cdf_svg(reference: NumericProfile, current: NumericProfile) -> str:
    ranks = np.linspace(0.01, 0.99, 50).tolist()
    ref_q = np.asarray(reference.sketch.get_quantiles(ranks))
    cur_q = np.asarray(current.sketch.get_quantiles(ranks))
    low, high = float(min(ref_q.min(), cur_q.min())), float(max(ref_q.max(), cur_q.max()))
    span = high - low or 1.0

    def line(quantiles: np.ndarray, colour: str) -> str:
        points = " ".join(f"{PAD + (q - low) / span * (WIDTH - 2 * PAD):.1f},"
                          f"{HEIGHT - PAD - r * (HEIGHT - 2 * PAD):.1f}" for q, r in zip(quantiles, ranks))
        return f'<polyline fill="none" stroke="{colour}" stroke-width="2" points="{points}"/>'

    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" role="img">'
            f'<rect width="{WIDTH}" height="{HEIGHT}" fill="white"/>'
            f'<line x1="{PAD}" y1="{HEIGHT - PAD}" x2="{WIDTH - PAD}" y2="{HEIGHT - PAD}" stroke="#999"/>'
            f'<line x1="{PAD}" y1="{PAD}" x2="{PAD}" y2="{HEIGHT - PAD}" stroke="#999"/>'
            + line(ref_q, "#888") + line(cur_q, "#d93025")
            + f'<text x="{PAD}" y="{HEIGHT - 8}" font-size="10">{number(low)}</text>'
            f'<text x="{WIDTH - PAD}" y="{HEIGHT - 8}" font-size="10" text-anchor="end">{number(high)}</text>'
            f'<text x="{PAD + 4}" y="{PAD - 8}" font-size="10">cumulative share: reference (grey), '
            f'this window (red)</text></svg>')


def _bars_svg(reference: CategoricalProfile, current: CategoricalProfile) -> str:
    ref, cur = reference.frequencies(), current.frequencies()
    shares = {v: (ref.get(v, 0) / max(reference.n, 1), cur.get(v, 0) / max(current.n, 1)) for v in set(ref) | set(cur)}
    top = sorted(shares, key=lambda v: -max(shares[v]))[:8]
    row = (HEIGHT - 2 * 10) / max(len(top), 1)
    bars = []
    for i, value in enumerate(top):
        y = 10 + i * row
        before, now = shares[value]
        bars.append(f'<text x="4" y="{y + row * 0.6:.1f}" font-size="10">{html.escape(value[:14])}</text>'
                    f'<rect x="90" y="{y:.1f}" width="{before * BAR_SPAN:.1f}" height="{row * 0.4:.1f}" '
                    f'fill="#888"/><rect x="90" y="{y + row * 0.45:.1f}" width="{now * BAR_SPAN:.1f}" '
                    f'height="{row * 0.4:.1f}" fill="#d93025"/>'
                    f'<text x="{WIDTH - 4}" y="{y + row * 0.6:.1f}" font-size="10" text-anchor="end">'
                    f'{_share(before)} → {_share(now)}</text>')
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" role="img">'
            f'<rect width="{WIDTH}" height="{HEIGHT}" fill="white"/>' + "".join(bars) + "</svg>")


def _share(share: float) -> str:
    """A share for a bar's label: `34%`, `0.4%`, `0%`.

    >>> _share(0.3412), _share(0.004), _share(0.0)
    ('34%', '0.4%', '0%')
    """
    return f"{share:.0%}" if share >= 0.01 or share == 0 else f"{share * 100:.1f}%"
