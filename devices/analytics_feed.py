"""The device event log as a fact feed for partner analytics (see partners/analytics/feeds.py).

One row per event that a customer's device sent: presses, scans, spoken orders and appliance
requests count as `presses` for the product they named; `order_in_progress` is `filtered`
(replays are never logged twice, so the log holds no duplicates to filter); `device_paused` is
`paused`; `unknown_product` is unmet demand (an unknown barcode in payload.gtin, a spoken order
not understood, a button bound to nothing). Orders placed, cancelled, delivered and failed
come from the order timeline's feed, not from here. `recorded` (a supply level above its
threshold) and `device_unclaimed` events are not requests by a customer and are skipped.

The event carries its customer and the product it named, as the intake knew them
(DeviceEvent.customer and .product), and its type says which kind of device sent it -- a
`press` comes only from a button, a `scan` or `voice` only from a wand, a `slot_status` only
from an appliance (devices.services._decide_and_record, devices.voice) -- so a range of the log
is read alone, without joining the devices, the orders or the catalog. Each rollup shard keeps
only its own products' rows (`partners.analytics.rollup._FILL`), a filter on the event's own
column, so the rows of the other shards are dropped as they are read.
"""

from partners.analytics.feeds import FactFeed, feed_register

DEVICE_EVENTS_FEED = "device_events"

_SOURCE = "CASE e.type WHEN 'press' THEN 'button' WHEN 'slot_status' THEN 'appliance' WHEN 'voice' THEN 'voice' ELSE 'scan' END"

_SQL = f"""
SELECT
    e.id,
    e.received_at AS at,
    e.customer_id,
    e.product_id,
    e.device_id,
    {_SOURCE} AS source,
    1 AS presses,
    0 AS placed,
    CASE WHEN e.outcome = 'order_in_progress' THEN 1 ELSE 0 END AS filtered,
    CASE WHEN e.outcome = 'device_paused' THEN 1 ELSE 0 END AS paused,
    0 AS cancelled,
    0 AS delivered,
    0 AS failed,
    CASE WHEN e.outcome = 'unknown_product' THEN {_SOURCE} ELSE '' END AS unmet_kind,
    CASE WHEN e.outcome = 'unknown_product' THEN COALESCE(e.payload ->> 'gtin', '') ELSE '' END AS gtin
FROM devices_deviceevent e
WHERE e.id > %(lo)s AND e.id <= %(hi)s
  AND e.outcome NOT IN ('device_unclaimed', 'recorded')
"""


def register() -> None:
    feed_register(FactFeed(name=DEVICE_EVENTS_FEED, table="devices_deviceevent", time_column="received_at", sql=_SQL))
