"""The facts the rollups consume, pushed down by the apps above partners.

Analytics needs presses (devices) and order transitions (orders), but partners sits below both
and never imports them. Each of those apps registers a `FactFeed` when it starts (its
AppConfig.ready): a SELECT over its own tables that yields one row per fact in the shape below,
for source ids in a half-open range. The rollup owns the watermark and the aggregation; the
feed owns what its rows mean.

Columns every feed's SELECT yields, in this order:
    id           the source row id (the watermark moves over it)
    at           when it happened (timestamp with time zone)
    customer_id  the customer (rows without one are skipped)
    product_id   the catalog product, or NULL when the request named nothing known
    device_id    the device, 0 for facts not tied to one (order timeline)
    source       button / scan / voice / appliance / web
    presses, placed, filtered, paused, cancelled, delivered, failed   0 or 1
    unmet_kind   '' or the kind of unmet request (scan / voice / button) when product_id is NULL
    gtin         the barcode asked for ('' when none)

The SQL must be portable between PostgreSQL and SQLite (>= 3.38 for ->>), take %(lo)s and
%(hi)s (lo < id <= hi), and use only the feed's own tables and partners' ones.
"""

from dataclasses import dataclass

FACT_COLUMNS = (
    "id",
    "at",
    "customer_id",
    "product_id",
    "device_id",
    "source",
    "presses",
    "placed",
    "filtered",
    "paused",
    "cancelled",
    "delivered",
    "failed",
    "unmet_kind",
    "gtin",
)
METRICS = ("presses", "placed", "filtered", "paused", "cancelled", "delivered", "failed")
# Bit of each metric in ProductDayCustomer.flags.
METRIC_BITS = {name: 1 << i for i, name in enumerate(METRICS)}
SOURCES = ("button", "scan", "voice", "appliance", "web")


@dataclass(frozen=True)
class FactFeed:
    name: str  # the watermark's key
    table: str  # the source table (its `id` is the watermark's column)
    time_column: str  # an indexed timestamp column, for the safe horizon
    sql: str  # SELECT ... WHERE <table>.id > %(lo)s AND <table>.id <= %(hi)s


_FEEDS: dict[str, FactFeed] = {}


def feed_register(feed: FactFeed) -> None:
    """Called by a higher app's AppConfig.ready(); registering the same name again replaces it."""
    _FEEDS[feed.name] = feed


def feeds() -> list[FactFeed]:
    return [_FEEDS[name] for name in sorted(_FEEDS)]


def feed_named(name: str) -> FactFeed | None:
    return _FEEDS.get(name)
