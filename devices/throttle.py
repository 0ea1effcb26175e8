"""The per-device throttle: a burst of presses is answered, a stuck device is not.

A sliding window over the event log itself: a device may have at most DASH_DEVICE_BURST
events recorded in any window of BURST / RATE minutes (40 in 40 s by default: a toddler's
burst passes, a device stuck in a loop settles at one event a second). The intake's one
context query counts the device's recent events (index on device, received_at), so the
throttle costs no extra round trip and no store besides PostgreSQL: it measured about
0.2 ms of CPU per event as a Redis token bucket (`make bench`). Refused events are not
recorded, so they don't count; requests that are in flight at the same moment can each see
the last free slot, so concurrency can add at most one event per concurrent request.
"""

import math
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings


@dataclass(frozen=True)
class ThrottleWindow:
    since: datetime
    limit: int  # 0: the throttle is off
    seconds: float


def throttle_window(*, now: datetime) -> ThrottleWindow:
    burst = settings.DASH_DEVICE_BURST
    per_minute = settings.DASH_DEVICE_RATE_PER_MINUTE
    if burst <= 0 or per_minute <= 0:
        return ThrottleWindow(since=now, limit=0, seconds=0.0)
    seconds = burst * 60.0 / per_minute
    return ThrottleWindow(since=now - timedelta(seconds=seconds), limit=burst, seconds=seconds)


def throttle_retry_after(*, window: ThrottleWindow, recent: int, oldest: datetime | None, now: datetime) -> int | None:
    """None when the event may pass; else the seconds until a slot frees up.

    `recent` counts the device's events since `window.since` (at most `window.limit` of the
    latest), `oldest` is the earliest of those: a slot frees when it leaves the window."""
    if window.limit == 0 or recent < window.limit:
        return None
    frees_at = (oldest or now) + timedelta(seconds=window.seconds)
    return max(1, math.ceil((frees_at - now).total_seconds()))
