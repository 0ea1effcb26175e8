"""Incremental rollups: each run consumes what the fact feeds hold beyond their watermark.

A watermark, not a rescan
    Every feed has a row in RollupWatermark per shard (below): the highest source id already
    counted of that shard's products. A run takes
    the ids in (watermark, horizon], in batches; each batch is aggregated into the rollup tables
    with additive upserts (INSERT ... ON CONFLICT DO UPDATE SET n = n + excluded.n) and moves the
    watermark in the same transaction, under a row lock on the watermark. So a batch counts
    exactly once: a crash rolls back both, a concurrent run waits for the lock and then sees the
    moved watermark, and a second run with nothing new changes nothing.

The safe horizon
    Ids come from a sequence when a row is inserted, not when it commits: a transaction still
    in flight may commit an id below ids already visible, and a watermark past it would skip it
    for good. A run therefore only consumes ids of rows older than a horizon time:
      horizon_time = min(now - DASH_ANALYTICS_LAG_SECONDS,
                         start of the oldest open writing transaction - 1 s)   [PostgreSQL]
      horizon_id   = the highest id among rows whose timestamp is before horizon_time.
    A row still in flight started its transaction after horizon_time + 1 s, so its id was drawn
    after every row stamped before horizon_time was inserted (the intake and the order services
    stamp a row less than a second before inserting it). On SQLite writers are serialized, so
    commit order is id order and the lag alone is plenty.

The prune of the device event log deletes only ids at or below the lowest of the device feed's
shard watermarks (devices.services.device_events_prune asks selectors.rollup_watermark, which is
`consumed`).

Distinct customers
    The privacy threshold needs the number of distinct customers behind a figure over any date
    range and product set, which sums of per-cell counts cannot give -- but only up to the
    threshold. Each cell (ProductDayStat: product, local day, source) keeps, per metric and press
    hour, a sample of up to SAMPLE of its customer ids: while a cell has fewer customers the
    sample is all of them, so a batch merges its own customers into it without re-reading
    anything (no sketches: a HyperLogLog estimate could let a 4-customer cell through). Reorder
    cells do the same. On PostgreSQL every batch also merges into month cells (ProductMonthStat:
    product, local month, weekday, source; ProductReorderMonthCell), so that a long range reads
    whole months instead of each of their days. Exact distinct customers and active devices over any range come from bit
    sets of ids (partners_productbits, day / week / month), which each batch ORs its new ids into.
    SQLite keeps per-customer membership rows (ProductDayCustomer, ProductDayDevice) instead.

PostgreSQL runs the aggregation as SQL over a temporary table of the batch's facts; SQLite (the
embedded `make run`) aggregates the same facts in Python and writes with the same upserts.
"""

import logging
import time
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db import DatabaseError, connection, transaction
from django.utils import timezone

from partners.analytics.feeds import FACT_COLUMNS, METRIC_BITS, METRICS, FactFeed, feeds
from partners.models import ProductDayStat, RollupWatermark

log = logging.getLogger(__name__)

# Upper bounds (seconds) of the time-between-reorders buckets; the last bucket is open.
REORDER_BOUNDS = (86400, 3 * 86400, 7 * 86400, 14 * 86400, 30 * 86400, 60 * 86400)
REORDER_LABELS = ("< 1 day", "1-3 days", "3-7 days", "1-2 weeks", "2-4 weeks", "1-2 months", "> 2 months")


@dataclass
class RollupReport:
    facts: int = 0  # source rows read
    batches: int = 0
    seconds: float = 0.0
    watermarks: dict = field(default_factory=dict)
    steps: dict = field(default_factory=dict)  # seconds per step, summed over the batches and shards (PostgreSQL)


def reorder_bucket(seconds: float) -> int:
    for i, bound in enumerate(REORDER_BOUNDS):
        if seconds < bound:
            return i
    return len(REORDER_BOUNDS)


def shards() -> int:
    """How many shards the products are split into (product id modulo shards; facts without a
    product go with shard 0). Each shard has its own watermark rows and runs its batches on a
    connection of its own, so PostgreSQL aggregates on as many cores; every rollup table is per
    product (unmet demand: shard 0 alone; the partner bit sets have a row per shard), so shards
    never write the same rows. A fixed number:
    changing it would leave the watermarks of the shards disagreeing on what is counted."""
    return 2 if connection.vendor == "postgresql" else 1


def shard_feed(name: str, shard: int) -> str:
    """The watermark row of a feed in a shard (shard 0's is the feed's name, as before shards)."""
    return name if shard == 0 else f"{name}:{shard}"


def analytics_rollup_run(*, now: datetime | None = None, batch: int | None = None) -> RollupReport:
    """Consume every feed up to its safe horizon. Safe to run concurrently and repeatedly.

    With a backlog of more than one batch the shards run in threads, each on its own database
    connection. Otherwise -- the every-20-seconds run -- they run one after the other on the
    caller's connection: no connections opened per run, and no second core taken from the device
    API for a second of work. So do they inside a transaction (or with autocommit off), whose
    uncommitted rows other connections could not see."""
    started = time.perf_counter()
    now = now or timezone.now()
    batch = batch or settings.DASH_ANALYTICS_BATCH
    active = feeds()
    count = shards()
    for feed in active:
        _create_watermarks(feed.name, count)
    floors = {feed.name: consumed(feed.name) for feed in active}
    horizons = {feed.name: _safe_horizon(feed, now, floors[feed.name]) for feed in active}
    backlog = max([horizons[name] - floor for name, floor in floors.items() if horizons[name] is not None], default=0)
    if count == 1 or backlog <= batch or connection.in_atomic_block or not connection.get_autocommit():
        reports = [_run_shard(shard, count, active, horizons, batch) for shard in range(count)]
    else:
        with ThreadPoolExecutor(max_workers=count, thread_name_prefix="rollup-shard") as pool:
            reports = list(pool.map(lambda shard: _run_shard_thread(shard, count, active, horizons, batch), range(count)))
    report = RollupReport()
    for part in reports:
        report.facts += part.facts
        report.batches += part.batches
        report.watermarks.update(part.watermarks)
        for name, seconds in part.steps.items():
            report.steps[name] = report.steps.get(name, 0.0) + seconds
    report.seconds = time.perf_counter() - started
    if report.facts:
        log.info("analytics_rollup facts=%s batches=%s seconds=%.3f", report.facts, report.batches, report.seconds)
    return report


def _run_shard_thread(shard: int, count: int, active: list[FactFeed], horizons: dict, batch: int) -> RollupReport:
    try:
        return _run_shard(shard, count, active, horizons, batch)
    except Exception:
        log.exception("analytics_rollup shard=%s failed", shard)  # the caller sees the first shard's error only
        raise
    finally:
        connection.close()  # this thread's own connection


def _run_shard(shard: int, count: int, active: list[FactFeed], horizons: dict, batch: int) -> RollupReport:
    report = RollupReport()
    while True:
        # One batch takes the next ids of every feed and aggregates them together; the
        # watermark rows are locked in name order, so concurrent runs queue, never deadlock.
        with transaction.atomic():
            ranges = []
            for feed in active:
                name = shard_feed(feed.name, shard)
                lo = report.watermarks[name] = _lock_watermark(name)
                horizon = horizons[feed.name]
                if horizon is not None and lo < horizon:
                    # `batch` ids from the first one there is (ids need not be dense: other
                    # databases' rows, rolled-back inserts)
                    ranges.append((feed, lo, min(_next_id(feed, lo) - 1 + batch, horizon)))
            if not ranges:
                break
            ranges = _aligned(ranges)
            report.facts += _apply(ranges, report.steps, shard, count)
            report.batches += 1
            for feed, _lo, hi in ranges:
                name = shard_feed(feed.name, shard)
                _move_watermark(name, hi)
                report.watermarks[name] = hi
    return report


# --- Watermark and horizon -----------------------------------------------------------------------


def _create_watermarks(name: str, count: int) -> None:
    """Every shard's watermark row of a feed, created together before any shard runs. A shard
    whose row is missing while shard 0's exists belongs to a database rolled up before the
    shards (shard 0's row is the old single watermark, which counted every product): it starts
    there, not at 0, or it would count its products' history a second time."""
    with connection.cursor() as cursor:
        cursor.execute("INSERT INTO partners_rollupwatermark (feed, last_id) VALUES (%s, 0) ON CONFLICT (feed) DO NOTHING", [name])
        for shard in range(1, count):
            cursor.execute(
                "INSERT INTO partners_rollupwatermark (feed, last_id)"
                " SELECT %s, last_id FROM partners_rollupwatermark WHERE feed = %s ON CONFLICT (feed) DO NOTHING",
                [shard_feed(name, shard), name],
            )


def _lock_watermark(name: str) -> int:
    with connection.cursor() as cursor:
        lock = " FOR UPDATE" if connection.features.has_select_for_update else ""
        cursor.execute(f"SELECT last_id FROM partners_rollupwatermark WHERE feed = %s{lock}", [name])
        return cursor.fetchone()[0]


def consumed(name: str) -> int:
    """The highest source id of a feed that every shard has consumed: the lowest of the shards'
    watermarks as they stand (no lock), 0 until each shard has one."""
    names = [shard_feed(name, shard) for shard in range(shards())]
    found = list(RollupWatermark.objects.filter(feed__in=names).values_list("last_id", flat=True))
    return min(found) if len(found) == len(names) else 0


def _move_watermark(name: str, last_id: int) -> None:
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE partners_rollupwatermark SET last_id = %s, updated_at = %s WHERE feed = %s",
            [last_id, connection.ops.adapt_datetimefield_value(timezone.now()), name],
        )


def _aligned(ranges: list[tuple[FactFeed, int, int]]) -> list[tuple[FactFeed, int, int]]:
    """Cut every feed's batch at the time the shortest one (in time) reaches, so that a batch's
    feeds cover the same days and a day's cells are refreshed once rather than once per feed
    (the order timeline has several rows per press). Only the batch sizes change: each range
    still starts at its watermark, and the feed that sets the time keeps its whole range."""
    if len(ranges) < 2 or connection.vendor != "postgresql":
        return ranges
    ends = []
    with connection.cursor() as cursor:
        for feed, lo, hi in ranges:
            cursor.execute(f"SELECT {feed.time_column} FROM {feed.table} WHERE id > %s AND id <= %s ORDER BY id DESC LIMIT 1", [lo, hi])
            found = cursor.fetchone()
            ends.append(found[0] if found else None)
        if any(end is None for end in ends):
            return ranges
        cut = min(ends)
        aligned = []
        for (feed, lo, hi), end in zip(ranges, ends, strict=True):
            if end > cut:
                cursor.execute(
                    f"SELECT id FROM {feed.table} WHERE id > %s AND id <= %s AND {feed.time_column} <= %s ORDER BY id DESC LIMIT 1",
                    [lo, hi, cut],
                )
                found = cursor.fetchone()
                if found is None:
                    continue
                hi = found[0]
            aligned.append((feed, lo, hi))
    return aligned


def _next_id(feed: FactFeed, after: int) -> int:
    """The first id of the feed's table above `after` (there is one: the horizon is)."""
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT min(id) FROM {feed.table} WHERE id > %s", [after])
        return cursor.fetchone()[0]


def _safe_horizon(feed: FactFeed, now: datetime, floor: int) -> int | None:
    cutoff = now - timedelta(seconds=settings.DASH_ANALYTICS_LAG_SECONDS)
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                "SELECT min(xact_start) FROM pg_stat_activity"
                " WHERE backend_xid IS NOT NULL AND pid <> pg_backend_pid() AND datname = current_database()"
            )
            oldest = cursor.fetchone()[0]
            if oldest is not None:
                cutoff = min(cutoff, oldest - timedelta(seconds=1))
        # The highest id stamped before the cutoff, walking the primary key down from the newest
        # row: only the rows of the last lag seconds are passed over, and the walk stops at the
        # watermark (nothing new: no horizon). No time index is needed (the event log has none
        # that gives an order).
        cursor.execute(
            f"SELECT id FROM {feed.table} WHERE id > %s AND {feed.time_column} < %s ORDER BY id DESC LIMIT 1",
            [floor, connection.ops.adapt_datetimefield_value(cutoff)],
        )
        found = cursor.fetchone()
        return found[0] if found else None


def _apply(ranges: list[tuple[FactFeed, int, int]], steps: dict, shard: int, count: int) -> int:
    if connection.vendor == "postgresql":
        return _apply_postgresql(ranges, steps, shard, count)
    assert count == 1, "SQLite runs one shard"
    return _apply_portable(ranges)


# --- PostgreSQL: set-based ---------------------------------------------------------------------

_BATCH_TABLE = """
CREATE TEMP TABLE IF NOT EXISTS analytics_batch (
    id bigint, at timestamptz, customer_id bigint, product_id bigint, device_id bigint, source text,
    presses int, placed int, filtered int, paused int, cancelled int, delivered int, failed int,
    unmet_kind text, gtin text, day date, hour int
) ON COMMIT DELETE ROWS
"""

# A fact's local day and hour, from one conversion of its time to the customer's time zone.
_FILL = (
    f"INSERT INTO analytics_batch SELECT {', '.join(FACT_COLUMNS)}, local::date, extract(hour FROM local)::int"
    + """
FROM (
    SELECT f.*, f.at AT TIME ZONE COALESCE(tz.time_zone, %(tz)s) AS local
    FROM ({feed}) f
    LEFT JOIN partners_customertimezone tz ON tz.user_id = f.customer_id
    WHERE f.customer_id IS NOT NULL AND mod(COALESCE(f.product_id, 0), %(shards)s) = %(shard)s
) l
"""
)

HOURS = tuple(f"h{h:02d}" for h in range(24))
SAMPLE = ProductDayStat.SAMPLE_SIZE
_DAY_COLUMNS = (*METRICS, *HOURS)
_FLAGS = " | ".join(f"({m} * {METRIC_BITS[m]})" for m in METRICS)
# The batch's facts once per (product, day, customer, source): which metrics and press hours each
# customer contributed; the cells' samples and the bit sets are read from it.
_BATCH_MEMBERS_TABLE = """
CREATE TEMP TABLE IF NOT EXISTS analytics_members (
    product_id bigint, day date, customer_id bigint, source text, flags int, hours int
) ON COMMIT DELETE ROWS
"""
_BATCH_MEMBERS = f"""
INSERT INTO analytics_members
SELECT product_id, day, customer_id, source, bit_or({_FLAGS}), bit_or(CASE WHEN presses = 1 THEN 1 << hour ELSE 0 END)
FROM analytics_batch WHERE product_id IS NOT NULL
GROUP BY product_id, day, customer_id, source
"""


def _merged(count: str, sample: str) -> str:
    """SET clauses of an upsert that adds a batch's sample (EXCLUDED) to a cell's (alias s): a full
    sample stays, an empty side takes the other, and two partial ones are united (the smallest
    SAMPLE ids of the union, by partners_sample_merge, migration 0006)."""
    keep = f"s.{count} >= {SAMPLE} OR EXCLUDED.{count} = 0"
    union = f"partners_sample_merge(s.{sample}, EXCLUDED.{sample}, {SAMPLE})"
    # the union is computed once and its size read from it (a SQL function call per conflict)
    return (
        f"({sample}, {count}) = (SELECT u, COALESCE(cardinality(string_to_array(NULLIF(u, ''), ',')), 0) FROM (SELECT CASE WHEN {keep} THEN s.{sample} "
        f"WHEN s.{count} = 0 THEN EXCLUDED.{sample} ELSE {union} END AS u) m)"
    )


def _sample_of(ids: str) -> tuple[str, str]:
    """(count, sample) of an array of up to SAMPLE customer ids (NULL: none)."""
    return f"COALESCE(cardinality({ids}), 0)", f"COALESCE(array_to_string({ids}, ','), '')"


# Who each cell describes, as (count column, sample column, condition on a membership row).
_CELL_KEYS = [(f"people_{m}", f"s_{m}", f"flags & {METRIC_BITS[m]} <> 0") for m in METRICS] + [
    (f"ph{h:02d}", f"sh{h:02d}", f"(hours >> {h}) & 1 = 1") for h in range(24)
]
_SUMS = ", ".join([*(f"sum({m})" for m in METRICS), *(f"sum(CASE WHEN hour = {h} THEN presses ELSE 0 END)" for h in range(24))])
_ADD = ", ".join(f"{c} = s.{c} + EXCLUDED.{c}" for c in _DAY_COLUMNS)
# Up to SAMPLE customers per key of a cell (the membership rows have one row per customer).
_KEY_ARRAYS = ", ".join(f"(array_agg(customer_id) FILTER (WHERE {cond}))[1:{SAMPLE}] AS k{i}" for i, (_, _, cond) in enumerate(_CELL_KEYS))
_KEY_SAMPLES = [_sample_of(f"m.k{i}") for i in range(len(_CELL_KEYS))]
_KEY_VALUES = ", ".join(f"{n}, {text}" for n, text in _KEY_SAMPLES)
_KEY_COLUMNS = ", ".join(f"{count}, {sample}" for count, sample, _ in _CELL_KEYS)
# The batch's sums per day cell, read by the day cells and, regrouped, by the month cells.
_DAY_SUMS_TABLE = f"""
CREATE TEMP TABLE IF NOT EXISTS analytics_daysums (
    product_id bigint, day date, source text, {", ".join(f"{c} bigint" for c in _DAY_COLUMNS)}
) ON COMMIT DELETE ROWS
"""
_DAY_SUMS = f"INSERT INTO analytics_daysums SELECT product_id, day, source, {_SUMS} FROM analytics_batch WHERE product_id IS NOT NULL GROUP BY 1, 2, 3"


# The batch's day cells' samples: up to SAMPLE customers per key (k0, k1, ... in _CELL_KEYS'
# order), from the membership rows (one per customer); the day cells take them as they are and
# the month cells take their union.
_DAY_SAMPLES_TABLE = f"""
CREATE TEMP TABLE IF NOT EXISTS analytics_daysamples (
    product_id bigint, day date, source text, {", ".join(f"k{i} bigint[]" for i in range(len(_CELL_KEYS)))}
) ON COMMIT DELETE ROWS
"""
_DAY_SAMPLES = f"INSERT INTO analytics_daysamples SELECT product_id, day, source, {_KEY_ARRAYS} FROM analytics_members GROUP BY 1, 2, 3"


def _cells_upsert(table: str, keys: tuple[str, ...], sums: str, samples: str) -> str:
    """A batch's cells: the metric and hour sums added, the samples merged (the counts are the
    samples' sizes: exact below SAMPLE, "at least SAMPLE" at it -- all the privacy threshold
    needs). `sums` and `samples` (columns k0, k1, ...) are SELECTs grouped by `keys`."""
    key_list = ", ".join(keys)
    joined = " AND ".join(f"m.{k} = f.{k}" for k in keys)
    return f"""
INSERT INTO {table} AS s ({key_list}, {", ".join(_DAY_COLUMNS)}, {_KEY_COLUMNS})
SELECT f.*, {_KEY_VALUES}
FROM ({sums}) f
JOIN ({samples}) m ON {joined}
ORDER BY {", ".join(str(i + 1) for i in range(len(keys)))}
ON CONFLICT ({key_list}) DO UPDATE SET {_ADD}, {", ".join(_merged(count, sample) for count, sample, _ in _CELL_KEYS)}
"""


_CELLS = _cells_upsert(
    "partners_productdaystat",
    ("product_id", "day", "source"),
    "SELECT * FROM analytics_daysums",
    "SELECT * FROM analytics_daysamples",
)
# Month cells (a month's days that fall on one weekday). The sums are the day sums regrouped.
# A key's sample is one of its day cells' full samples (SAMPLE distinct customers of the month
# cell: all the threshold needs), and when none is full, the union of the day samples, each of
# which is then all of its day's customers -- so the union is the month cell's exact set, a
# customer of two of its days counted once (partners_sample_merge: the smallest SAMPLE distinct
# ids; a lone day sample is its own union). A few ids per day cell are read instead of every
# customer's membership row. The day samples' text is gathered for every month cell (aggregates
# run before the CASE), but the merge (a SQL function call) runs only where days must be united.
_MONTH = "date_trunc('month', day::timestamp)::date AS month, extract(isodow FROM day)::int AS weekday"
_MONTH_KEYS = ("product_id", "month", "weekday", "source")


def _month_sample(k: str) -> str:
    full = f"cardinality({k}) >= {SAMPLE}"
    union = f"partners_sample_merge(string_agg(array_to_string({k}, ','), ','), NULL, {SAMPLE})"
    return (
        f"CASE WHEN bool_or({full}) THEN max({k}) FILTER (WHERE {full}) WHEN count({k}) <= 1 THEN max({k})"
        f" ELSE string_to_array({union}, ',')::bigint[] END AS {k}"
    )


_MONTH_SAMPLES = f"""
SELECT product_id, {_MONTH}, source, {", ".join(_month_sample(f"k{i}") for i in range(len(_CELL_KEYS)))}
FROM analytics_daysamples GROUP BY 1, 2, 3, 4
"""
_MONTH_CELLS = _cells_upsert(
    "partners_productmonthstat",
    _MONTH_KEYS,
    f"SELECT product_id, {_MONTH}, source, {', '.join(f'sum({c})' for c in _DAY_COLUMNS)} FROM analytics_daysums GROUP BY 1, 2, 3, 4",
    _MONTH_SAMPLES,
)

_BUCKET = "CASE " + " ".join(f"WHEN gap < {b} THEN {i}" for i, b in enumerate(REORDER_BOUNDS)) + f" ELSE {len(REORDER_BOUNDS)} END"
# Time between reorders, from the batch's orders placed (and each customer's last order before
# the batch): one row per product, local day, customer and bucket, summed into the reorder cells
# (day and month) with their customers sampled as above.
_REORDER_ROWS_TABLE = """
CREATE TEMP TABLE IF NOT EXISTS analytics_reorders (
    product_id bigint, day date, customer_id bigint, bucket int, n bigint, secs bigint
) ON COMMIT DELETE ROWS
"""
_REORDER_ROWS = f"""
INSERT INTO analytics_reorders
SELECT product_id, day, customer_id, {_BUCKET} AS bucket, count(*), sum(floor(gap))::bigint
FROM (
    SELECT p.product_id, p.day, p.customer_id, extract(epoch FROM p.at - COALESCE(p.prev_at, lo.last_at)) AS gap
    FROM (
        SELECT product_id, customer_id, day, at,
               lag(at) OVER (PARTITION BY product_id, customer_id ORDER BY at, id) AS prev_at
        FROM analytics_batch WHERE placed = 1 AND product_id IS NOT NULL
    ) p
    LEFT JOIN partners_customerlastorder lo ON lo.product_id = p.product_id AND lo.customer_id = p.customer_id
    WHERE COALESCE(p.prev_at, lo.last_at) < p.at
) g
GROUP BY 1, 2, 3, 4
"""


def _reorders_upsert(table: str, period: str, rows: str) -> str:
    """Reorder cells keyed by (product_id, `period`, bucket) from `rows` (one per customer)."""
    return f"""
INSERT INTO {table} AS s (product_id, {period}, bucket, reorders, seconds, people, s_people)
SELECT product_id, {period}, bucket, n, secs, {", ".join(_sample_of("ids"))}
FROM (
    SELECT product_id, {period}, bucket, sum(n) AS n, sum(secs) AS secs, (array_agg(customer_id))[1:{SAMPLE}] AS ids
    FROM ({rows}) r GROUP BY 1, 2, 3
) c
ORDER BY 1, 2, 3
ON CONFLICT (product_id, {period}, bucket) DO UPDATE
SET reorders = s.reorders + EXCLUDED.reorders, seconds = s.seconds + EXCLUDED.seconds, {_merged("people", "s_people")}
"""


_REORDERS = _reorders_upsert("partners_productreordercell", "day", "SELECT * FROM analytics_reorders")
_REORDER_MONTHS = _reorders_upsert(
    "partners_productreordermonthcell",
    "month",
    "SELECT product_id, date_trunc('month', day::timestamp)::date AS month, customer_id, bucket, sum(n) AS n, sum(secs) AS secs"
    " FROM analytics_reorders GROUP BY 1, 2, 3, 4",
)

_LAST_ORDERS = """
INSERT INTO partners_customerlastorder AS l (product_id, customer_id, last_at)
SELECT product_id, customer_id, max(at) FROM analytics_batch WHERE placed = 1 AND product_id IS NOT NULL
GROUP BY product_id, customer_id
ON CONFLICT (product_id, customer_id) DO UPDATE SET last_at = GREATEST(l.last_at, EXCLUDED.last_at)
"""

_UNMET = """
INSERT INTO partners_unmetdemand AS u (day, kind, gtin, customer_id, requests)
SELECT day, unmet_kind, gtin, customer_id, count(*)
FROM analytics_batch WHERE product_id IS NULL AND unmet_kind <> ''
GROUP BY day, unmet_kind, gtin, customer_id
ON CONFLICT (day, kind, gtin, customer_id) DO UPDATE SET requests = u.requests + EXCLUDED.requests
"""


# --- Bit sets, and rebuilding the cells from membership rows -----------------------------------

# Customer and device ids are kept as bit sets in chunks of BITS_CHUNK ids (bit i of chunk c is
# the id c * BITS_CHUNK + i): fixed length, so bit_or can unite any of them.
BITS_SHIFT = 15
BITS_CHUNK = 1 << BITS_SHIFT
DEVICES_DIM = "#devices"

_TOUCHED_TABLE = """
CREATE TEMP TABLE IF NOT EXISTS analytics_touched (product_id bigint, day date) ON COMMIT DELETE ROWS
"""


# Rebuilding the cells from the membership rows (partners_productdaycustomer), with the samples
# taken as a batch takes them.
_PEOPLE = f"""
UPDATE partners_productdaystat AS s
SET {", ".join(f"{count} = {n}, {sample} = {text}" for (count, sample, _), (n, text) in zip(_CELL_KEYS, _KEY_SAMPLES, strict=True))}
FROM (
    SELECT m.product_id, m.day, m.source, {_KEY_ARRAYS}
    FROM partners_productdaycustomer m JOIN analytics_touched t ON t.product_id = m.product_id AND t.day = m.day
    GROUP BY m.product_id, m.day, m.source
) m
WHERE s.product_id = m.product_id AND s.day = m.day AND s.source = m.source
"""

_REORDER_CELLS = f"""
INSERT INTO partners_productreordercell AS c (product_id, day, bucket, reorders, seconds, people, s_people)
SELECT r.product_id, r.day, r.bucket, sum(r.reorders), sum(r.seconds), LEAST(count(*), {SAMPLE}),
       array_to_string((array_agg(r.customer_id))[1:{SAMPLE}], ',')
FROM partners_productreorder r JOIN analytics_touched t ON t.product_id = r.product_id AND t.day = r.day
GROUP BY r.product_id, r.day, r.bucket
ON CONFLICT (product_id, day, bucket) DO UPDATE
SET reorders = EXCLUDED.reorders, seconds = EXCLUDED.seconds, people = EXCLUDED.people, s_people = EXCLUDED.s_people
"""

# A bit set from the offsets of one chunk, written as hex (bit_in parses hex four times faster
# than binary digits): the ids grouped into nibbles, then runs of zero nibbles and one digit per
# nibble that has members, padded to the chunk's length.
_NIBBLES = BITS_CHUNK // 4
_DAY_BITS = f"""
INSERT INTO partners_productbits (product_id, dim, span, day, chunk, bits)
SELECT product_id, dim, 'd', day, chunk,
       ('x' || string_agg(repeat('0', nib - prev - 1) || to_hex(v), '' ORDER BY nib) || repeat('0', {_NIBBLES - 1} - max(nib)))::varbit
FROM (
    SELECT product_id, day, dim, chunk, nib, v,
           COALESCE(lag(nib) OVER (PARTITION BY product_id, day, dim, chunk ORDER BY nib), -1) AS prev
    FROM (
        SELECT product_id, day, dim, chunk, off >> 2 AS nib, bit_or(8 >> (off & 3)) AS v
        FROM (
            SELECT m.product_id, m.day, u.dim, (m.customer_id >> {BITS_SHIFT})::int AS chunk,
                   (m.customer_id & {BITS_CHUNK - 1})::int AS off
            FROM partners_productdaycustomer m JOIN analytics_touched t ON t.product_id = m.product_id AND t.day = m.day
            CROSS JOIN LATERAL (VALUES (''), (m.source)) u(dim)
            UNION ALL
            SELECT d.product_id, d.day, '{DEVICES_DIM}', (d.device_id >> {BITS_SHIFT})::int, (d.device_id & {BITS_CHUNK - 1})::int
            FROM partners_productdaydevice d JOIN analytics_touched t ON t.product_id = d.product_id AND t.day = d.day
        ) ids
        GROUP BY 1, 2, 3, 4, 5
    ) nibbles
) runs
GROUP BY product_id, dim, day, chunk
ON CONFLICT (product_id, dim, span, day, chunk) DO UPDATE SET bits = EXCLUDED.bits
"""

_MONTH_BITS = """
INSERT INTO partners_productbits (product_id, dim, span, day, chunk, bits)
SELECT b.product_id, b.dim, 'm', tm.month, b.chunk, bit_or(b.bits)
FROM (SELECT DISTINCT product_id, date_trunc('month', day)::date AS month FROM analytics_touched) tm
JOIN partners_productbits b ON b.product_id = tm.product_id AND b.span = 'd'
     AND b.day >= tm.month AND b.day < (tm.month + interval '1 month')::date
GROUP BY b.product_id, b.dim, tm.month, b.chunk
ON CONFLICT (product_id, dim, span, day, chunk) DO UPDATE SET bits = EXCLUDED.bits
"""

# Week bit sets (span 'w', keyed by the Monday), so a range that is not whole months reads weeks
# and only the days at its edges.
_WEEK_BITS = """
INSERT INTO partners_productbits (product_id, dim, span, day, chunk, bits)
SELECT b.product_id, b.dim, 'w', tw.week, b.chunk, bit_or(b.bits)
FROM (SELECT DISTINCT product_id, date_trunc('week', day)::date AS week FROM analytics_touched) tw
JOIN partners_productbits b ON b.product_id = tw.product_id AND b.span = 'd' AND b.day >= tw.week AND b.day < tw.week + 7
GROUP BY b.product_id, b.dim, tw.week, b.chunk
ON CONFLICT (product_id, dim, span, day, chunk) DO UPDATE SET bits = EXCLUDED.bits
"""

_CELL_STEPS = (
    ("people", _PEOPLE),
    ("reorder_cells", _REORDER_CELLS),
    ("day_bits", _DAY_BITS),
    ("week_bits", _WEEK_BITS),
    ("month_bits", _MONTH_BITS),
)

# Batch by batch the bit sets only gain ids: the batch's ids are gathered into one bit set per
# (product, dim, day, chunk) by partners_bits_agg (an aggregate over the built-in set_bit, from
# a zero bit set of BITS_CHUNK bits; migration 0005), then OR'ed into the day rows and, united
# per week and per month, into those rows -- and the same per partner (below). Nothing already stored is re-read, and active devices come
# from the batch itself (PostgreSQL needs no ProductDayDevice rows).
_NEW_BITS_TABLE = """
CREATE TEMP TABLE IF NOT EXISTS analytics_newbits (
    product_id bigint, dim text, day date, chunk int, bits bit varying
) ON COMMIT DELETE ROWS
"""
_NEW_BITS = f"""
INSERT INTO analytics_newbits
SELECT product_id, source, day, (customer_id >> {BITS_SHIFT})::int, partners_bits_agg((customer_id & {BITS_CHUNK - 1})::int, 1)::varbit
FROM analytics_members GROUP BY 1, 2, 3, 4
UNION ALL
SELECT product_id, '{DEVICES_DIM}', day, (device_id >> {BITS_SHIFT})::int, partners_bits_agg((device_id & {BITS_CHUNK - 1})::int, 1)::varbit
FROM (SELECT DISTINCT product_id, day, device_id FROM analytics_batch WHERE product_id IS NOT NULL AND device_id <> 0) d
GROUP BY 1, 2, 3, 4
"""
# All sources together (dim ''): the union of the per-source sets just built.
_NEW_BITS_ALL = f"""
INSERT INTO analytics_newbits
SELECT product_id, '', day, chunk, bit_or(bits) FROM analytics_newbits WHERE dim <> '{DEVICES_DIM}' GROUP BY 1, 3, 4
"""


def _or_bits(table: str, owner: str, source: str, span: str, unit: str | None = None, shard: int | None = None) -> str:
    """A batch's new bit sets (`source`: one row per owner, dim, day and chunk) OR'ed into `table`'s
    rows of a span: per day as they are, or united per week or month (`unit`). `owner` is the key
    column (product_id, partner_id); the partner rows also carry the writing shard's number."""
    day = "day" if unit is None else f"date_trunc('{unit}', day::timestamp)::date"
    bits = "bits" if unit is None else "bit_or(bits)"
    grouped = "" if unit is None else f" GROUP BY {owner}, dim, {day}, chunk"
    shard_column, shard_value = ("", "") if shard is None else (", shard", f", {int(shard)}")
    return f"""
INSERT INTO {table} AS b ({owner}{shard_column}, dim, span, day, chunk, bits)
SELECT {owner}{shard_value}, dim, '{span}', {day}, chunk, {bits} FROM {source}{grouped}
ORDER BY {owner}, dim, {day}, chunk
ON CONFLICT ({owner}{shard_column}, dim, span, day, chunk) DO UPDATE SET bits = b.bits | EXCLUDED.bits
"""


_OR_DAY_BITS = _or_bits("partners_productbits", "product_id", "analytics_newbits", "d")
_OR_WEEK_BITS = _or_bits("partners_productbits", "product_id", "analytics_newbits", "w", "week")
_OR_MONTH_BITS = _or_bits("partners_productbits", "product_id", "analytics_newbits", "m", "month")

# The same bit sets united over each partner's products (partners_partnerbits, migration 0008),
# one row per shard so that the shards never write the same rows: a figure over a partner's
# whole catalog ORs a handful of rows per piece of its range instead of one per product.
_PARTNER_NEW_BITS_TABLE = """
CREATE TEMP TABLE IF NOT EXISTS analytics_partnerbits (
    partner_id bigint, dim text, day date, chunk int, bits bit varying
) ON COMMIT DELETE ROWS
"""
_PARTNER_NEW_BITS = """
INSERT INTO analytics_partnerbits
SELECT p.partner_id, n.dim, n.day, n.chunk, bit_or(n.bits)
FROM analytics_newbits n JOIN partners_product p ON p.id = n.product_id GROUP BY 1, 2, 3, 4
"""


_PARTNER_BITS = ("partners_partnerbits", "partner_id", "analytics_partnerbits")  # _or_bits' table, owner, source


# Temporary tables live in the session's local buffers (8 MB by default): a batch's facts spill
# to disk and every step reads them back. The size can only be set before the session's first
# temporary table; setting the same value again is allowed, anything else fails harmlessly
# inside the savepoint (and the batch runs with what the session has).
TEMP_BUFFERS = "256MB"
# A bit set of BITS_CHUNK bits is stored compressed (a day's few dozen ids take about a hundred
# bytes); lz4 compresses and expands it several times faster than the default pglz, in the batch's
# temporary tables as in partners_productbits (migration 0006). A server built without lz4 keeps pglz.
_SESSION = (f"SET temp_buffers = '{TEMP_BUFFERS}'", "SET LOCAL default_toast_compression = lz4")


def _temp_tables(cursor, *tables: str) -> None:
    for setting in _SESSION:
        try:
            with transaction.atomic():
                cursor.execute(setting)
        except DatabaseError:
            pass
    for table in tables:
        cursor.execute(table)


# A batch's temporary tables by name: created for each batch's connection, emptied after it.
_BATCH_TEMP_TABLES = {
    "analytics_batch": _BATCH_TABLE,
    "analytics_members": _BATCH_MEMBERS_TABLE,
    "analytics_daysums": _DAY_SUMS_TABLE,
    "analytics_daysamples": _DAY_SAMPLES_TABLE,
    "analytics_reorders": _REORDER_ROWS_TABLE,
    "analytics_newbits": _NEW_BITS_TABLE,
    "analytics_partnerbits": _PARTNER_NEW_BITS_TABLE,
}


# A batch reads hundreds of thousands of facts, but PostgreSQL plans the read expecting a
# handful: the shard's filter (`mod(product_id, shards) = shard`, _FILL) looks selective to it,
# and the order feed's id bounds are unknown until the statement runs. It then looks up each
# fact's time zone, and each order's timeline, one row at a time by index. Every feed is read
# with nested loops off, so those come from hash joins (10M copy: the order feed's 1M-id read
# 1.20 s against 1.55 s, the device feed's 667k ids 0.81 s against 1.34 s, medians).
FILL_PLANNER = (("enable_nestloop", "off"),)


@contextmanager
def _planner(cursor, settings_: tuple[tuple[str, str], ...]):
    """Planner settings for one statement: set for the transaction, then put back as they were.
    (Not when the statement fails: the transaction is then aborted, and its rollback undoes them.)"""
    saved = []
    for name, value in settings_:
        cursor.execute("SELECT current_setting(%s), set_config(%s, %s, true)", [name, name, value])
        saved.append((name, cursor.fetchone()[0]))
    yield
    for name, value in reversed(saved):
        cursor.execute("SELECT set_config(%s, %s, true)", [name, value])


def _apply_postgresql(ranges: list[tuple[FactFeed, int, int]], spent: dict, shard: int, count: int) -> int:
    with connection.cursor() as cursor:
        _temp_tables(cursor, *_BATCH_TEMP_TABLES.values())
        facts = 0
        timings = []
        for feed, lo, hi in ranges:
            started = time.perf_counter()
            params = {"tz": settings.DASH_DEFAULT_TIME_ZONE, "lo": lo, "hi": hi, "shards": count, "shard": shard}
            with _planner(cursor, FILL_PLANNER):
                cursor.execute(_FILL.format(feed=feed.sql), params)
                facts += cursor.rowcount
            timings.append((feed.name, time.perf_counter() - started))
        if facts:
            cursor.execute("ANALYZE analytics_batch")
            steps = (
                ("batch_members", _BATCH_MEMBERS),
                ("day_sums", _DAY_SUMS),
                ("day_samples", _DAY_SAMPLES),
                ("cells", _CELLS),
                ("month_cells", _MONTH_CELLS),
                ("reorder_rows", _REORDER_ROWS),
                ("reorders", _REORDERS),
                ("reorder_months", _REORDER_MONTHS),
                ("last", _LAST_ORDERS),
                ("unmet", _UNMET),
                ("new_bits", _NEW_BITS),
                ("new_bits_all", _NEW_BITS_ALL),
                ("day_bits", _OR_DAY_BITS),
                ("week_bits", _OR_WEEK_BITS),
                ("month_bits", _OR_MONTH_BITS),
                ("partner_bits", _PARTNER_NEW_BITS),
                ("partner_day_bits", _or_bits(*_PARTNER_BITS, "d", shard=shard)),
                ("partner_week_bits", _or_bits(*_PARTNER_BITS, "w", "week", shard)),
                ("partner_month_bits", _or_bits(*_PARTNER_BITS, "m", "month", shard)),
            )
            for name, statement in steps:
                started = time.perf_counter()
                cursor.execute(statement)
                timings.append((name, time.perf_counter() - started))
        for table in _BATCH_TEMP_TABLES:
            cursor.execute(f"TRUNCATE {table}")
    for name, seconds in timings:
        spent[name] = spent.get(name, 0.0) + seconds
    log.debug("analytics_batch facts=%s %s", facts, " ".join(f"{n}={t:.3f}" for n, t in timings))
    return facts


def analytics_cells_rebuild() -> None:
    """Recompute every cell's certificates and bit sets from the membership tables (used by the
    migration that introduced them, 0004; the rollup keeps them current batch by batch). Since
    0005 PostgreSQL writes no ProductDayDevice rows and since 0006 no membership rows at all, so
    on PostgreSQL this only means something for data rolled up before those."""
    with transaction.atomic(), connection.cursor() as cursor:
        if connection.vendor != "postgresql":
            cursor.execute("SELECT DISTINCT product_id, day FROM partners_productdaycustomer")
            _cells_refresh_portable(cursor, {(p, _as_date(d)) for p, d in cursor.fetchall()})
            return
        _temp_tables(cursor, _TOUCHED_TABLE)
        cursor.execute("INSERT INTO analytics_touched SELECT DISTINCT product_id, day FROM partners_productdaycustomer")
        cursor.execute("ANALYZE analytics_touched")
        for _name, statement in _CELL_STEPS:
            cursor.execute(statement)
        cursor.execute("TRUNCATE analytics_touched")


# --- Portable (SQLite): the same aggregation in Python -----------------------------------------


def _as_datetime(value) -> datetime:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    parsed = datetime.fromisoformat(str(value))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _apply_portable(ranges: list[tuple[FactFeed, int, int]]) -> int:
    rows = []
    with connection.cursor() as cursor:
        for feed, lo, hi in ranges:
            cursor.execute(feed.sql, {"lo": lo, "hi": hi})
            rows += [dict(zip(FACT_COLUMNS, row, strict=True)) for row in cursor.fetchall()]
        cursor.execute("SELECT user_id, time_zone FROM partners_customertimezone")
        zones = {uid: ZoneInfo(tz) for uid, tz in cursor.fetchall()}
    default_zone = ZoneInfo(settings.DASH_DEFAULT_TIME_ZONE)
    day_stats: dict = defaultdict(lambda: [0] * (len(METRICS) + 24))
    members: dict = defaultdict(lambda: [0, 0])
    devices: dict = {}
    unmet: dict = defaultdict(int)
    placed: dict = defaultdict(list)
    facts = 0
    for row in rows:
        if row["customer_id"] is None:
            continue
        facts += 1
        at = _as_datetime(row["at"])
        local = at.astimezone(zones.get(row["customer_id"], default_zone))
        day, hour = local.date(), local.hour
        product = row["product_id"]
        if product is None:
            if row["unmet_kind"]:
                unmet[(day, row["unmet_kind"], row["gtin"] or "", row["customer_id"])] += 1
            continue
        counts = day_stats[(product, day, row["source"])]
        member = members[(product, day, row["customer_id"], row["source"])]
        if row["device_id"]:
            key = (product, day, row["device_id"])
            devices[key] = min(devices.get(key, row["customer_id"]), row["customer_id"])
        for i, metric in enumerate(METRICS):
            if row[metric]:
                counts[i] += 1
                member[0] |= METRIC_BITS[metric]
        if row["presses"]:
            member[1] |= 1 << hour
            counts[len(METRICS) + hour] += 1
        if row["placed"]:
            placed[(product, row["customer_id"])].append((at, row["id"], day))
    with connection.cursor() as cursor:
        cols = ", ".join(_DAY_COLUMNS)
        cursor.executemany(
            f"INSERT INTO partners_productdaystat (product_id, day, source, {cols})"
            f" VALUES (%s, %s, %s, {', '.join(['%s'] * len(_DAY_COLUMNS))})"
            f" ON CONFLICT (product_id, day, source) DO UPDATE SET"
            f" {', '.join(f'{c} = {c} + excluded.{c}' for c in _DAY_COLUMNS)}",
            [(p, d.isoformat(), s, *c) for (p, d, s), c in day_stats.items()],
        )
        cursor.executemany(
            "INSERT INTO partners_productdaycustomer (product_id, day, customer_id, source, flags, hours)"
            " VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT (product_id, day, customer_id, source)"
            " DO UPDATE SET flags = flags | excluded.flags, hours = hours | excluded.hours",
            [(p, d.isoformat(), c, s, *m) for (p, d, c, s), m in members.items()],
        )
        cursor.executemany(
            "INSERT INTO partners_productdaydevice (product_id, day, device_id, customer_id) VALUES (%s, %s, %s, %s)"
            " ON CONFLICT (product_id, day, device_id) DO NOTHING",
            [(p, d.isoformat(), dv, c) for (p, d, dv), c in devices.items()],
        )
        cursor.executemany(
            "INSERT INTO partners_unmetdemand (day, kind, gtin, customer_id, requests) VALUES (%s, %s, %s, %s, %s)"
            " ON CONFLICT (day, kind, gtin, customer_id) DO UPDATE SET requests = requests + excluded.requests",
            [(d.isoformat(), k, g, c, n) for (d, k, g, c), n in unmet.items()],
        )
        _reorders_portable(cursor, placed)
        _cells_refresh_portable(cursor, {(p, d) for (p, d, _s) in day_stats})
    return facts


def _as_date(value) -> date:
    return value if isinstance(value, date) else date.fromisoformat(str(value))


def _sample(ids: list[int]) -> list:
    """[count, sample] of a cell's distinct customer ids, as the cells keep them."""
    kept = sorted(ids)[:SAMPLE]
    return [len(kept), ",".join(map(str, kept))]


def _cells_refresh_portable(cursor, touched: set) -> None:
    """The cells' samples (the smallest SAMPLE customer ids) and their sizes, recomputed in Python
    from the membership rows."""
    people_columns = [column for count, sample, _ in _CELL_KEYS for column in (count, sample)]
    updates, reorder_cells = [], []
    for product, day in sorted(touched):
        cursor.execute(
            "SELECT source, customer_id, flags, hours FROM partners_productdaycustomer WHERE product_id = %s AND day = %s",
            [product, day.isoformat()],
        )
        cells: dict = defaultdict(list)
        for source, customer, flags, hours in cursor.fetchall():
            cells[source].append((customer, flags, hours))
        for source, members in cells.items():
            values = []  # in _CELL_KEYS' order: the metrics, then the press hours
            for metric in METRICS:
                values += _sample([c for c, flags, _ in members if flags & METRIC_BITS[metric]])
            for h in range(24):
                values += _sample([c for c, _, hours in members if (hours >> h) & 1])
            updates.append((*values, product, day.isoformat(), source))
        cursor.execute(
            "SELECT bucket, sum(reorders), sum(seconds), group_concat(customer_id) FROM partners_productreorder"
            " WHERE product_id = %s AND day = %s GROUP BY bucket",
            [product, day.isoformat()],
        )
        for bucket, n, seconds, ids in cursor.fetchall():
            reorder_cells.append((product, day.isoformat(), bucket, n, seconds, *_sample([int(i) for i in str(ids).split(",")])))
    cursor.executemany(
        f"UPDATE partners_productdaystat SET {', '.join(f'{c} = %s' for c in people_columns)}"
        " WHERE product_id = %s AND day = %s AND source = %s",
        updates,
    )
    cursor.executemany(
        "INSERT INTO partners_productreordercell (product_id, day, bucket, reorders, seconds, people, s_people)"
        " VALUES (%s, %s, %s, %s, %s, %s, %s) ON CONFLICT (product_id, day, bucket) DO UPDATE SET"
        " reorders = excluded.reorders, seconds = excluded.seconds, people = excluded.people, s_people = excluded.s_people",
        reorder_cells,
    )


def _reorders_portable(cursor, placed: dict) -> None:
    reorders: dict = defaultdict(lambda: [0, 0])
    last_orders = []
    for (product, customer), orders in placed.items():
        cursor.execute("SELECT last_at FROM partners_customerlastorder WHERE product_id = %s AND customer_id = %s", [product, customer])
        found = cursor.fetchone()
        prev = _as_datetime(found[0]) if found else None
        for at, _id, day in sorted(orders, key=lambda o: (o[0], o[1])):
            if prev is not None and prev < at:
                gap = (at - prev).total_seconds()
                cell = reorders[(product, day, customer, reorder_bucket(gap))]
                cell[0] += 1
                cell[1] += int(gap)
            prev = at if prev is None else max(prev, at)
        last_orders.append((product, customer, connection.ops.adapt_datetimefield_value(prev)))
    cursor.executemany(
        "INSERT INTO partners_productreorder (product_id, day, customer_id, bucket, reorders, seconds)"
        " VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT (product_id, day, customer_id, bucket) DO UPDATE SET"
        " reorders = reorders + excluded.reorders, seconds = seconds + excluded.seconds",
        [(p, d.isoformat(), c, b, n, s) for (p, d, c, b), (n, s) in reorders.items()],
    )
    cursor.executemany(
        "INSERT INTO partners_customerlastorder (product_id, customer_id, last_at) VALUES (%s, %s, %s)"
        " ON CONFLICT (product_id, customer_id) DO UPDATE SET last_at = max(last_at, excluded.last_at)",
        last_orders,
    )
