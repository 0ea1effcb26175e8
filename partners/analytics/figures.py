"""The portal's tables, named once: pages, CSV export and the partner API serve the same ones."""

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from django.conf import settings

from partners.analytics import selectors
from partners.analytics.feeds import METRICS
from partners.analytics.selectors import Scope
from partners.models import Partner, Product

DEFAULT_DAYS = 28
MAX_DAYS = 366


class RangeError(ValueError):
    """A date range the portal cannot serve; the message says why."""

    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field = field
        self.message = message


def today() -> date:
    return datetime.now(ZoneInfo(settings.DASH_DEFAULT_TIME_ZONE)).date()


def _parse(value: str | None, field: str) -> date | None:
    if value in (None, ""):
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise RangeError(field, f"{field} must be a date like 2026-11-01.") from None


def date_range(*, start: str | None, end: str | None) -> tuple[date, date]:
    """The inclusive range asked for; by default the last 28 days up to today."""
    end_day = _parse(end, "end") or today()
    start_day = _parse(start, "start") or end_day - timedelta(days=DEFAULT_DAYS - 1)
    if start_day > end_day:
        raise RangeError("start", "start must not be after end.")
    if (end_day - start_day).days + 1 > MAX_DAYS:
        raise RangeError("start", f"A range covers at most {MAX_DAYS} days.")
    return start_day, end_day


def scope_for(*, partner: Partner | None, product: Product | None, start: date, end: date) -> Scope:
    if product is not None:
        ids = (product.pk,)
    else:
        ids = tuple(selectors.scope_products(partner=partner).values_list("pk", flat=True))
    return Scope(partner=partner, product_ids=ids, start=start, end=end, whole_partner=product is None and partner is not None)


@dataclass(frozen=True)
class Table:
    name: str
    title: str
    columns: tuple[str, ...]
    rows: list[dict]


METRIC_TITLES = {
    "presses": "Presses",
    "placed": "Orders placed",
    "filtered": "Filtered (in progress)",
    "paused": "Paused device",
    "cancelled": "Cancelled in the hold",
    "delivered": "Delivered",
    "failed": "Failed",
}


def table(name: str, *, scope: Scope) -> Table:
    """One of TABLE_NAMES for the scope; every figure already suppressed below the threshold."""
    if name == "totals":
        figures = selectors.totals(scope=scope)
        rows = [{"figure": key, "value": figures[key]} for key in (*METRICS, "customers", "active_devices")]
        return Table(name, "Totals", ("figure", "value"), rows)
    if name == "daily":
        return Table(name, "By day", ("day", *METRICS), selectors.daily(scope=scope))
    if name == "heatmap":
        rows = [
            {"weekday": row["name"], **{f"h{hour:02d}": value for hour, value in enumerate(row["hours"])}}
            for row in selectors.heatmap(scope=scope)
        ]
        return Table(name, "Presses by weekday and hour", ("weekday", *(f"h{h:02d}" for h in range(24))), rows)
    if name == "sources":
        return Table(name, "By source", ("source", "customers", *METRICS), selectors.by_source(scope=scope))
    if name == "products":
        return Table(name, "By product", ("sku", "name", "gtin", "customers", *METRICS), selectors.by_product(scope=scope))
    if name == "reorders":
        figures = selectors.reorders(scope=scope)
        return Table(name, "Time between reorders", ("bucket", "reorders"), figures["buckets"])
    if name == "unmet":
        rows = selectors.unmet_demand(partner=scope.partner, start=scope.start, end=scope.end)
        return Table(name, "Unmet demand", ("kind", "gtin", "requests", "customers"), rows)
    raise KeyError(name)


TABLE_NAMES = ("totals", "daily", "heatmap", "sources", "products", "reorders", "unmet")
