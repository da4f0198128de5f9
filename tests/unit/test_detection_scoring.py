"""The detection benchmark's scorer: detections, misses, delays and false alarms, counted exactly."""

from __future__ import annotations

from benchmarks.detection.scoring import Alarm, Timeline, event_alarms, one_per_window, score, window_alarms

TEN = Timeline(window_events=[100] * 10, change_windows=[5], tolerance=3)


def test_the_first_alarm_inside_the_tolerance_is_the_detection():
    result = score(TEN, [Alarm(6, 650), Alarm(7, 800)])
    assert (result.detections, result.misses, result.delays_windows, result.delays_events) == (1, 0, [1], [150])


def test_an_alarm_in_the_first_changed_window_has_delay_zero_windows():
    result = score(TEN, window_alarms(TEN, [5]))
    assert (result.delays_windows, result.delays_events, result.false_alarms) == ([0], [100], 0)


def test_every_other_alarm_is_a_false_alarm_including_a_repeat_for_the_same_change():
    result = score(TEN, [Alarm(1, 150), Alarm(5, 520), Alarm(6, 601), Alarm(9, 1000)])
    assert (result.detections, result.false_alarms, result.repeats) == (1, 3, 1)


def test_alarms_before_the_change_or_past_the_tolerance_leave_it_missed():
    result = score(TEN, [Alarm(4, 500), Alarm(8, 900)])
    assert (result.detections, result.misses, result.false_alarms, result.repeats) == (0, 1, 2, 0)


def test_false_alarm_rates_are_per_10k_events_and_per_1k_windows():
    result = score(TEN, [Alarm(0, 10), Alarm(2, 300)])
    assert result.false_alarms_per_10k_events == 20.0
    assert result.false_alarms_per_1k_windows == 200.0


def test_several_alarms_in_one_window_count_once_at_the_earliest():
    assert one_per_window([Alarm(6, 700), Alarm(6, 650), Alarm(2, 300)]) == [Alarm(2, 300), Alarm(6, 650)]
    assert score(TEN, [Alarm(6, 700), Alarm(6, 650)]).false_alarms == 0


def test_a_control_without_change_points_counts_every_alarm_as_false():
    control = Timeline(window_events=[50] * 4, change_windows=[], tolerance=0)
    result = score(control, window_alarms(control, [0, 3]))
    assert (result.detections, result.misses, result.false_alarms) == (0, 0, 2)
    assert result.false_alarms_per_1k_windows == 500.0


def test_event_alarms_are_placed_in_the_window_holding_their_event():
    uneven = Timeline(window_events=[100, 50, 100], change_windows=[1], tolerance=2)
    alarms = event_alarms(uneven, [100, 101, 151])
    assert alarms == [Alarm(0, 100), Alarm(1, 101), Alarm(2, 151)]
    result = score(uneven, alarms)
    assert (result.detections, result.delays_windows, result.delays_events, result.false_alarms) == (1, [0], [1], 2)


def test_window_alarms_stand_at_the_last_event_of_their_window():
    uneven = Timeline(window_events=[100, 50, 100], change_windows=[1], tolerance=2)
    assert window_alarms(uneven, [1, 2]) == [Alarm(1, 150), Alarm(2, 250)]
    assert score(uneven, window_alarms(uneven, [1])).delays_events == [50]
