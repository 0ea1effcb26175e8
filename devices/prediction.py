"""When will a supply run out? Pure functions over an appliance slot's readings.

A slot is consumed in *cycles*: from a refill (a reading that jumps up by more than
REFILL_FRACTION of the capacity) down towards empty. Within the current cycle the level is
fitted with a Theil-Sen line (the median of the slopes between every pair of readings):
a few wild readings move a median, not a least-squares fit, and missing readings only make
the fit rest on fewer points. Consumption is the line's slope; the run-out time is where the
line reaches zero.

Nothing here touches the database or the clock: callers pass the readings and `now`.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from statistics import median

# A rise larger than this share of the capacity is a refill; sensor noise stays well below it.
REFILL_FRACTION = 0.15
# A fit needs this many readings of the current cycle, spanning at least MIN_SPAN.
MIN_READINGS = 4
MIN_SPAN = timedelta(hours=12)
# The fit uses at most the last MAX_POINTS readings of the cycle (pairs grow as n²).
MAX_POINTS = 160
_DAY = 86400.0


@dataclass(frozen=True)
class Reading:
    at: datetime
    remaining: float


@dataclass(frozen=True)
class Prediction:
    cycle_started_at: datetime
    readings: int  # readings of the current cycle
    remaining: float  # the last reading
    rate_per_day: float | None  # None: not enough readings yet
    run_out_at: datetime | None  # None: not enough readings, or no consumption

    @property
    def reliable(self) -> bool:
        return self.rate_per_day is not None

    def days_left(self, now: datetime) -> float | None:
        if self.run_out_at is None:
            return None
        return max(0.0, (self.run_out_at - now).total_seconds() / _DAY)

    def as_dict(self, now: datetime) -> dict:
        """The `prediction` of a slot_status answer and of the customer's slot API."""
        days_left = self.days_left(now)
        return {
            "remaining": round(self.remaining, 3),
            "rate_per_day": None if self.rate_per_day is None else round(self.rate_per_day, 3),
            "run_out_at": _iso(self.run_out_at),
            "days_left": None if days_left is None else round(days_left, 2),
            "cycle_started_at": _iso(self.cycle_started_at),
            "readings": self.readings,
        }


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def is_refill(*, previous: float, current: float, capacity: float) -> bool:
    """A reading that jumps up by more than REFILL_FRACTION of the capacity starts a new cycle."""
    return current - previous > REFILL_FRACTION * capacity


def current_cycle(readings: Sequence[Reading], *, capacity: float) -> list[Reading]:
    """The readings since the last refill, oldest first."""
    ordered = sorted(readings, key=lambda r: r.at)
    start = 0
    for i in range(1, len(ordered)):
        if is_refill(previous=ordered[i - 1].remaining, current=ordered[i].remaining, capacity=capacity):
            start = i
    return ordered[start:]


def theil_sen(xs: Sequence[float], ys: Sequence[float]) -> tuple[float, float]:
    """(slope, intercept): the median pairwise slope, and the median of y - slope * x.

    Needs at least two distinct x values."""
    slopes = [(ys[j] - ys[i]) / (xs[j] - xs[i]) for i in range(len(xs)) for j in range(i + 1, len(xs)) if xs[j] != xs[i]]
    if not slopes:
        raise ValueError("theil_sen needs at least two distinct x values")
    slope = median(slopes)
    intercept = median(y - slope * x for x, y in zip(xs, ys, strict=True))
    return slope, intercept


def predict(readings: Sequence[Reading], *, capacity: float) -> Prediction | None:
    """The current cycle's consumption rate and run-out time; None without readings."""
    cycle = current_cycle(readings, capacity=capacity)
    if not cycle:
        return None
    start, last = cycle[0].at, cycle[-1]
    points = cycle[-MAX_POINTS:]
    if len(points) < MIN_READINGS or points[-1].at - points[0].at < MIN_SPAN:
        return Prediction(cycle_started_at=start, readings=len(cycle), remaining=last.remaining, rate_per_day=None, run_out_at=None)
    xs = [(r.at - start).total_seconds() / _DAY for r in points]
    slope, intercept = theil_sen(xs, [r.remaining for r in points])
    if slope >= 0:  # nothing is being used
        return Prediction(cycle_started_at=start, readings=len(cycle), remaining=last.remaining, rate_per_day=0.0, run_out_at=None)
    run_out = start + timedelta(days=-intercept / slope)
    return Prediction(cycle_started_at=start, readings=len(cycle), remaining=last.remaining, rate_per_day=-slope, run_out_at=run_out)


def reorder_reason(*, remaining: float, threshold: float, prediction: Prediction | None, now: datetime, lead_time: timedelta) -> str | None:
    """Why this slot should be reordered now, or None.

    "threshold": the level is at or below the customer's threshold. "predicted": the predicted
    run-out comes before an order placed now would arrive (`lead_time`: delivery plus margin)."""
    if remaining <= threshold:
        return "threshold"
    if prediction is not None and prediction.run_out_at is not None and prediction.run_out_at <= now + lead_time:
        return "predicted"
    return None
