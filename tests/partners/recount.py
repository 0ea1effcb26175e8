"""A brute-force recount of the partner rollups from the raw event log and order timeline,
written independently of partners.analytics.rollup: plain Python over ORM rows."""

import itertools
from collections import defaultdict
from zoneinfo import ZoneInfo

from django.conf import settings

from devices.models import DeviceEvent
from orders.models import OrderEvent
from partners.models import CustomerTimeZone, Product

BITS = {"presses": 1, "placed": 2, "filtered": 4, "paused": 8, "cancelled": 16, "delivered": 32, "failed": 64}
BOUNDS = [1, 3, 7, 14, 30, 60]  # days


def _local(at, customer_id, zones):
    local = at.astimezone(zones.get(customer_id, ZoneInfo(settings.DASH_DEFAULT_TIME_ZONE)))
    return local.date(), local.hour


def recount() -> dict:
    zones = {z.user_id: ZoneInfo(z.time_zone) for z in CustomerTimeZone.objects.all()}
    by_gtin = dict(Product.objects.values_list("gtin", "pk"))
    facts = []  # (at, id_key, customer, product, device, source, metric, unmet_kind, gtin)
    for e in DeviceEvent.objects.select_related("device", "order").order_by("pk"):
        if e.outcome in ("device_unclaimed", "recorded"):
            continue
        customer = e.order.customer_id if e.order else e.device.customer_id
        if customer is None:
            continue
        kind = e.device.kind
        source = (
            "button"
            if kind == "button"
            else "appliance"
            if kind == "appliance" or e.type == "slot_status"
            else "voice"
            if e.type == "voice"
            else "scan"
        )
        if e.outcome == "unknown_product":
            facts.append((e.received_at, customer, None, e.device_id, source, None, source, e.payload.get("gtin", ""), None))
            continue
        product = (
            e.order.product_id if e.order else by_gtin.get(e.payload.get("gtin")) or (e.device.product_id if kind == "button" else None)
        )
        metrics = (
            ["presses"] + (["filtered"] if e.outcome == "order_in_progress" else []) + (["paused"] if e.outcome == "device_paused" else [])
        )
        facts.append((e.received_at, customer, product, e.device_id, source, metrics, "", "", None))
    for oe in OrderEvent.objects.select_related("order").order_by("pk"):
        o = oe.order
        metrics = []
        if oe.from_status == "":
            metrics.append("placed")
        if oe.to_status == "cancelled" and oe.from_status in ("held", "needs_confirmation"):
            metrics.append("cancelled")
        if oe.to_status in ("delivered", "failed"):
            metrics.append(oe.to_status)
        if metrics:
            facts.append((oe.at, o.customer_id, o.product_id, 0, o.source, metrics, "", "", oe.pk))

    hours = defaultdict(lambda: defaultdict(int))
    members = defaultdict(lambda: [0, 0])
    devices = {}
    unmet = defaultdict(int)
    placed = defaultdict(list)
    for at, customer, product, device, source, metrics, unmet_kind, gtin, oe_id in facts:
        day, hour = _local(at, customer, zones)
        if product is None:
            if unmet_kind:
                unmet[(day, unmet_kind, gtin, customer)] += 1
            continue
        member = members[(product, day, customer, source)]
        if device:
            devices.setdefault((product, day, device), set()).add(customer)
        for metric in metrics:
            hours[(product, day, hour, source)][metric] += 1
            member[0] |= BITS[metric]
        if "presses" in metrics:
            member[1] |= 1 << hour
        if "placed" in metrics:
            placed[(product, customer)].append((at, oe_id, day))
    reorders = defaultdict(lambda: [0, 0])
    for (product, customer), orders in placed.items():
        orders.sort()
        for (prev, _, _), (at, _, day) in itertools.pairwise(orders):
            gap = (at - prev).total_seconds()
            bucket = next((i for i, b in enumerate(BOUNDS) if gap < b * 86400), len(BOUNDS))
            reorders[(product, day, customer, bucket)][0] += 1
            reorders[(product, day, customer, bucket)][1] += int(gap)
    return {
        "hours": {k: {m: v.get(m, 0) for m in BITS} for k, v in hours.items()},
        "members": {k: tuple(v) for k, v in members.items()},
        "devices": {k: min(v) for k, v in devices.items()},
        "reorders": {k: tuple(v) for k, v in reorders.items()},
        "unmet": dict(unmet),
    }


def rolled_up() -> dict:
    from partners.models import ProductDayCustomer, ProductDayDevice, ProductHourStat, ProductReorder, UnmetDemand

    return {
        "hours": {(r.product_id, r.day, r.hour, r.source): {m: getattr(r, m) for m in BITS} for r in ProductHourStat.objects.all()},
        "members": {(r.product_id, r.day, r.customer_id, r.source): (r.flags, r.hours) for r in ProductDayCustomer.objects.all()},
        "devices": {(r.product_id, r.day, r.device_id): r.customer_id for r in ProductDayDevice.objects.all()},
        "reorders": {(r.product_id, r.day, r.customer_id, r.bucket): (r.reorders, r.seconds) for r in ProductReorder.objects.all()},
        "unmet": {(r.day, r.kind, r.gtin, r.customer_id): r.requests for r in UnmetDemand.objects.all()},
    }
