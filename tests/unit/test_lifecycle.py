"""The alert lifecycle: which records a run of graded windows produces, exactly, under each `alerting:` key.

Each series is drawn one character per window: `c` critical, `w` warning, `i` info, `.` ok and
`-` no value (reference not ready). Records are compared as (window, status, severity, feature, check).
"""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from stream_guard.core.alerting.alerts import Evaluation, fingerprint
from stream_guard.core.alerting.digest import window_digest
from stream_guard.core.alerting.lifecycle import AlertBook, BookFormatError
from stream_guard.core.engine import MonitorEngine
from stream_guard.core.topology.monitor import AlertingSpec
from stream_guard.offline import scenario

from .builders import monitor, records
from .test_engine import DEMO, START

GRADES = {"c": "critical", "w": "warning", "i": "info", ".": "ok", "-": "ok"}
VALUES = {"c": 0.5, "w": 0.15, "i": 0.06, ".": 0.01, "-": None}
DRIFT = "numeric_drift"


def evaluation(feature: str, mark: str, window: int, value: float | None = None) -> Evaluation:
    value = VALUES[mark] if value is None else value
    return Evaluation("m", "all", feature, DRIFT, "psi", GRADES[mark], window * 60_000, (window + 1) * 60_000,
                      "rolling", None, None, value, 0.25, 500, 2000, f"{feature} is {GRADES[mark]}", 0)


def book(sources: dict[str, str] | None = None, **alerting: Any) -> AlertBook:
    if "for_" in alerting:
        alerting["for"] = alerting.pop("for_")
    return AlertBook(AlertingSpec.model_validate(alerting), sources or {})


def play(alert_book: AlertBook, first_window: int = 0, **drawn: str) -> list[dict[str, Any]]:
    """Apply the drawn series window by window; every record emitted, in order."""
    out: list[dict[str, Any]] = []
    length = len(next(iter(drawn.values())))
    for w in range(length):
        out += alert_book.apply([evaluation(f, marks[w], first_window + w) for f, marks in drawn.items()])
    return out


def seen(alerts: list[dict[str, Any]]) -> list[tuple[int, str, str, str, str]]:
    return [(_window(a), a["status"], a["severity"], a["feature"], a["check"]) for a in alerts]


def _window(record: dict[str, Any]) -> int:
    return int(record["window"]["start"][14:16])


# for ----------------------------------------------------------------------------------------------

def test_for_3_is_pending_twice_and_fires_on_the_third_window() -> None:
    alerts = book(for_=3)
    assert play(alerts, x="cc") == []
    assert alerts.series[fingerprint("m", "all", "x", DRIFT)].pending
    assert seen(play(alerts, first_window=2, x="c")) == [(2, "firing", "critical", "x", DRIFT)]


def test_for_3_starts_over_after_a_window_below() -> None:
    assert seen(play(book(for_=3), x="cc.cc.ccc")) == [(8, "firing", "critical", "x", DRIFT)]


def test_for_counts_each_severity_on_its_own() -> None:
    assert seen(play(book(for_=2), x="wccw.")) == [
        (1, "firing", "warning", "x", DRIFT),
        (2, "firing", "critical", "x", DRIFT),
        (3, "firing", "warning", "x", DRIFT),
        (4, "resolved", "warning", "x", DRIFT),
    ]


def test_windows_without_a_value_neither_count_nor_break_a_run() -> None:
    assert seen(play(book(for_=2), x="c-c")) == [(2, "firing", "critical", "x", DRIFT)]


# keep_firing_for, resolve, dedup ------------------------------------------------------------------

def test_keep_firing_for_2_holds_through_two_windows_below_and_resolves_on_the_third() -> None:
    assert seen(play(book(keep_firing_for=2), x="c..c...")) == [
        (0, "firing", "critical", "x", DRIFT),
        (6, "resolved", "critical", "x", DRIFT),
    ]


def test_keep_firing_for_also_delays_de_escalation() -> None:
    assert seen(play(book(keep_firing_for=1), x="cwcww..")) == [
        (0, "firing", "critical", "x", DRIFT),
        (4, "firing", "warning", "x", DRIFT),
        (6, "resolved", "warning", "x", DRIFT),
    ]


def test_by_default_a_series_fires_on_each_change_of_severity_and_resolves_once() -> None:
    alerts = play(book(), x="wwccw..")
    assert seen(alerts) == [
        (0, "firing", "warning", "x", DRIFT),
        (2, "firing", "critical", "x", DRIFT),
        (4, "firing", "warning", "x", DRIFT),
        (5, "resolved", "warning", "x", DRIFT),
    ]
    assert alerts[-1]["summary"] == "Resolved. x is ok"


def test_the_same_severity_window_after_window_is_one_record() -> None:
    assert seen(play(book(), x="cccc")) == [(0, "firing", "critical", "x", DRIFT)]


# repeat, cooldown ---------------------------------------------------------------------------------

def test_repeat_2_re_emits_a_still_firing_alert_every_second_window_with_its_own_id() -> None:
    alerts = play(book(repeat=2), x="ccccc.")
    assert seen(alerts) == [
        (0, "firing", "critical", "x", DRIFT),
        (2, "firing", "critical", "x", DRIFT),
        (4, "firing", "critical", "x", DRIFT),
        (5, "resolved", "critical", "x", DRIFT),
    ]
    assert [a.get("repeat") for a in alerts] == [None, 1, 2, None]
    assert len({a["id"] for a in alerts}) == 4
    assert alerts[1]["summary"].startswith("Still firing since 1970-01-01T00:00:00Z (repeat 1). ")


def test_repeat_counts_again_from_a_change_of_severity() -> None:
    assert seen(play(book(repeat=2), x="wcccc")) == [
        (0, "firing", "warning", "x", DRIFT),
        (1, "firing", "critical", "x", DRIFT),
        (3, "firing", "critical", "x", DRIFT),
    ]


def test_cooldown_2_holds_a_new_firing_pending_until_two_windows_have_passed() -> None:
    assert seen(play(book(cooldown=2), x="c.ccc.")) == [
        (0, "firing", "critical", "x", DRIFT),
        (1, "resolved", "critical", "x", DRIFT),
        (4, "firing", "critical", "x", DRIFT),
        (5, "resolved", "critical", "x", DRIFT),
    ]


def test_a_series_that_stays_ok_through_its_cooldown_fires_at_once_afterwards() -> None:
    assert seen(play(book(cooldown=2), x="c...c")) == [
        (0, "firing", "critical", "x", DRIFT),
        (1, "resolved", "critical", "x", DRIFT),
        (4, "firing", "critical", "x", DRIFT),
    ]


def test_the_timeline_of_docs_alerting_md() -> None:
    alerts = play(book(for_=2, keep_firing_for=1, repeat=3, cooldown=3), x="wcccccw...cccc")
    assert [(r[0], r[1], r[2], a.get("repeat")) for r, a in zip(seen(alerts), alerts)] == [
        (1, "firing", "warning", None),
        (2, "firing", "critical", None),
        (5, "firing", "critical", 1),
        (7, "firing", "warning", None),
        (8, "resolved", "warning", None),
        (12, "firing", "critical", None),
    ]


# importance ---------------------------------------------------------------------------------------

def test_importance_2_raises_a_warning_to_critical_and_0_5_lowers_it_below_warning() -> None:
    feature = {"type": "numeric", "field": "f.v"}
    engine = MonitorEngine(monitor(
        features={"heavy": {**feature, "importance": 2.0}, "plain": feature,
                  "light": {**feature, "importance": 0.5}},
        checks={"numeric_drift": {"enabled": False}, "mean_shift": {"enabled": False},
                "missing_rate": {"warning": 0.1, "critical": 0.2}}))
    # windows 0-2 have every value; in window 3, 15 of 100 events miss it: a rise of 0.15
    events = [{"ts": w * 60 + i * 0.5, "f": {} if w == 3 and i < 15 else {"v": i}}
              for w in range(6) for i in range(100)]
    engine.fold(records(events))
    alerts = [a for start in engine.due_windows()
              for a in engine.close_window(start, engine.local_profiles(start), emitted_at=0).alerts]
    assert seen(alerts) == [
        (3, "firing", "critical", "heavy", "missing_rate"),
        (3, "firing", "warning", "plain", "missing_rate"),
        (4, "resolved", "critical", "heavy", "missing_rate"),
        (4, "resolved", "warning", "plain", "missing_rate"),
    ]
    heavy = alerts[0]
    assert (heavy["value"], heavy["importance"], heavy["threshold"]) == (0.15, 2.0, 0.2)
    assert "graded as 0.15 × importance 2 = 0.3" in heavy["summary"]


# inhibition ---------------------------------------------------------------------------------------

ETL = {"a": "etl", "b": "etl", "c": "etl"}
SOURCE = ("source:etl", "source")


def test_three_features_of_one_source_breaking_together_page_once_and_resolve_once() -> None:
    alerts = play(book(ETL), a="cc.", b="c..", c="cc.")
    assert seen(alerts) == [(0, "firing", "critical", *SOURCE), (2, "resolved", "critical", *SOURCE)]
    fired, resolved = alerts
    assert [(m["feature"], m["severity"]) for m in fired["features"]] == [
        ("a", "critical"), ("b", "critical"), ("c", "critical")]
    assert fired["source"] == "etl"
    assert fired["fingerprint"] == fingerprint("m", "all", "source:etl", "source")
    assert fired["summary"].startswith("Source etl: 3 features firing, worst critical: a numeric_drift critical (0.5)")
    assert resolved["features"] == fired["features"]


def test_one_member_recovering_emits_nothing_while_the_source_severity_holds() -> None:
    alerts = book(ETL)
    assert seen(play(alerts, a="cc", b="c.", c="cc")) == [(0, "firing", "critical", *SOURCE)]
    assert [e["feature"] for e in alerts.firing_features()] == ["a", "c"]


def test_the_source_alert_follows_the_highest_member_severity() -> None:
    alerts = play(book(ETL), a="cc..", b="wwww", c="....")
    assert seen(alerts) == [
        (0, "firing", "critical", *SOURCE),
        (2, "firing", "warning", *SOURCE),
    ]
    assert [m["feature"] for m in alerts[1]["features"]] == ["b"]


def test_members_go_through_for_before_they_count_and_other_features_alert_alone() -> None:
    alerts = play(book(ETL, for_=2), a="ccc", b="c..", c="...", x="ccc")
    assert seen(alerts) == [(1, "firing", "critical", "x", DRIFT), (1, "firing", "critical", *SOURCE)]
    assert [m["feature"] for m in alerts[1]["features"]] == ["a"]


def test_a_source_alert_repeats_like_any_series_listing_the_members_firing_then() -> None:
    alerts = play(book(ETL, repeat=2), a="ccccc", b="..c..")
    assert seen(alerts) == [
        (0, "firing", "critical", *SOURCE),
        (2, "firing", "critical", *SOURCE),
        (4, "firing", "critical", *SOURCE),
    ]
    assert [[m["feature"] for m in a["features"]] for a in alerts] == [["a"], ["a", "b"], ["a"]]
    assert [a.get("repeat") for a in alerts] == [None, 1, 2]


def test_a_resolved_source_cools_down_even_when_another_member_breaks() -> None:
    assert seen(play(book(ETL, cooldown=1), a="c...", b="..cc")) == [
        (0, "firing", "critical", *SOURCE),
        (1, "resolved", "critical", *SOURCE),
        (3, "firing", "critical", *SOURCE),
    ]


# digest -------------------------------------------------------------------------------------------

def test_the_digest_ranks_firing_features_by_severity_then_value_with_their_alert_ids() -> None:
    alerts = book({"s1": "etl", "s2": "etl"})
    records = alerts.apply([evaluation("w", "w", 0, 3.0), evaluation("c_low", "c", 0, 0.3),
                            evaluation("c_high", "c", 0, 0.9), evaluation("s1", "w", 0, 0.2),
                            evaluation("s2", "c", 0, 0.4), evaluation("ok", ".", 0)])
    ids = {r["feature"]: r["id"] for r in records}
    digest = window_digest("m", 0, 60_000, 65_000, alerts.firing_features())
    assert digest is not None
    assert [(e["feature"], e["severity"], e["value"], e["alert_id"], e.get("source")) for e in digest["firing"]] == [
        ("c_high", "critical", 0.9, ids["c_high"], None),
        ("s2", "critical", 0.4, ids["source:etl"], "etl"),
        ("c_low", "critical", 0.3, ids["c_low"], None),
        ("w", "warning", 3.0, ids["w"], None),
        ("s1", "warning", 0.2, ids["source:etl"], "etl"),
    ]
    assert (digest["schema"], digest["monitor"], digest["window"], digest["emitted_at"]) == (
        "stream_guard.digest/v1", "m", {"start": "1970-01-01T00:00:00Z", "end": "1970-01-01T00:01:00Z"},
        "1970-01-01T00:01:05Z")
    assert digest["summary"] == "5 firing (3 critical, 2 warning); worst: c_high numeric_drift."
    assert window_digest("m", 60_000, 120_000, 0, []) is None


def test_the_engine_emits_one_digest_per_window_in_which_something_fires() -> None:
    engine = MonitorEngine(DEMO)
    digests = []
    engine.fold(records(list(scenario.stream(11, START, 1200))))
    for start in engine.due_windows():
        digest = engine.close_window(start, engine.local_profiles(start), emitted_at=0).digest
        if digest is not None:
            digests.append(((start - START) // 60_000, sorted((e["feature"], e["check"]) for e in digest["firing"])))
    amount = [("amount", "mean_shift"), ("amount", "numeric_drift"), ("amount", "outside_reference")]
    country = [("country", "categorical_drift"), ("country", "new_category")]
    assert digests == [(4, amount), (5, amount),
                       (6, [("age", "missing_rate")]), (7, [("age", "missing_rate")]),
                       (8, country), (9, country)]


def test_digest_false_turns_the_digest_off() -> None:
    engine = MonitorEngine(DEMO.model_copy(update={"alerting": AlertingSpec(digest=False)}))
    engine.fold(records(list(scenario.stream(6, START, 1200))))
    assert [engine.close_window(s, engine.local_profiles(s), emitted_at=0).digest for s in engine.due_windows()] == [
        None] * 5


# the stored book ----------------------------------------------------------------------------------

def round_trip(alerts: AlertBook) -> AlertBook:
    return AlertBook.from_json(orjson.loads(orjson.dumps(alerts.to_json())), alerts.policy, alerts.sources)


def test_a_restored_book_carries_on_pending_cooling_and_grouped_series_where_it_stopped() -> None:
    alerts = book(ETL, for_=2, cooldown=2)
    play(alerts, a="...c", x="cc.c")   # a pending; x fired, resolved and is cooling down
    restored = round_trip(alerts)
    assert restored == alerts
    assert seen(play(restored, first_window=4, a="cc", x="cc")) == [
        (4, "firing", "critical", *SOURCE),
        (5, "firing", "critical", "x", DRIFT),
    ]


def test_a_version_1_book_is_read_as_firing_series() -> None:
    fp = fingerprint("m", "all", "x", DRIFT)
    old = {"version": 1, "firing": {fp: {"severity": "warning", "since": 120_000, "feature": "x", "check": DRIFT}}}
    alerts = AlertBook.from_json(old)
    assert alerts.firing == old["firing"]
    assert seen(play(alerts, first_window=3, x="wc.")) == [
        (4, "firing", "critical", "x", DRIFT),
        (5, "resolved", "critical", "x", DRIFT),
    ]


def test_a_book_from_a_newer_version_is_refused_by_version() -> None:
    with pytest.raises(BookFormatError, match="alert book format v3; this version reads v1 and v2"):
        AlertBook.from_json({"version": 3})
