"""The `cusum` check: a small steady shift that no window check grades accumulates to critical; its sums
persist with the alert book; `calibrate` sets its thresholds for a target run length."""

from __future__ import annotations

from typing import Any

import numpy as np
import orjson
import pytest

from stream_guard.core.engine import MonitorEngine
from stream_guard.core.judging.sequential import run_length, step, threshold_for
from stream_guard.core.state import MonitorState
from stream_guard.offline.calibrate import as_yaml, propose

from .builders import monitor, records

MINUTE = 60_000
CLEAN, SHIFTED, BACK = 10, 30, 4


def spec() -> Any:
    return monitor(reference={"kind": "fixed", "start": "1970-01-01T00:00:00Z", "end": "1970-01-01T00:05:00Z"},
                   checks={"cusum": {"enabled": True, "allowance": 0.05, "warning": 1.0, "critical": 2.0}},
                   min_samples=100)


def events(seed: int = 3) -> list[dict[str, Any]]:
    """1,000 events a minute of x ~ N(10, 1); +0.15 sd in windows CLEAN to CLEAN + SHIFTED - 1."""
    rng = np.random.default_rng(seed)
    out = []
    for w in range(CLEAN + SHIFTED + BACK + 1):
        level = 10.15 if CLEAN <= w < CLEAN + SHIFTED else 10.0
        out += [{"ts": w * 60 + i * 0.06, "f": {"x": round(float(v), 4), "c": "a"}}
                for i, v in enumerate(rng.normal(level, 1, 1000))]
    return out


def closed(engine: MonitorEngine, batch: list[dict[str, Any]], first: int = 0) -> list[Any]:
    engine.fold(records(batch, first_offset=first))
    return [engine.close_window(s, engine.local_profiles(s), emitted_at=0) for s in engine.due_windows()]


def graded(results: list[Any], check: str) -> dict[int, Any]:
    return {r.start // MINUTE: e for r in results for e in r.evaluations if e.check == check}


def test_the_sums_move_by_the_shift_beyond_the_allowance_and_stop_at_the_cap() -> None:
    state = None
    for z in (0.1, 0.1, -0.3, 0.02):
        state = step(state, z, 0.05, cap=0.08)
    # S⁺: 0.05, 0.1 held at 0.08, 0, 0; S⁻: 0, 0, 0.25 held at 0.08, 0.08 - 0.02 - 0.05
    assert state == (0.0, pytest.approx(0.01))
    assert step((1.0, 0.0), 0.5, 0.05, cap=1.2) == (1.2, 0.0)


def test_a_steady_shift_below_every_window_check_becomes_critical_and_leaves_critical_when_it_stops() -> None:
    results = closed(MonitorEngine(spec()), events())
    cusum, shift = graded(results, "cusum"), graded(results, "mean_shift")
    assert cusum[0].value is None   # nothing of the fixed range closed yet
    severities = [cusum[w].severity for w in range(5, CLEAN + SHIFTED + BACK)]
    assert severities[:CLEAN - 5] == ["ok"] * (CLEAN - 5)
    first_warning, first_critical = severities.index("warning") + 5, severities.index("critical") + 5
    assert (first_warning, first_critical) == (CLEAN + 9, CLEAN + 19)   # about 0.1 sd × windows a window
    assert all(cusum[w].severity == "critical" for w in range(first_critical, CLEAN + SHIFTED))
    # held at the cap, it leaves critical in the first window whose shift is below the allowance: the first
    # window back is still 0.058 sd above the fixed reference (its own noise), the next one is not
    assert [cusum[w].severity for w in range(CLEAN + SHIFTED, CLEAN + SHIFTED + BACK)] == [
        "critical", "warning", "warning", "warning"]
    # 0.15 sd: mean_shift never gets near its critical 0.4 (its warning, 0.2, the noise reaches now and then)
    assert max(shift[w].value for w in range(CLEAN, CLEAN + SHIFTED)) < 0.3
    assert {e.check for r in results for e in r.evaluations if e.severity == "critical"} == {"cusum"}
    record = cusum[first_critical].to_json()
    assert record["value"] == 2.0 and 0.1 < record["window_shift_sd"] < 0.2
    assert "beyond an allowance of 0.05 sd a window" in record["summary"]
    assert "window_shift_sd" not in shift[first_critical].to_json()


def test_the_sums_persist_with_the_alert_book_so_a_restart_carries_on() -> None:
    stream = events()
    cut = (CLEAN + 12) * 1000   # the first event of window 22; the 200 after it close window 21
    live = MonitorEngine(spec())
    closed(live, stream[:cut + 200])
    state = live.checkpoint()
    book = orjson.loads(orjson.dumps(state.book))
    assert list(book["sequential"]) == ["all\x1fx"]
    restarted = MonitorEngine(spec())
    restarted.restore(MonitorState(state.closed, book, state.last_evaluated))
    after = graded(closed(restarted, stream[cut:], first=cut), "cusum")
    whole = graded(closed(MonitorEngine(spec()), stream), "cusum")
    assert {w: (e.severity, e.value) for w, e in after.items()} == {w: (whole[w].severity, whole[w].value)
                                                                    for w in after}


def test_calibrate_sets_the_thresholds_for_the_run_lengths_of_the_target_rate() -> None:
    rng = np.random.default_rng(5)
    shifts = rng.normal(0, 0.1, 400)
    records_ = [{"monitor": "m", "check": "cusum", "metric": "cusum_sd_windows", "value": 0.0,
                 "window_shift_sd": float(z)} for z in shifts]
    (proposal,) = propose(records_, rate=0.001, allowances={"m": 0.05})
    sigma = float(np.sqrt(np.mean(shifts ** 2)))
    assert proposal.warning == threshold_for(1000, 0.05, sigma)
    assert proposal.critical == threshold_for(100000, 0.05, sigma)
    assert run_length(proposal.warning, 0.05, sigma) >= 1000 > run_length(proposal.warning * 0.95, 0.05, sigma)
    text = as_yaml([proposal], "clean.jsonl", 400, 0.001)
    assert (f"      cusum: {{enabled: true, allowance: 0.05, warning: {proposal.warning:g}, critical: "
            f"{proposal.critical:g}}}  # 400 windows' shifts, largest") in text


def test_the_run_length_approximation_holds_on_simulated_clean_windows() -> None:
    """2,000 CUSUMs of 3,000 clean windows each (shifts N(0, 0.1²)), restarted after each alarm."""
    rng = np.random.default_rng(8)
    h = threshold_for(500, 0.05, 0.1)
    high, low, alarms = np.zeros(2000), np.zeros(2000), 0
    for _ in range(3000):
        z = rng.normal(0, 0.1, 2000)
        high, low = np.maximum(0, high + z - 0.05), np.maximum(0, low - z - 0.05)
        fired = (high >= h) | (low >= h)
        alarms += int(fired.sum())
        high[fired], low[fired] = 0, 0
    assert 350 < 2000 * 3000 / alarms < 700   # the target: 500 windows between false alarms
