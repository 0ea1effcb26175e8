"""devices.prediction: pure functions, no database."""

import random
from datetime import UTC, datetime, timedelta

import pytest

from devices.prediction import MIN_READINGS, Reading, current_cycle, is_refill, predict, reorder_reason, theil_sen

T0 = datetime(2026, 1, 5, 8, 0, tzinfo=UTC)


def _line(*, start: float, per_day: float, days: float, every_hours: float = 6, noise: float = 0.0, seed: int = 1) -> list[Reading]:
    rng = random.Random(seed)
    steps = int(days * 24 / every_hours) + 1
    return [
        Reading(at=T0 + timedelta(hours=i * every_hours), remaining=start - per_day * i * every_hours / 24 + rng.gauss(0, noise))
        for i in range(steps)
    ]


def test_theil_sen_recovers_a_line():
    slope, intercept = theil_sen([0, 1, 2, 3], [10, 8, 6, 4])
    assert (slope, intercept) == (-2, 10)


def test_theil_sen_ignores_a_few_wild_points():
    xs = list(range(20))
    ys = [100 - 3 * x for x in xs]
    ys[4], ys[11], ys[17] = 500, -300, 900  # a sensor glitching three times
    slope, intercept = theil_sen(xs, ys)
    assert slope == pytest.approx(-3, abs=0.01)
    assert intercept == pytest.approx(100, abs=0.5)


def test_theil_sen_needs_two_distinct_times():
    with pytest.raises(ValueError):
        theil_sen([1, 1], [5, 4])


def test_a_steady_consumption_predicts_its_run_out():
    readings = _line(start=1000, per_day=50, days=4)
    prediction = predict(readings, capacity=1000)
    assert prediction.rate_per_day == pytest.approx(50)
    assert prediction.run_out_at == T0 + timedelta(days=20)
    assert prediction.remaining == pytest.approx(800)
    assert prediction.days_left(T0 + timedelta(days=4)) == pytest.approx(16)


def test_a_refill_starts_a_new_cycle_and_the_old_one_is_forgotten():
    # given: a fast first cycle, a refill, then a slow one
    first = _line(start=1000, per_day=200, days=3)
    refill_at = first[-1].at + timedelta(hours=6)
    second = [Reading(at=refill_at + timedelta(hours=6 * i), remaining=1000 - 25 * i * 0.25) for i in range(12)]
    # when
    prediction = predict(first + second, capacity=1000)
    # then
    assert prediction.cycle_started_at == refill_at
    assert prediction.readings == 12
    assert prediction.rate_per_day == pytest.approx(25)
    assert prediction.run_out_at == refill_at + timedelta(days=40)


def test_noise_below_the_refill_mark_does_not_split_a_cycle():
    readings = _line(start=1000, per_day=40, days=10, noise=20, seed=7)
    assert len(current_cycle(readings, capacity=1000)) == len(readings)
    assert predict(readings, capacity=1000).rate_per_day == pytest.approx(40, rel=0.1)


def test_missing_readings_still_give_a_prediction():
    readings = _line(start=1000, per_day=40, days=10, noise=10)
    sparse = readings[::7]  # six of every seven readings lost
    prediction = predict(sparse, capacity=1000)
    assert prediction.rate_per_day == pytest.approx(40, rel=0.1)
    assert abs(prediction.run_out_at - (T0 + timedelta(days=25))) < timedelta(days=2)


def test_readings_out_of_order_are_sorted():
    readings = _line(start=1000, per_day=50, days=4)
    assert predict(list(reversed(readings)), capacity=1000) == predict(readings, capacity=1000)


def test_too_few_readings_give_no_rate_yet():
    prediction = predict(_line(start=900, per_day=50, days=0.5)[: MIN_READINGS - 1], capacity=1000)
    assert prediction.rate_per_day is None and prediction.run_out_at is None and not prediction.reliable
    assert prediction.remaining == pytest.approx(900 - 50 * 0.5)


def test_readings_too_close_together_give_no_rate_yet():
    readings = [Reading(at=T0 + timedelta(minutes=10 * i), remaining=900 - i) for i in range(10)]
    assert predict(readings, capacity=1000).rate_per_day is None


def test_no_consumption_means_no_run_out():
    readings = [Reading(at=T0 + timedelta(hours=6 * i), remaining=700.0) for i in range(10)]
    prediction = predict(readings, capacity=1000)
    assert prediction.rate_per_day == 0 and prediction.run_out_at is None


def test_no_readings_no_prediction():
    assert predict([], capacity=1000) is None


@pytest.mark.parametrize(
    ("previous", "current", "refill"),
    [(100, 1000, True), (100, 251, True), (100, 250, False), (500, 480, False), (500, 560, False)],
)
def test_a_refill_is_a_rise_of_more_than_fifteen_percent_of_the_capacity(previous, current, refill):
    assert is_refill(previous=previous, current=current, capacity=1000) is refill


def test_reorder_at_the_threshold():
    assert reorder_reason(remaining=100, threshold=100, prediction=None, now=T0, lead_time=timedelta(days=3)) == "threshold"


def test_reorder_when_the_run_out_comes_within_the_lead_time():
    prediction = predict(_line(start=1000, per_day=100, days=5), capacity=1000)  # runs out on day 10
    at_day_5 = T0 + timedelta(days=5)
    assert reorder_reason(remaining=500, threshold=100, prediction=prediction, now=at_day_5, lead_time=timedelta(days=4)) is None
    assert reorder_reason(remaining=500, threshold=100, prediction=prediction, now=at_day_5, lead_time=timedelta(days=5)) == "predicted"


def test_an_unreliable_prediction_never_reorders_above_the_threshold():
    prediction = predict(_line(start=1000, per_day=100, days=0.25), capacity=1000)
    assert reorder_reason(remaining=975, threshold=100, prediction=prediction, now=T0, lead_time=timedelta(days=30)) is None


def test_the_answer_form_of_a_prediction():
    prediction = predict(_line(start=1000, per_day=50, days=4), capacity=1000)
    assert prediction.as_dict(T0 + timedelta(days=4)) == {
        "remaining": 800.0,
        "rate_per_day": 50.0,
        "run_out_at": "2026-01-25T08:00:00Z",
        "days_left": 16.0,
        "cycle_started_at": "2026-01-05T08:00:00Z",
        "readings": 17,
    }
