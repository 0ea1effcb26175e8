"""After a benchmark run: wait for held orders to be released, then read the figures that
only the database knows (orders created, their states, release lateness) as JSON.

Run with DATABASE_URL set: python -m bench.db_figures --max-wait 35 --out figures.json
"""

import argparse
import os
import sys
import time
from pathlib import Path

import orjson


def wait_for_releases(*, max_wait: float) -> float:
    """Wait until no order is held any more (all holds ended and were released)."""
    from orders.models import Order, OrderStatus

    started = time.monotonic()
    while Order.objects.filter(status=OrderStatus.HELD).exists() and time.monotonic() - started < max_wait:
        time.sleep(0.5)
    return time.monotonic() - started


def figures() -> dict:
    from django.db.models import Count
    from django.utils import timezone

    from devices.models import DeviceEvent
    from orders.models import IN_PROGRESS, Order, OrderEvent, OrderStatus

    now = timezone.now()
    by_status = dict(Order.objects.values_list("status").annotate(n=Count("id")).values_list("status", "n"))
    releases = list(OrderEvent.objects.filter(to_status=OrderStatus.RELEASING, actor="system").values_list("at", "order__hold_until"))
    lateness = sorted((at - hold_until).total_seconds() for at, hold_until in releases if hold_until is not None)
    two_in_progress = (
        Order.objects.filter(status__in=IN_PROGRESS).values("customer_id", "product_id").annotate(n=Count("id")).filter(n__gt=1).count()
    )
    return {
        "orders_created": sum(by_status.values()),
        "orders_by_status": by_status,
        "order_ids": [str(u) for u in Order.objects.values_list("public_id", flat=True)],
        "held_overdue": Order.objects.filter(status=OrderStatus.HELD, hold_until__lt=now).count(),
        "customer_products_with_two_in_progress": two_in_progress,
        "release_lateness_s": lateness,
        "releases_by_customer": OrderEvent.objects.filter(to_status=OrderStatus.RELEASING, actor="customer").count(),
        "device_events_recorded": DeviceEvent.objects.count(),
    }


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.db_figures")
    parser.add_argument(
        "--max-wait",
        type=float,
        default=35.0,
        help="seconds to wait for held orders to be released",
    )
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "dash.settings")
    import django

    django.setup()
    waited = wait_for_releases(max_wait=args.max_wait)
    result = figures()
    result["settle_wait_s"] = round(waited, 2)
    args.out.write_bytes(orjson.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
