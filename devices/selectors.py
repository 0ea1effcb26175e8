"""Reads for devices. `intake_context` is the intake's hot path: one statement that answers
who the device is, whether this event was seen, and which order is in progress."""

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connections
from django.db.models import Count, QuerySet

from dash.hotpath import hot_fetchone
from devices.models import Device, DeviceEvent
from devices.throttle import ThrottleWindow
from orders.models import IN_PROGRESS_SQL

_CONTEXT_COLUMNS = """
SELECT d.id, d.serial, d.kind, d.customer_id, d.paused, d.quantity, d.hold_seconds, d.last_seen_at,
       p.id, p.sku, p.name, p.price, p.max_quantity, p.active,
       e.status_code, e.response_body, e.body_hash,
       o.id, o.public_id, o.status, o.quantity, o.hold_until, o.version,
       cs.default_hold_seconds,
       {window}
  FROM devices_device d
  LEFT JOIN partners_product p ON p.id = d.product_id
  LEFT JOIN orders_customersettings cs ON cs.customer_id = d.customer_id
"""
# PostgreSQL: the statement is prepared once and then runs with a generic plan; LATERAL ...
# LIMIT 1 pins that plan to the two unique index lookups whatever the tables' sizes (a plain
# join let the generic plan drift to scans as the event log grew: 1.7 ms a call, measured).
CONTEXT_SQL_POSTGRESQL = _CONTEXT_COLUMNS.format(window="w.n, w.oldest") + f"""
  LEFT JOIN LATERAL (SELECT status_code, response_body, body_hash FROM devices_deviceevent
                      WHERE device_id = d.id AND event_id = %s LIMIT 1) e ON true
  LEFT JOIN LATERAL (SELECT id, public_id, status, quantity, hold_until, version FROM orders_order
                      WHERE customer_id = d.customer_id AND product_id = d.product_id
                        AND status IN ({IN_PROGRESS_SQL}) LIMIT 1) o ON true
  LEFT JOIN LATERAL (SELECT count(*) AS n, min(received_at) AS oldest
                       FROM (SELECT received_at FROM devices_deviceevent
                              WHERE device_id = d.id AND received_at > %s
                              ORDER BY received_at DESC LIMIT %s) latest) w ON true
 WHERE d.token_hash = %s AND d.token_revoked_at IS NULL
"""
# SQLite (the embedded mode) has no LATERAL and plans every statement afresh.
_WINDOW_SQLITE = """
       (SELECT count(*) FROM (SELECT 1 FROM devices_deviceevent
                               WHERE device_id = d.id AND received_at > %s LIMIT %s)),
       (SELECT min(received_at) FROM (SELECT received_at FROM devices_deviceevent
                                       WHERE device_id = d.id AND received_at > %s
                                       ORDER BY received_at DESC LIMIT %s))"""
_CONTEXT_SQL_OTHER = _CONTEXT_COLUMNS.format(window=_WINDOW_SQLITE) + f"""
  LEFT JOIN devices_deviceevent e ON e.device_id = d.id AND e.event_id = %s
  LEFT JOIN orders_order o ON o.customer_id = d.customer_id AND o.product_id = d.product_id
                          AND o.status IN ({IN_PROGRESS_SQL})
 WHERE d.token_hash = %s AND d.token_revoked_at IS NULL
"""


def _hold_seconds(*, device: int | None, customer: int | None) -> int:
    if device is not None:
        return device
    return settings.DASH_HOLD_SECONDS if customer is None else customer


def _dt(value) -> datetime | None:
    """PostgreSQL returns aware datetimes; SQLite naive UTC datetimes (or text)."""
    if value is None:
        return None
    if not isinstance(value, datetime):
        value = datetime.fromisoformat(value)
    return value if value.tzinfo else value.replace(tzinfo=UTC)


@dataclass(frozen=True)
class IntakeProduct:
    id: int
    sku: str
    name: str
    price: Decimal
    max_quantity: int
    active: bool


@dataclass(frozen=True)
class StoredAnswer:
    status_code: int
    body: bytes
    body_hash: str


@dataclass(frozen=True)
class OrderRef:
    id: int
    public_id: uuid.UUID
    status: str
    quantity: int
    hold_until: datetime | None
    version: int


@dataclass(frozen=True)
class IntakeContext:
    device_id: int
    serial: str
    kind: str
    customer_id: int | None
    paused: bool
    quantity: int
    hold_seconds: int  # resolved: the device's own window, else the customer's, else the site's
    last_seen_at: datetime | None
    product: IntakeProduct | None
    stored: StoredAnswer | None
    order_in_progress: OrderRef | None
    # The throttle's window: how many of the device's latest events fall in it, and the oldest.
    recent_events: int
    oldest_recent_event: datetime | None


# The context query's columns, in order (the intake's one-statement press wraps the query in
# a CTE with these names: devices.services).
CONTEXT_COLUMNS = (
    "device_id", "serial", "kind", "customer_id", "paused", "quantity", "hold_seconds", "last_seen_at",
    "product_id", "sku", "name", "price", "max_quantity", "active",
    "stored_status", "stored_body", "stored_hash",
    "order_id", "public_id", "status", "order_quantity", "hold_until", "version",
    "default_hold_seconds", "recent", "oldest",
)  # fmt: skip


def intake_context(*, token_hash: str, event_id: str, window: ThrottleWindow) -> IntakeContext | None:
    """None when the token is unknown or revoked."""
    conn = connections[DEFAULT_DB_ALIAS]
    since = conn.ops.adapt_datetimefield_value(window.since)
    if conn.vendor == "postgresql":
        sql, params = CONTEXT_SQL_POSTGRESQL, [event_id, since, window.limit, token_hash]
    else:
        sql, params = _CONTEXT_SQL_OTHER, [since, window.limit, since, window.limit, event_id, token_hash]
    row = hot_fetchone(sql, params)
    return None if row is None else context_of(row)


def context_of(row: tuple) -> IntakeContext:
    """The context from a row that starts with CONTEXT_COLUMNS."""
    product = None
    if row[8] is not None:
        product = IntakeProduct(
            id=row[8], sku=row[9], name=row[10], price=Decimal(str(row[11])), max_quantity=row[12], active=bool(row[13])
        )
    stored = None
    if row[14] is not None:
        stored = StoredAnswer(status_code=row[14], body=bytes(row[15]), body_hash=row[16])
    order = None
    if row[17] is not None:
        public_id = row[18] if isinstance(row[18], uuid.UUID) else uuid.UUID(row[18])
        order = OrderRef(id=row[17], public_id=public_id, status=row[19], quantity=row[20], hold_until=_dt(row[21]), version=row[22])
    return IntakeContext(
        device_id=row[0],
        serial=row[1],
        kind=row[2],
        customer_id=row[3],
        paused=bool(row[4]),
        quantity=row[5],
        hold_seconds=_hold_seconds(device=row[6], customer=row[23]),
        last_seen_at=_dt(row[7]),
        product=product,
        stored=stored,
        order_in_progress=order,
        recent_events=row[24] or 0,
        oldest_recent_event=_dt(row[25]),
    )


def stored_answer(*, device_id: int, event_id: str) -> StoredAnswer | None:
    row = DeviceEvent.objects.filter(device_id=device_id, event_id=event_id).values_list("status_code", "response_body", "body_hash").first()
    return StoredAnswer(status_code=row[0], body=bytes(row[1]), body_hash=row[2]) if row else None


def device_for_token(*, token_hash: str) -> Device | None:
    return Device.objects.filter(token_hash=token_hash, token_revoked_at__isnull=True).first()


def devices_for_customer(*, customer_id: int) -> QuerySet[Device]:
    return Device.objects.filter(customer_id=customer_id).select_related("product")


def device_for_customer(*, customer_id: int, serial: str) -> Device:
    """Raises Device.DoesNotExist for any device not the customer's own (a 404)."""
    return Device.objects.select_related("product").get(customer_id=customer_id, serial=serial)


def filtered_presses_by_order(*, customer_id: int, order_ids: list[int]) -> dict[int, int]:
    """Events answered `order_in_progress` per order: the presses that placed nothing because
    the order was already on its way. Registered with `orders.facts` (devices.apps).

    The event log has no index on `order_id` (each would cost the intake an index write), so
    the query is pinned to the customer's devices: the unique (device_id, event_id) index has
    device_id leading, and the retention window bounds how many rows each device has."""
    rows = (
        DeviceEvent.objects.filter(
            device_id__in=Device.objects.filter(customer_id=customer_id).values("id"),
            order_id__in=order_ids,
            outcome="order_in_progress",
        )
        .values("order_id")
        .annotate(n=Count("id"))
        .values_list("order_id", "n")
    )
    return dict(rows)


def press_count_window_hours() -> int:
    """Press counts cover the event log's retention window (older events are pruned)."""
    return settings.DASH_EVENT_RETENTION_HOURS


def press_counts_for_customer(*, customer_id: int) -> dict[int, int]:
    """Presses each of the customer's devices sent within the retention window, whatever
    their outcome. Per device on the (device_id, event_id) index."""
    rows = (
        DeviceEvent.objects.filter(device_id__in=Device.objects.filter(customer_id=customer_id).values("id"), type="press")
        .values("device_id")
        .annotate(n=Count("id"))
        .values_list("device_id", "n")
    )
    return dict(rows)
