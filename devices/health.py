"""Device health: tell the customer when a device has gone silent or its battery is low.

Once per episode. An episode starts when the sweep notices the condition (and stamps the device
`silence_notified_at` / `battery_notified_at`) and ends when the device is heard from again,
its battery is replaced (above the low mark plus BATTERY_HYSTERESIS), or it is unlinked;
only then can the next episode notify again. How long a device may stay silent is a setting
per kind (DASH_SILENT_AFTER_HOURS); the battery's low mark is DASH_BATTERY_LOW_PERCENT.
"""

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from devices.models import Device
from orders.notices import notice_on_commit

log = logging.getLogger(__name__)

# A battery at the low mark that reads a point or two higher later has not been replaced.
BATTERY_HYSTERESIS = 10


@dataclass(frozen=True)
class HealthSweep:
    silent: int  # devices newly reported silent
    battery_low: int  # devices newly reported low on battery
    ended: int  # episodes that ended


def _name(device: Device) -> str:
    return device.name or f"{device.get_kind_display()} {device.serial}"


def devices_check_health(*, now: datetime | None = None, batch: int = 500) -> HealthSweep:
    """Beat: end finished episodes, then notify new ones. Safe to run twice or concurrently
    (rows are claimed with SKIP LOCKED and stamped in the same transaction)."""
    now = now or timezone.now()
    with transaction.atomic():
        ended = (
            Device.objects.filter(silence_notified_at__isnull=False)
            .filter(Q(customer__isnull=True) | Q(last_seen_at__gt=F("silence_notified_at")))
            .update(silence_notified_at=None)
        )
        ended += (
            Device.objects.filter(battery_notified_at__isnull=False)
            .filter(
                Q(customer__isnull=True)
                | Q(battery_percent__isnull=True)
                | Q(battery_percent__gt=settings.DASH_BATTERY_LOW_PERCENT + BATTERY_HYSTERESIS)
            )
            .update(battery_notified_at=None)
        )
    silent = sum(_notify_silent(kind=kind, hours=hours, now=now, batch=batch) for kind, hours in settings.DASH_SILENT_AFTER_HOURS.items())
    battery_low = _notify_battery_low(now=now, batch=batch)
    if silent or battery_low or ended:
        log.info("device_health silent=%s battery_low=%s ended=%s", silent, battery_low, ended)
    return HealthSweep(silent=silent, battery_low=battery_low, ended=ended)


def _claim(candidates, *, batch: int) -> list[Device]:
    return list(
        candidates.select_for_update(skip_locked=True).only(
            "id", "serial", "kind", "name", "customer_id", "last_seen_at", "claimed_at", "battery_percent"
        )[:batch]
    )


def _notify_silent(*, kind: str, hours: float, now: datetime, batch: int) -> int:
    cutoff = now - timedelta(hours=hours)
    candidates = (
        Device.objects.filter(kind=kind, customer__isnull=False, paused=False, silence_notified_at__isnull=True)
        .filter(Q(last_seen_at__lt=cutoff) | Q(last_seen_at__isnull=True, claimed_at__lt=cutoff))
        .order_by("pk")
    )
    total = 0
    while True:
        with transaction.atomic():
            devices = _claim(candidates, batch=batch)
            for device in devices:
                since = device.last_seen_at or device.claimed_at
                notice_on_commit(
                    customer_id=device.customer_id,
                    kind="device_silent",
                    subject=f"{_name(device)} has gone quiet",
                    lines=[
                        f"We have not heard from {_name(device)} since {since:%Y-%m-%d %H:%M} UTC (it usually checks in every {hours:g} hours or less).",
                        "Check that it has power and Wi-Fi. Orders it would have placed may be missing.",
                    ],
                    link="/devices/",
                    link_label="Your devices",
                )
                log.info("device_silent device=%s customer=%s since=%s", device.serial, device.customer_id, since.isoformat())
            Device.objects.filter(pk__in=[d.pk for d in devices]).update(silence_notified_at=now)
        total += len(devices)
        if len(devices) < batch:
            return total


def _notify_battery_low(*, now: datetime, batch: int) -> int:
    candidates = Device.objects.filter(
        customer__isnull=False, battery_notified_at__isnull=True, battery_percent__lte=settings.DASH_BATTERY_LOW_PERCENT
    ).order_by("pk")
    total = 0
    while True:
        with transaction.atomic():
            devices = _claim(candidates, batch=batch)
            for device in devices:
                notice_on_commit(
                    customer_id=device.customer_id,
                    kind="battery_low",
                    subject=f"{_name(device)}: battery low",
                    lines=[f"{_name(device)} reports {device.battery_percent}% battery. Replace or charge it soon so it keeps ordering."],
                    link="/devices/",
                    link_label="Your devices",
                )
                log.info("device_battery_low device=%s customer=%s battery=%s", device.serial, device.customer_id, device.battery_percent)
            Device.objects.filter(pk__in=[d.pk for d in devices]).update(battery_notified_at=now)
        total += len(devices)
        if len(devices) < batch:
            return total
