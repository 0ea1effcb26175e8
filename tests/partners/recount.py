"""A brute-force recount of the partner rollups from the raw event log and order timeline,
written independently of partners.analytics.rollup: plain Python over ORM rows."""

import itertools
from collections import defaultdict
from datetime import timedelta
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db import connection

from devices.models import DeviceEvent
from orders.models import OrderEvent
from partners.analytics.rollup import BITS_CHUNK, DEVICES_DIM, SAMPLE, shards
from partners.models import CustomerTimeZone, Product

BITS = {"presses": 1, "placed": 2, "filtered": 4, "paused": 8, "cancelled": 16, "delivered": 32, "failed": 64}
BOUNDS = [1, 3, 7, 14, 30, 60]  # days


def _local(at, customer_id, zones):
    local = at.astimezone(zones.get(customer_id, ZoneInfo(settings.DASH_DEFAULT_TIME_ZONE)))
    return local.date(), local.hour


def clear_bit_sets() -> None:
    """Empty the bit-set tables, which are not models' tables: the flush after an earlier
    transactional test (pytest-django runs those last) leaves their rows for the next one."""
    with connection.cursor() as cursor:
        cursor.execute("TRUNCATE partners_productbits, partners_partnerbits")


def attributed(e: DeviceEvent, by_gtin: dict) -> tuple[int | None, int | None]:
    """(customer, product) of an event, worked out from its order, its device and the catalog --
    as the analytics feed did before the intake recorded them on the event. `e` comes with its
    device and order selected; by_gtin maps each catalog GTIN to its product."""
    customer = e.order.customer_id if e.order else e.device.customer_id
    if e.outcome == "unknown_product":
        return customer, None
    named_by_device = e.device.product_id if e.device.kind == "button" else None
    return customer, e.order.product_id if e.order else by_gtin.get(e.payload.get("gtin")) or named_by_device


def recount(*, raw: bool = False) -> dict:
    """The rollup tables as they should be. raw: also the per-customer tables PostgreSQL does
    without (members: {(product, day, customer, source): (flags, hour bits)})."""
    zones = {z.user_id: ZoneInfo(z.time_zone) for z in CustomerTimeZone.objects.all()}
    by_gtin = dict(Product.objects.values_list("gtin", "pk"))
    facts = []  # (at, id_key, customer, product, device, source, metric, unmet_kind, gtin)
    for e in DeviceEvent.objects.select_related("device", "order").order_by("pk"):
        if e.outcome in ("device_unclaimed", "recorded"):
            continue
        customer, product = attributed(e, by_gtin)
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
    days = defaultdict(lambda: defaultdict(int))
    for (product, day, hour, source), counts in hours.items():
        cell = days[(product, day, source)]
        for metric, n in counts.items():
            cell[metric] += n
        cell[f"h{hour:02d}"] += counts.get("presses", 0)
    people = customer_sets(members)
    reorder_cells = defaultdict(lambda: [0, 0, set()])
    for (product, day, customer, bucket), (n, seconds) in reorders.items():
        cell = reorder_cells[(product, day, bucket)]
        cell[0] += n
        cell[1] += seconds
        cell[2].add(customer)
    result = {
        "days": {k: {c: v.get(c, 0) for c in DAY_COLUMNS} for k, v in days.items()},
        "people": {k: {key: min(len(v.get(key, ())), SAMPLE) for key in PEOPLE_KEYS} for k, v in people.items()},
        "samples": {(*cell, key): SampleOf(ids) for cell, sets in people.items() for key, ids in sets.items() if ids},
        "members": {k: tuple(v) for k, v in members.items()},
        "devices": {k: min(v) for k, v in devices.items()},
        "reorders": {k: tuple(v) for k, v in reorders.items()},
        "reorder_cells": {k: (n, seconds, min(len(ids), SAMPLE), SampleOf(ids)) for k, (n, seconds, ids) in reorder_cells.items()},
        "unmet": dict(unmet),
    }
    if raw:
        return result
    if connection.vendor == "postgresql":
        # Active devices and distinct customers are kept in the bit sets only, and the cells'
        # samples are merged batch by batch: no membership rows on PostgreSQL.
        for key in ("devices", "members", "reorders"):
            del result[key]
        bits = defaultdict(set)
        for product, day, customer, source in members:
            for dim in ("", source):
                bits[(product, dim, "d", day)].add(customer)
                bits[(product, dim, "w", day - timedelta(days=day.weekday()))].add(customer)
                bits[(product, dim, "m", day.replace(day=1))].add(customer)
        for product, day, device in devices:
            bits[(product, DEVICES_DIM, "d", day)].add(device)
            bits[(product, DEVICES_DIM, "w", day - timedelta(days=day.weekday()))].add(device)
            bits[(product, DEVICES_DIM, "m", day.replace(day=1))].add(device)
        result["bits"] = dict(bits)
        result["partner_bits"] = _partner_bits(bits)
        result.update(_months(result, people, reorders))
    return result


def _partner_bits(bits: dict) -> dict:
    """The product bit sets united per partner and rollup shard (product id modulo shards)."""
    partner_of, count = dict(Product.objects.values_list("pk", "partner_id")), shards()
    united = defaultdict(set)
    for (product, dim, span, day), ids in bits.items():
        united[(partner_of[product], product % count, dim, span, day)] |= ids
    return dict(united)


def _stored_bits(sql: str) -> dict:
    """{key: ids} from bit-set rows selected as (*key, chunk, bits::text), the chunks united."""
    stored = defaultdict(set)
    with connection.cursor() as cursor:
        cursor.execute(sql)
        for *key, chunk, text in cursor.fetchall():
            ids = {chunk * BITS_CHUNK + i for i, bit in enumerate(text) if bit == "1"}
            if ids:
                stored[tuple(key)] |= ids
    return dict(stored)


def _month_key(product, day, *rest):
    return (product, day.replace(day=1), *rest)


def _months(result: dict, people: dict, reorders: dict) -> dict:
    """The month cells (PostgreSQL): a month's day cells of one weekday, summed, with the
    customers of the whole month cell (a customer of two of its days counts once)."""
    months = defaultdict(lambda: dict.fromkeys(DAY_COLUMNS, 0))
    for (product, day, source), columns in result["days"].items():
        cell = months[_month_key(product, day, day.isoweekday(), source)]
        for column, n in columns.items():
            cell[column] += n
    month_people = defaultdict(lambda: defaultdict(set))
    for (product, day, source), sets in people.items():
        for key, ids in sets.items():
            month_people[_month_key(product, day, day.isoweekday(), source)][key] |= ids
    reorder_months = defaultdict(lambda: [0, 0, set()])
    for (product, day, customer, bucket), (n, seconds) in reorders.items():
        cell = reorder_months[_month_key(product, day, bucket)]
        cell[0] += n
        cell[1] += seconds
        cell[2].add(customer)
    return {
        "months": dict(months),
        "month_people": {k: {key: min(len(v.get(key, ())), SAMPLE) for key in PEOPLE_KEYS} for k, v in month_people.items()},
        "month_samples": {(*cell, key): SampleOf(ids) for cell, sets in month_people.items() for key, ids in sets.items() if ids},
        "reorder_months": {k: (n, seconds, min(len(ids), SAMPLE), SampleOf(ids)) for k, (n, seconds, ids) in reorder_months.items()},
    }


def customer_sets(members: dict) -> dict:
    """{(product, day, source): {metric or "phHH": the cell's customers}} from membership rows
    {(product, day, customer, source): (flags, hour bits)}."""
    people = defaultdict(lambda: defaultdict(set))
    for (product, day, customer, source), (flags, hour_bits) in members.items():
        cell = people[(product, day, source)]
        for metric, bit in BITS.items():
            if flags & bit:
                cell[metric].add(customer)
        for h in range(24):
            if hour_bits >> h & 1:
                cell[f"ph{h:02d}"].add(customer)
    return people


DAY_COLUMNS = (*BITS, *(f"h{h:02d}" for h in range(24)))
PEOPLE_KEYS = (*BITS, *(f"ph{h:02d}" for h in range(24)))


class SampleOf:
    """Equal to a cell's sample (a list of ids) when it is distinct customers of the cell, all of
    them when they fit in SAMPLE, else SAMPLE of them -- which ones is the rollup's choice."""

    def __init__(self, members: set):
        self.members = set(members)

    def __eq__(self, sample) -> bool:
        return (
            isinstance(sample, list)
            and len(sample) == len(set(sample)) == min(len(self.members), SAMPLE)
            and set(sample) <= self.members
        )

    def __repr__(self) -> str:
        return f"SampleOf({sorted(self.members)})"


def _ids(sample: str) -> list[int]:
    return [int(i) for i in sample.split(",") if i]


def rolled_up() -> dict:
    from partners.models import ProductDayCustomer, ProductDayDevice, ProductDayStat, ProductReorder, ProductReorderCell, UnmetDemand

    samples = {}
    for r in ProductDayStat.objects.all():
        cell = (r.product_id, r.day, r.source)
        for key in PEOPLE_KEYS:
            sample = getattr(r, f"s_{key}" if key in BITS else f"s{key[1:]}")
            if sample:
                samples[(*cell, key)] = _ids(sample)
    result = {
        "days": {(r.product_id, r.day, r.source): {c: getattr(r, c) for c in DAY_COLUMNS} for r in ProductDayStat.objects.all()},
        "people": {
            (r.product_id, r.day, r.source): {k: getattr(r, f"people_{k}" if k in BITS else k) for k in PEOPLE_KEYS}
            for r in ProductDayStat.objects.all()
        },
        "samples": samples,
        "reorder_cells": {
            (r.product_id, r.day, r.bucket): (r.reorders, r.seconds, r.people, _ids(r.s_people)) for r in ProductReorderCell.objects.all()
        },
        "members": {(r.product_id, r.day, r.customer_id, r.source): (r.flags, r.hours) for r in ProductDayCustomer.objects.all()},
        "devices": {(r.product_id, r.day, r.device_id): r.customer_id for r in ProductDayDevice.objects.all()},
        "reorders": {(r.product_id, r.day, r.customer_id, r.bucket): (r.reorders, r.seconds) for r in ProductReorder.objects.all()},
        "unmet": {(r.day, r.kind, r.gtin, r.customer_id): r.requests for r in UnmetDemand.objects.all()},
    }
    if connection.vendor == "postgresql":
        for key in ("devices", "members", "reorders"):
            assert not result.pop(key), f"PostgreSQL keeps no {key} rows"
        result["bits"] = _stored_bits("SELECT product_id, dim, span, day, chunk, bits::text FROM partners_productbits")
        result["partner_bits"] = _stored_bits("SELECT partner_id, shard, dim, span, day, chunk, bits::text FROM partners_partnerbits")
        result.update(_rolled_up_months())
    return result


def _rolled_up_months() -> dict:
    from partners.models import ProductMonthStat, ProductReorderMonthCell

    months, people, samples = {}, {}, {}
    for r in ProductMonthStat.objects.all():
        cell = (r.product_id, r.month, r.weekday, r.source)
        months[cell] = {c: getattr(r, c) for c in DAY_COLUMNS}
        people[cell] = {k: getattr(r, f"people_{k}" if k in BITS else k) for k in PEOPLE_KEYS}
        for key in PEOPLE_KEYS:
            sample = getattr(r, f"s_{key}" if key in BITS else f"s{key[1:]}")
            if sample:
                samples[(*cell, key)] = _ids(sample)
    return {
        "months": months,
        "month_people": people,
        "month_samples": samples,
        "reorder_months": {
            (r.product_id, r.month, r.bucket): (r.reorders, r.seconds, r.people, _ids(r.s_people))
            for r in ProductReorderMonthCell.objects.all()
        },
    }
