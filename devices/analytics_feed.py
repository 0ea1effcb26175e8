"""The device event log as a fact feed for partner analytics (see partners/analytics/feeds.py).

One row per event that a customer's device sent: presses, scans, spoken orders and appliance
requests count as `presses` for the product they named; `order_in_progress` is `filtered`
(replays are never logged twice, so the log holds no duplicates to filter); `device_paused` is
`paused`; `unknown_product` is unmet demand (an unknown barcode in payload.gtin, a spoken order
not understood, a button bound to nothing). Orders placed, cancelled, delivered and failed
come from the order timeline's feed, not from here. `recorded` (a supply level above its
threshold) and `device_unclaimed` events are not requests by a customer and are skipped.

An event refers to an order placed by it or one still in progress, so the orders a range of the
log refers to lie between the lowest and highest order id in the range: the join is bounded by
them (both from one pass over the range, `bounds`), and each batch reads those orders from the primary key rather than hashing all of them
(`+ 0`: the bounds come from the range's rows, not from walking the order_id index past every
older or newer order).
"""

from partners.analytics.feeds import FactFeed, feed_register

DEVICE_EVENTS_FEED = "device_events"

_SQL = """
WITH bounds AS MATERIALIZED (
    SELECT min(order_id + 0) AS lo, max(order_id + 0) AS hi FROM devices_deviceevent WHERE id > %(lo)s AND id <= %(hi)s
)
SELECT
    e.id,
    e.received_at AS at,
    COALESCE(o.customer_id, d.customer_id) AS customer_id,
    CASE WHEN e.outcome = 'unknown_product' THEN NULL
         ELSE COALESCE(o.product_id, p.id, CASE WHEN d.kind = 'button' THEN d.product_id END) END AS product_id,
    e.device_id,
    CASE WHEN d.kind = 'button' THEN 'button'
         WHEN d.kind = 'appliance' OR e.type = 'slot_status' THEN 'appliance'
         WHEN e.type = 'voice' THEN 'voice'
         ELSE 'scan' END AS source,
    1 AS presses,
    0 AS placed,
    CASE WHEN e.outcome = 'order_in_progress' THEN 1 ELSE 0 END AS filtered,
    CASE WHEN e.outcome = 'device_paused' THEN 1 ELSE 0 END AS paused,
    0 AS cancelled,
    0 AS delivered,
    0 AS failed,
    CASE WHEN e.outcome <> 'unknown_product' THEN ''
         WHEN d.kind = 'button' THEN 'button'
         WHEN e.type = 'voice' THEN 'voice'
         WHEN d.kind = 'appliance' OR e.type = 'slot_status' THEN 'appliance'
         ELSE 'scan' END AS unmet_kind,
    COALESCE(e.payload ->> 'gtin', '') AS gtin
FROM devices_deviceevent e
JOIN devices_device d ON d.id = e.device_id
LEFT JOIN orders_order o ON o.id = e.order_id
    AND o.id BETWEEN (SELECT lo FROM bounds) AND (SELECT hi FROM bounds)
LEFT JOIN partners_product p ON e.order_id IS NULL AND e.outcome <> 'unknown_product' AND p.gtin = e.payload ->> 'gtin'
WHERE e.id > %(lo)s AND e.id <= %(hi)s
  AND e.outcome NOT IN ('device_unclaimed', 'recorded')
"""


def register() -> None:
    feed_register(FactFeed(name=DEVICE_EVENTS_FEED, table="devices_deviceevent", time_column="received_at", sql=_SQL))
