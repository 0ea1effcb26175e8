"""The order timeline as a fact feed for partner analytics (see partners/analytics/feeds.py).

`placed` is an order's first timeline entry (no from-state), whatever its source (button, scan,
voice, appliance, web); `cancelled` counts removals during the hold (from held or
needs_confirmation) -- an operator cancelling a failed order is not a customer's change of
mind; `delivered` and `failed` are transitions into those states.

The orders a range of the timeline refers to are recent ones: bounding the join by the lowest
and highest order id in the range (both from one pass over the range, `bounds`) lets PostgreSQL
read only those from the primary key, instead of hashing every order ever placed for each batch.
(`+ 0` keeps the bounds from being looked up by walking the order_id index from an end, which
passes every older or newer order.)
"""

from partners.analytics.feeds import FactFeed, feed_register

ORDER_EVENTS_FEED = "order_events"

_SQL = """
WITH bounds AS MATERIALIZED (
    SELECT min(order_id + 0) AS lo, max(order_id + 0) AS hi FROM orders_orderevent WHERE id > %(lo)s AND id <= %(hi)s
)
SELECT
    oe.id,
    oe.at,
    o.customer_id,
    o.product_id,
    0 AS device_id,
    o.source,
    0 AS presses,
    CASE WHEN oe.from_status = '' THEN 1 ELSE 0 END AS placed,
    0 AS filtered,
    0 AS paused,
    CASE WHEN oe.to_status = 'cancelled' AND oe.from_status IN ('held', 'needs_confirmation') THEN 1 ELSE 0 END AS cancelled,
    CASE WHEN oe.to_status = 'delivered' THEN 1 ELSE 0 END AS delivered,
    CASE WHEN oe.to_status = 'failed' THEN 1 ELSE 0 END AS failed,
    '' AS unmet_kind,
    '' AS gtin
FROM orders_orderevent oe
JOIN orders_order o ON o.id = oe.order_id
    AND o.id BETWEEN (SELECT lo FROM bounds) AND (SELECT hi FROM bounds)
WHERE oe.id > %(lo)s AND oe.id <= %(hi)s
  AND (oe.from_status = ''
       OR oe.to_status IN ('delivered', 'failed')
       OR (oe.to_status = 'cancelled' AND oe.from_status IN ('held', 'needs_confirmation')))
"""


def register() -> None:
    feed_register(FactFeed(name=ORDER_EVENTS_FEED, table="orders_orderevent", time_column="at", sql=_SQL))
