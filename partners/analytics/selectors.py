"""Reads for the partner portal and API: every figure comes with the number of distinct
customers it describes, and is suppressed (None) below DASH_PRIVACY_MIN_CUSTOMERS.

The queries read only the rollup tables, filtered by the scope's product ids and a date range,
so they cost the same at ten million events as at ten. Weekday numbers are ISO (1 = Monday).
"""

from dataclasses import dataclass
from datetime import date, timedelta

from django.conf import settings
from django.db import connection

from partners.analytics.feeds import METRIC_BITS, METRICS, SOURCES
from partners.analytics.rollup import REORDER_LABELS
from partners.models import Partner, Product, RollupWatermark

WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
# What a partner sees of unknown barcodes: those sharing a GS1 company prefix with its products.
COMPANY_PREFIX_DIGITS = 7


def rollup_watermark(*, feed: str) -> int:
    """The highest source id the rollups have consumed for a feed (0 before the first run)."""
    return RollupWatermark.objects.filter(feed=feed).values_list("last_id", flat=True).first() or 0


def privacy_threshold() -> int:
    return settings.DASH_PRIVACY_MIN_CUSTOMERS


def shown(value: int | None, customers: int) -> int | None:
    """The figure, or None when it describes fewer than the threshold of distinct customers
    (a figure describing nobody -- a true zero -- is shown)."""
    if customers == 0 and not value:
        return value
    return value if customers >= privacy_threshold() else None


@dataclass(frozen=True)
class Scope:
    """What one portal request may read: a partner's products (or one of them) and a date range."""

    partner: Partner | None  # None: every partner (staff only)
    product_ids: tuple[int, ...]
    start: date
    end: date  # inclusive

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1


def scope_products(*, partner: Partner | None):
    products = Product.objects.all() if partner is None else Product.objects.filter(partner=partner)
    return products.order_by("name")


def _where(scope: Scope, alias: str = "") -> tuple[str, list]:
    prefix = f"{alias}." if alias else ""
    if not scope.product_ids:
        return "1 = 0", []
    marks = ", ".join(["%s"] * len(scope.product_ids))
    return (
        f"{prefix}product_id IN ({marks}) AND {prefix}day BETWEEN %s AND %s",
        [*scope.product_ids, scope.start, scope.end],
    )


def _rows(sql: str, params: list) -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


def _day(value) -> date:
    return value if isinstance(value, date) else date.fromisoformat(str(value))


_METRIC_SUMS = ", ".join(f"COALESCE(sum({m}), 0)" for m in METRICS)


def _or_flags(column: str = "flags") -> str:
    """OR of a bit-set column over a group (PostgreSQL has bit_or; SQLite gets it bit by bit)."""
    if connection.vendor == "postgresql":
        return f"bit_or({column})"
    return " + ".join(f"max({column} & {bit})" for bit in METRIC_BITS.values())


# Counted over one row per (group, customer), so no DISTINCT sorts are needed.
_PER_METRIC = ", ".join(f"sum(CASE WHEN (f & {METRIC_BITS[m]}) <> 0 THEN 1 ELSE 0 END)" for m in METRICS)


def _people(scope: Scope, group: str | None) -> list[tuple]:
    """Per group (a column of the membership table, or None for one row): distinct customers,
    then distinct customers per metric."""
    where, params = _where(scope)
    if group is None:
        return _rows(
            f"SELECT count(*), {_PER_METRIC} FROM (SELECT customer_id, {_or_flags()} AS f"
            f" FROM partners_productdaycustomer WHERE {where} GROUP BY customer_id) c",
            params,
        )
    return _rows(
        f"SELECT g, count(*), {_PER_METRIC} FROM (SELECT {group} AS g, customer_id, {_or_flags()} AS f"
        f" FROM partners_productdaycustomer WHERE {where} GROUP BY {group}, customer_id) c GROUP BY g",
        params,
    )


def totals(*, scope: Scope) -> dict:
    """Each metric over the range, distinct customers, active devices."""
    where, params = _where(scope)
    sums = _rows(f"SELECT {_METRIC_SUMS} FROM partners_producthourstat WHERE {where}", params)[0]
    customers, *per_metric = _people(scope, None)[0]
    devices, device_owners = _rows(
        f"SELECT count(*), count(DISTINCT customer_id) FROM (SELECT device_id, min(customer_id) AS customer_id"
        f" FROM partners_productdaydevice WHERE {where} GROUP BY device_id) d",
        params,
    )[0]
    figures = {m: shown(int(sums[i]), per_metric[i] or 0) for i, m in enumerate(METRICS)}
    figures["customers"] = shown(customers, customers)
    figures["active_devices"] = shown(devices, device_owners)
    return figures


def daily(*, scope: Scope) -> list[dict]:
    """One row per day of the range (days without activity included, as zeros)."""
    where, params = _where(scope)
    sums = {
        _day(row[0]): row[1:]
        for row in _rows(f"SELECT day, {_METRIC_SUMS} FROM partners_producthourstat WHERE {where} GROUP BY day", params)
    }
    people = {_day(row[0]): row[2:] for row in _people(scope, "day")}
    rows = []
    for offset in range(scope.days):
        day = scope.start + timedelta(days=offset)
        values = sums.get(day, (0,) * len(METRICS))
        customers = people.get(day, (0,) * len(METRICS))
        row = {"day": day}
        for i, metric in enumerate(METRICS):
            # A day nobody touched is a true zero that describes no one.
            row[metric] = 0 if not values[i] else shown(int(values[i]), customers[i])
        rows.append(row)
    return rows


def _weekday_sql(column: str) -> str:
    if connection.vendor == "postgresql":
        return f"extract(isodow FROM {column})::int"
    return f"((CAST(strftime('%%w', {column}) AS integer) + 6) %% 7 + 1)"


def _or_hours() -> str:
    if connection.vendor == "postgresql":
        return "bit_or(hours)"
    return " + ".join(f"max(hours & {1 << h})" for h in range(24))


def heatmap(*, scope: Scope) -> list[dict]:
    """Presses by weekday x hour (the customer's local time): 7 rows of 24 cells."""
    where, params = _where(scope)
    weekday = _weekday_sql("day")
    presses = {
        (wd, hour): n
        for wd, hour, n in _rows(f"SELECT {weekday}, hour, sum(presses) FROM partners_producthourstat WHERE {where} GROUP BY 1, 2", params)
    }
    # One row per (weekday, customer) with the hours pressed, then each hour's bit summed over
    # them in the same pass (no 24-fold join).
    bits = ", ".join(f"sum((hours >> {h}) & 1)" for h in range(24))
    people = {}
    for wd, *counts in _rows(
        f"SELECT wd, {bits} FROM (SELECT {weekday} AS wd, customer_id, {_or_hours()} AS hours"
        f" FROM partners_productdaycustomer WHERE {where} AND hours <> 0 GROUP BY 1, customer_id) c GROUP BY wd",
        params,
    ):
        for hour, n in enumerate(counts):
            people[(int(wd), hour)] = int(n or 0)
    rows = []
    for wd in range(1, 8):
        cells = []
        for hour in range(24):
            n = int(presses.get((wd, hour)) or 0)
            cells.append(0 if not n else shown(n, people.get((wd, hour), 0)))
        rows.append({"weekday": wd, "name": WEEKDAYS[wd - 1], "hours": cells})
    return rows


def by_source(*, scope: Scope) -> list[dict]:
    where, params = _where(scope)
    sums = {
        row[0]: row[1:]
        for row in _rows(f"SELECT source, {_METRIC_SUMS} FROM partners_producthourstat WHERE {where} GROUP BY source", params)
    }
    people = {row[0]: row[1:] for row in _people(scope, "source")}
    rows = []
    for source in [s for s in SOURCES if s in sums] + sorted(set(sums) - set(SOURCES)):
        customers, *per_metric = people.get(source, (0,) * (len(METRICS) + 1))
        row = {"source": source, "customers": shown(customers, customers)}
        for i, metric in enumerate(METRICS):
            value = int(sums[source][i])
            row[metric] = 0 if not value else shown(value, per_metric[i])
        rows.append(row)
    return rows


def by_product(*, scope: Scope) -> list[dict]:
    """The scope's products with their figures over the range (products with no activity too)."""
    where, params = _where(scope)
    sums = {
        row[0]: row[1:]
        for row in _rows(f"SELECT product_id, {_METRIC_SUMS} FROM partners_producthourstat WHERE {where} GROUP BY product_id", params)
    }
    people = {row[0]: row[1:] for row in _people(scope, "product_id")}
    products = Product.objects.filter(pk__in=scope.product_ids).order_by("name").values("pk", "sku", "name", "gtin")
    rows = []
    for product in products:
        values = sums.get(product["pk"], (0,) * len(METRICS))
        customers, *per_metric = people.get(product["pk"], (0,) * (len(METRICS) + 1))
        row = {"sku": product["sku"], "name": product["name"], "gtin": product["gtin"], "customers": shown(customers, customers)}
        for i, metric in enumerate(METRICS):
            row[metric] = 0 if not values[i] else shown(int(values[i]), per_metric[i])
        rows.append(row)
    rows.sort(key=lambda r: (-(r["presses"] or 0), r["name"]))
    return rows


def reorders(*, scope: Scope) -> dict:
    """Time between a customer's consecutive orders of the same product: a histogram and the mean."""
    where, params = _where(scope)
    found = {
        bucket: (n, people)
        for bucket, n, people in _rows(
            f"SELECT bucket, sum(reorders), count(DISTINCT customer_id) FROM partners_productreorder WHERE {where} GROUP BY bucket",
            params,
        )
    }
    n, seconds, people = _rows(
        f"SELECT COALESCE(sum(reorders), 0), COALESCE(sum(seconds), 0), count(DISTINCT customer_id)"
        f" FROM partners_productreorder WHERE {where}",
        params,
    )[0]
    buckets = []
    for i, label in enumerate(REORDER_LABELS):
        count, customers = found.get(i, (0, 0))
        buckets.append({"bucket": label, "reorders": 0 if not count else shown(int(count), customers)})
    mean_days = round(int(seconds) / int(n) / 86400, 1) if n else None
    return {
        "reorders": shown(int(n), people) if n else 0,
        "mean_days": shown(mean_days, people) if n else None,
        "buckets": buckets,
    }


def unmet_demand(*, partner: Partner | None, start: date, end: date, limit: int = 50) -> list[dict]:
    """Requests that named nothing in the catalog. A partner sees unknown barcodes that share a
    company prefix with its own products; staff also see spoken orders not understood and buttons
    bound to nothing. Rows describing fewer than the threshold of customers are left out."""
    params: list = [start, end]
    where = "day BETWEEN %s AND %s"
    if partner is not None:
        prefixes = sorted(
            {
                gtin[:COMPANY_PREFIX_DIGITS]
                for gtin in Product.objects.filter(partner=partner).values_list("gtin", flat=True)
                if len(gtin) == 13
            }
        )
        if not prefixes:
            return []
        where += " AND kind = 'scan' AND (" + " OR ".join(["substr(gtin, 1, %s) = %s"] * len(prefixes)) + ")"
        for prefix in prefixes:
            params += [COMPANY_PREFIX_DIGITS, prefix]
    rows = _rows(
        f"SELECT kind, gtin, sum(requests), count(DISTINCT customer_id) FROM partners_unmetdemand WHERE {where}"
        f" GROUP BY kind, gtin HAVING count(DISTINCT customer_id) >= %s ORDER BY 3 DESC, 2 LIMIT %s",
        [*params, privacy_threshold(), limit],
    )
    return [{"kind": kind, "gtin": gtin, "requests": int(n), "customers": people} for kind, gtin, n, people in rows]
