"""Reads for the partner portal and API: every figure comes with the number of distinct
customers it describes, and is suppressed (None) below DASH_PRIVACY_MIN_CUSTOMERS.

The queries read only the rollup tables, filtered by the scope's product ids (or, for a
partner's whole catalog, its partner bit sets) and a date range -- whole months from the month
cells, the edges from the day cells -- so they cost the same at ten million events as at ten.
Weekday numbers are ISO (1 = Monday).
"""

from collections import defaultdict
from dataclasses import dataclass
from datetime import date, timedelta

from django.conf import settings
from django.db import connection
from django.utils import timezone

from partners.analytics.feeds import METRIC_BITS, METRICS, SOURCES
from partners.analytics.rollup import DEVICES_DIM, REORDER_LABELS, consumed
from partners.models import Partner, Product

WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
# What a partner sees of unknown barcodes: those sharing a GS1 company prefix with its products.
COMPANY_PREFIX_DIGITS = 7


def rollup_watermark(*, feed: str) -> int:
    """The highest source id the rollups have consumed for a feed in every shard (0 before the
    first run of each)."""
    return consumed(feed)


def privacy_threshold() -> int:
    return settings.DASH_PRIVACY_MIN_CUSTOMERS


def shown(value: int | None, customers: int, threshold: int | None = None) -> int | None:
    """The figure, or None when it describes fewer than the threshold of distinct customers
    (a figure describing nobody -- a true zero -- is shown). Pass `threshold` in long loops: a
    year's daily table read the setting 25,000 times, about 4 of its 18 ms (cProfile, 10M copy)."""
    if customers == 0 and not value:
        return value
    return value if customers >= (threshold or privacy_threshold()) else None


@dataclass(frozen=True)
class Scope:
    """What one portal request may read: a partner's products (or one of them) and a date range."""

    partner: Partner | None  # None: every partner (staff only)
    product_ids: tuple[int, ...]
    start: date
    end: date  # inclusive
    whole_partner: bool = False  # product_ids are all of the partner's products

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1


def scope_products(*, partner: Partner | None):
    products = Product.objects.all() if partner is None else Product.objects.filter(partner=partner)
    return products.order_by("name")


def _where(scope: Scope) -> tuple[str, list]:
    if not scope.product_ids:
        return "1 = 0", []
    marks = ", ".join(["%s"] * len(scope.product_ids))
    return (
        f"product_id IN ({marks}) AND day BETWEEN %s AND %s",
        [*scope.product_ids, scope.start, scope.end],
    )


def _rows(sql: str, params: list) -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


def _day(value) -> date:
    return value if isinstance(value, date) else date.fromisoformat(str(value))


def _or_flags(column: str = "flags") -> str:
    """OR of a bit-set column over a group (PostgreSQL has bit_or; SQLite gets it bit by bit)."""
    if connection.vendor == "postgresql":
        return f"bit_or({column})"
    return " + ".join(f"max({column} & {bit})" for bit in METRIC_BITS.values())


# Counted over one row per (group, customer), so no DISTINCT sorts are needed.
_PER_METRIC = ", ".join(f"sum(CASE WHEN (f & {METRIC_BITS[m]}) <> 0 THEN 1 ELSE 0 END)" for m in METRICS)


def _people(scope: Scope, group: str | None) -> list[tuple]:
    """Per group (a column of the membership table, or None for one row): distinct customers,
    then distinct customers per metric -- a scan of the membership table (SQLite only: PostgreSQL
    counts distinct customers in the bit sets and keeps no membership rows)."""
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


# The cells of each kind: one per day, and (PostgreSQL) one per local month.
_CELL_TABLES = {
    "days": ("partners_productdaystat", "partners_productmonthstat"),
    "reorders": ("partners_productreordercell", "partners_productreordermonthcell"),
}


def _next_month(day: date) -> date:
    """The first day of the month after `day`'s."""
    return (day.replace(day=1) + timedelta(days=32)).replace(day=1)


def month_pieces(start: date, end: date) -> tuple[tuple[date, date] | None, list[tuple[date, date]]]:
    """[start, end] as the whole months inside it -- (first month's first day, last month's first
    day), or None -- and the ranges of days outside them, each (first, last) inclusive."""
    first = start if start.day == 1 else _next_month(start)
    after = (end + timedelta(days=1)).replace(day=1)  # the first month not wholly inside
    if first >= after:
        return None, [(start, end)]
    days = [(lo, hi) for lo, hi in ((start, first - timedelta(days=1)), (after, end)) if lo <= hi]
    return (first, (after - timedelta(days=1)).replace(day=1)), days


def latest_local_day() -> date:
    """No fact can have a later local day yet: the furthest time zone is UTC+14 (and an hour more
    for an application server whose clock runs ahead)."""
    return (timezone.now() + timedelta(hours=15)).date()


def reach(end: date) -> date:
    """How far a range ending at `end` may read: the end of `end`'s month when no fact can fall
    after `end` yet (that month's cells and bit sets then hold only days up to `end`, and a range
    ending today reads its month whole instead of day by day), else `end`."""
    if end >= latest_local_day():
        return _next_month(end) - timedelta(days=1)
    return end


def _from(scope: Scope, kind: str, columns: list[str], *, by_day: bool = False) -> tuple[str, list]:
    """The scope's cells of a kind as a subquery `c` of `columns`: the month cells for the range's
    whole months and the day cells for the days at its edges (PostgreSQL), or the day cells for
    every day (SQLite, or `by_day`). "weekday" is the ISO weekday of a day cell's day."""
    days_table, months_table = _CELL_TABLES[kind]
    day_columns = ", ".join(f"{_weekday_sql('day')} AS weekday" if c == "weekday" else c for c in columns)
    if not scope.product_ids:
        return f"(SELECT {day_columns} FROM {days_table} WHERE 1 = 0) c", []
    ids = ", ".join(["%s"] * len(scope.product_ids))
    months, days = (None, [(scope.start, scope.end)])
    if connection.vendor == "postgresql" and not by_day:
        months, days = month_pieces(scope.start, reach(scope.end))
    parts, params = [], []
    if days:
        spans = " OR ".join(["day BETWEEN %s AND %s"] * len(days))
        parts.append(f"SELECT {day_columns} FROM {days_table} WHERE product_id IN ({ids}) AND ({spans})")
        params += [*scope.product_ids, *(d for span in days for d in span)]
    if months:
        parts.append(f"SELECT {', '.join(columns)} FROM {months_table} WHERE product_id IN ({ids}) AND month BETWEEN %s AND %s")
        params += [*scope.product_ids, *months]
    return "(" + " UNION ALL ".join(parts) + ") c", params


def _certified(scope: Scope, group: str | None, keys: list[tuple], *, kind: str = "days") -> dict:
    return _cells(scope, group, keys, kind=kind)[0]


def _cells(scope: Scope, group: str | None, keys: list[tuple], *, kind: str = "days", sums: tuple[str, ...] = ()) -> tuple[dict, dict]:
    """Distinct customers per (group, key), exact up to the privacy threshold: {(g, key): n}
    where n >= threshold means "at least the threshold" and a smaller n is exact; and the sums of
    the `sums` columns per group: {g: (sum, ...)}.

    `keys` are (key, count column, sample column) of the cells; a cell's count is its sample's
    size, its exact number of customers up to SAMPLE_SIZE. A group whose largest cell has the
    threshold of customers is decided by that cell. Otherwise every cell of the group holds fewer
    customers than the threshold (at most SAMPLE_SIZE: partners.checks), so its sample is all of
    them and the union of the samples is the exact set. A month cell is a cell like a day's (its
    sample merged batch by batch), so a range mixes them."""
    by_day = group == "day"
    g = group or "0"
    grouped = f" GROUP BY {g}" if group else ""
    counts = [count for _, count, _ in keys]
    source, params = _from(scope, kind, [*([group] if group else []), *sums, *counts], by_day=by_day)
    aggregates = ", ".join([*(f"COALESCE(sum({c}), 0)" for c in sums), *(f"max({c}), sum({c})" for c in counts)])
    result, open_keys, sums_by_group = {}, defaultdict(set), {}
    threshold = privacy_threshold()
    for row in _rows(f"SELECT {g}, {aggregates} FROM {source}{grouped}", params):
        sums_by_group[row[0]] = row[1 : 1 + len(sums)]
        tops = row[1 + len(sums) :]
        for i, (key, _, _) in enumerate(keys):
            top, total = int(tops[2 * i] or 0), int(tops[2 * i + 1] or 0)
            if top >= threshold or top == total:
                # one cell decides: it has the threshold, or it is the only cell with anyone
                result[(row[0], key)] = top if top >= threshold else total
            else:
                open_keys[row[0]].add(i)
    if not open_keys:
        return result, sums_by_group
    # Per key, its open groups: named when they are few (a busy partner's metric open on a day or
    # two); when a key is open in most groups (a rare metric over a small partner's sparse year)
    # its cells are read wherever it has anyone -- a list of hundreds of values costs more to
    # test on every cell than reading the rest.
    open_in = defaultdict(list)
    for gv, ks in open_keys.items():
        for i in ks:
            open_in[i].append(gv)
    needed = sorted(open_in)
    conditions, groups = [], []
    for i in needed:
        if group is not None and len(open_in[i]) <= 50:
            conditions.append(f"({keys[i][1]} > 0 AND {group} IN ({', '.join(['%s'] * len(open_in[i]))}))")
            groups += open_in[i]
        else:
            conditions.append(f"{keys[i][1]} > 0")
    columns = [*([group] if group else []), *(keys[i][1] for i in needed), *(keys[i][2] for i in needed)]
    source, params = _from(scope, kind, columns, by_day=by_day)
    # An open group's cells are all below the threshold, so each one's sample is all of its
    # customers: the samples of the cells below the threshold, joined per group, hold the exact set.
    # (Joined here rather than fetched a cell per row: a small partner's sparse year has about
    # 10,000 such cells, and their rows cost more to send and unite in Python.)
    join = "string_agg" if connection.vendor == "postgresql" else "group_concat"
    joined = ", ".join(f"{join}({keys[i][2]}, ',') FILTER (WHERE {keys[i][1]} > 0 AND {keys[i][1]} < {int(threshold)})" for i in needed)
    position = {i: n for n, i in enumerate(needed, start=1)}
    for row in _rows(f"SELECT {g}, {joined} FROM {source} WHERE {' OR '.join(conditions)}{grouped}", params + groups):
        for i in open_keys.get(row[0], ()):
            samples = row[position[i]]
            result[(row[0], keys[i][0])] = len(set(samples.split(","))) if samples else 0
    return result, sums_by_group


_METRIC_KEYS = [(m, f"people_{m}", f"s_{m}") for m in METRICS]


def _per_metric(scope: Scope, group: str | None) -> tuple[dict, dict]:
    """({group value: metric sums}, {group value: [distinct customers per metric]}), the
    distinct counts exact below the threshold; one pass over the cells."""
    found, sums = _cells(scope, group, _METRIC_KEYS, sums=METRICS)
    return sums, {gv: [found.get((gv, m), 0) for m in METRICS] for gv in sums}


def _cover(start: date, end: date) -> list[tuple[str, date, date]]:
    """[start, end] as whole weeks (Monday to Sunday) and the days at either edge: (span, first
    key, last key) with the keys inclusive; empty pieces left out."""
    first = start + timedelta(days=(7 - start.weekday()) % 7)  # the first Monday inside
    last = end - timedelta(days=(end.weekday() + 1) % 7)  # the last Sunday inside
    if last - first < timedelta(days=6):
        return [("d", start, end)]
    pieces = [("d", start, first - timedelta(days=1)), ("w", first, last - timedelta(days=6)), ("d", last + timedelta(days=1), end)]
    return [(span, lo, hi) for span, lo, hi in pieces if lo <= hi]


def span_pieces(start: date, end: date) -> list[tuple[str, date, date]]:
    """The productbits rows that cover [start, end] exactly once, as (span, first key, last key):
    whole months, then whole weeks, then the days at the edges (a day / week / month bit set
    holds the ids of its days; a week's key is its Monday, a month's its first day)."""
    months, days = month_pieces(start, end)
    return ([("m", *months)] if months else []) + [piece for lo, hi in days for piece in _cover(lo, hi)]


def _spans(start: date, end: date) -> tuple[str, list]:
    conditions, params = [], []
    for span, lo, hi in span_pieces(start, end):
        conditions.append("(span = %s AND day BETWEEN %s AND %s)")
        params += [span, lo, hi]
    return "(" + " OR ".join(conditions) + ")", params


def _distinct(scope: Scope, *, dims: tuple[str, ...], by: str | None) -> dict:
    """Exact distinct customers (or devices) over the scope, per `by` (product_id, dim or None):
    the bit sets of ids united per chunk and their bits counted (PostgreSQL). A partner's whole
    catalog reads the partner's own bit sets (one row per rollup shard) instead of each product's."""
    if not scope.product_ids:
        return {}
    span, span_params = _spans(scope.start, reach(scope.end))
    dim_marks = ", ".join(["%s"] * len(dims))
    g, inner, outer = (by, f"{by}, chunk", " GROUP BY g") if by else ("0", "chunk", "")
    if scope.whole_partner and scope.partner is not None and by in (None, "dim"):
        table, owner, owner_params = "partners_partnerbits", "partner_id = %s", [scope.partner.pk]
    else:
        table, owner, owner_params = (
            "partners_productbits",
            f"product_id IN ({', '.join(['%s'] * len(scope.product_ids))})",
            list(scope.product_ids),
        )
    rows = _rows(
        f"SELECT min(g), sum(bit_count(b)) FROM (SELECT {g} AS g, chunk, bit_or(bits) AS b FROM {table}"
        f" WHERE {owner} AND dim IN ({dim_marks}) AND {span} GROUP BY {inner}) u{outer}",
        [*owner_params, *dims, *span_params],
    )
    return {(row[0] if by else 0): int(row[1] or 0) for row in rows}


def _customers(scope: Scope, by: str | None) -> dict:
    """Exact distinct customers per product_id / source / overall (None -> key 0)."""
    if connection.vendor == "postgresql":
        if by == "source":
            return _distinct(scope, dims=SOURCES, by="dim")
        return _distinct(scope, dims=("",), by=by)
    return {(row[0] if by else 0): int(row[1] if by else row[0]) for row in _people(scope, by)}


def totals(*, scope: Scope) -> dict:
    """Each metric over the range, distinct customers, active devices."""
    found_sums, found_people = _per_metric(scope, None)
    sums = found_sums.get(0, (0,) * len(METRICS))
    per_metric = found_people.get(0, [0] * len(METRICS))
    if connection.vendor == "postgresql":
        # customers (dim '') and devices in one pass over the bit sets
        found = _distinct(scope, dims=("", DEVICES_DIM), by="dim")
        customers, devices = found.get("", 0), found.get(DEVICES_DIM, 0)
    else:
        customers = _customers(scope, None).get(0, 0)
        where, params = _where(scope)
        devices = _rows(f"SELECT count(DISTINCT device_id) FROM partners_productdaydevice WHERE {where}", params)[0][0]
    figures = {m: shown(int(sums[i]), per_metric[i] or 0) for i, m in enumerate(METRICS)}
    figures["customers"] = shown(customers, customers)
    # The active devices describe the customers who pressed them.
    figures["active_devices"] = shown(devices, per_metric[METRICS.index("presses")])
    return figures


def daily(*, scope: Scope) -> list[dict]:
    """One row per day of the range (days without activity included, as zeros)."""
    found_sums, found_people = _per_metric(scope, "day")
    sums = {_day(k): v for k, v in found_sums.items()}
    people = {_day(k): v for k, v in found_people.items()}
    threshold = privacy_threshold()
    rows = []
    for offset in range(scope.days):
        day = scope.start + timedelta(days=offset)
        values = sums.get(day, (0,) * len(METRICS))
        customers = people.get(day, (0,) * len(METRICS))
        row = {"day": day}
        for i, metric in enumerate(METRICS):
            # A day nobody touched is a true zero that describes no one.
            row[metric] = 0 if not values[i] else shown(int(values[i]), customers[i], threshold)
        rows.append(row)
    return rows


def _weekday_sql(column: str) -> str:
    if connection.vendor == "postgresql":
        return f"extract(isodow FROM {column})::int"
    return f"((CAST(strftime('%%w', {column}) AS integer) + 6) %% 7 + 1)"


_HOUR_KEYS = [(h, f"ph{h:02d}", f"sh{h:02d}") for h in range(24)]


def heatmap(*, scope: Scope) -> list[dict]:
    """Presses by weekday x hour (the customer's local time): 7 rows of 24 cells."""
    found, sums = _cells(scope, "weekday", _HOUR_KEYS, sums=tuple(f"h{h:02d}" for h in range(24)))
    people = {(int(wd), hour): n for (wd, hour), n in found.items()}
    presses = {(int(wd), hour): int(n or 0) for wd, counts in sums.items() for hour, n in enumerate(counts)}
    threshold = privacy_threshold()
    rows = []
    for wd in range(1, 8):
        cells = []
        for hour in range(24):
            n = presses.get((wd, hour), 0)
            cells.append(0 if not n else shown(n, people.get((wd, hour), 0), threshold))
        rows.append({"weekday": wd, "name": WEEKDAYS[wd - 1], "hours": cells})
    return rows


def by_source(*, scope: Scope) -> list[dict]:
    sums, people = _per_metric(scope, "source")
    customers = _customers(scope, "source")
    rows = []
    for source in [s for s in SOURCES if s in sums] + sorted(set(sums) - set(SOURCES)):
        n = customers.get(source, 0)
        per_metric = people.get(source, [0] * len(METRICS))
        row = {"source": source, "customers": shown(n, n)}
        for i, metric in enumerate(METRICS):
            value = int(sums[source][i])
            row[metric] = 0 if not value else shown(value, per_metric[i])
        rows.append(row)
    return rows


def by_product(*, scope: Scope) -> list[dict]:
    """The scope's products with their figures over the range (products with no activity too)."""
    sums, people = _per_metric(scope, "product_id")
    customers = _customers(scope, "product_id")
    products = Product.objects.filter(pk__in=scope.product_ids).order_by("name").values("pk", "sku", "name", "gtin")
    rows = []
    for product in products:
        values = sums.get(product["pk"], (0,) * len(METRICS))
        n = customers.get(product["pk"], 0)
        per_metric = people.get(product["pk"], [0] * len(METRICS))
        row = {"sku": product["sku"], "name": product["name"], "gtin": product["gtin"], "customers": shown(n, n)}
        for i, metric in enumerate(METRICS):
            row[metric] = 0 if not values[i] else shown(int(values[i]), per_metric[i])
        rows.append(row)
    rows.sort(key=lambda r: (-(r["presses"] or 0), r["name"]))
    return rows


def reorders(*, scope: Scope) -> dict:
    """Time between a customer's consecutive orders of the same product: a histogram and the mean."""
    keys = [("people", "people", "s_people")]
    per_bucket, sums = _cells(scope, "bucket", keys, kind="reorders", sums=("reorders", "seconds"))
    found = {int(bucket): int(n) for bucket, (n, _) in sums.items()}
    n = sum(found.values())
    seconds = sum(int(secs) for _, secs in sums.values())
    people = _certified(scope, None, keys, kind="reorders").get((0, "people"), 0) if n else 0
    per_bucket = {int(bucket): c for (bucket, _), c in per_bucket.items()}
    buckets = []
    for i, label in enumerate(REORDER_LABELS):
        count = found.get(i, 0)
        buckets.append({"bucket": label, "reorders": 0 if not count else shown(count, per_bucket.get(i, 0))})
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
        # Barcodes are digits, so those starting with a prefix are a range of the (gtin, day) index.
        ranges = []
        for prefix in prefixes:
            following = str(int(prefix) + 1)
            if len(following) == len(prefix):
                ranges.append("(gtin >= %s AND gtin < %s AND substr(gtin, 1, %s) = %s)")
                params += [prefix, following, COMPANY_PREFIX_DIGITS, prefix]
            else:
                ranges.append("(gtin >= %s AND substr(gtin, 1, %s) = %s)")
                params += [prefix, COMPANY_PREFIX_DIGITS, prefix]
        where += " AND kind = 'scan' AND (" + " OR ".join(ranges) + ")"
    rows = _rows(
        f"SELECT kind, gtin, sum(requests), count(DISTINCT customer_id) FROM partners_unmetdemand WHERE {where}"
        f" GROUP BY kind, gtin HAVING count(DISTINCT customer_id) >= %s ORDER BY 3 DESC, 2 LIMIT %s",
        [*params, privacy_threshold(), limit],
    )
    return [{"kind": kind, "gtin": gtin, "requests": int(n), "customers": people} for kind, gtin, n, people in rows]
