"""How `outside_reference` words the range it learned, in the alert summary a person reads."""

from __future__ import annotations

import math

from stream_guard.core.judging.learned import LearnedBounds


def test_a_range_learned_on_both_sides_reads_as_low_to_high() -> None:
    bounds = LearnedBounds(1.5, 517.6, False, (8.53, 495.9))
    assert bounds.describe() == "the reference held 8.53 to 495.9; learned 1.5 to 517.6"


def test_a_declared_min_is_named_rather_than_printed_as_minus_infinity() -> None:
    bounds = LearnedBounds(-math.inf, 517.6, False, (8.53, 495.9))
    assert bounds.describe() == \
        "the reference held 8.53 to 495.9; learned at most 517.6 (the declared min holds below)"


def test_a_declared_max_is_named_rather_than_printed_as_infinity() -> None:
    bounds = LearnedBounds(0.0, math.inf, True, (3.0, 90.0))
    assert bounds.describe() == \
        "the reference held 3 to 90; learned at least 0 (the declared max holds above), whole numbers"


def test_declared_min_and_max_leave_no_learned_range() -> None:
    bounds = LearnedBounds(-math.inf, math.inf, False, (0.0, 1.0))
    assert bounds.describe() == "the reference held 0 to 1; no range learned (min and max are declared)"
