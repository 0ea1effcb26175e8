"""Synthetic shoppers: weeks of realistic device events, orders and order timelines.

Used by `seed_demo` (so the partner portal has something to show) and by the analytics tests
(as generated data to recount by brute force). Everything is written in time order, so ids rise
with time as they do in production. Each shopper has a few buttons and sometimes a wand; presses
come in the morning and evening of the shopper's own day, often twice in a row (the second
answers order_in_progress); some orders are removed during the hold, a few fail, the rest are
delivered a day or two later; wands also scan barcodes the catalog doesn't know.
"""

import hashlib
import random
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import orjson
from django.conf import settings
from django.db import transaction
from stdnum import ean

from devices import credentials
from devices.intake import answer_body
from devices.models import Device, DeviceEvent, DeviceKind
from orders.models import IN_PROGRESS, Order, OrderEvent, OrderSource, OrderStatus

# Local hours weighted like a household's day: a morning peak and a larger evening one.
HOUR_WEIGHTS = (1, 0, 0, 0, 0, 1, 3, 8, 9, 5, 3, 3, 4, 3, 3, 3, 4, 6, 9, 12, 10, 7, 4, 2)


@dataclass(frozen=True)
class HistorySize:
    devices: int
    events: int
    orders: int
    order_events: int


def _unknown_gtin(rng: random.Random, prefix: str) -> str:
    """A GTIN-13 with this prefix, its item number beyond the demo catalog's (99000+)."""
    body = prefix + f"{rng.randrange(99000, 99999):05d}"
    body = body[:12].ljust(12, "0")
    return body + ean.calc_check_digit(body)


@transaction.atomic
def history_generate(
    *,
    customers: list,
    products: list,
    end: datetime,
    days: int = 28,
    seed: int = 6,
    serial_prefix: str = "SIM",
    unknown_gtins: tuple[str, ...] = (),
) -> HistorySize:
    """Write `days` of history ending at `end` for the given customers over the given products.

    Deterministic for a given seed. Creates each shopper's devices (serials `<prefix>-...`);
    orders still in progress at `end` stay in progress (one per customer and product).
    """
    rng = random.Random(seed)
    # Barcodes the catalog doesn't know: a few items shoppers keep scanning (a partner sees
    # those sharing its company prefix), by default near the first product's GTIN.
    unknown_gtins = unknown_gtins or tuple(_unknown_gtin(rng, products[0].gtin[:7]) for _ in range(3))
    zone = ZoneInfo(settings.DASH_DEFAULT_TIME_ZONE)
    start_day = (end.astimezone(zone) - timedelta(days=days)).date()
    devices: list[Device] = []
    for c_index, customer in enumerate(customers):
        for b_index, product in enumerate(rng.sample(products, k=min(len(products), rng.randint(1, 3)))):
            creds = credentials.new_credentials(DeviceKind.BUTTON)
            devices.append(
                Device(
                    serial=f"{serial_prefix}-{c_index:04d}-{b_index}",
                    kind=DeviceKind.BUTTON,
                    token_hash=creds.token_hash,
                    claim_code=creds.claim_code,
                    customer=customer,
                    product=product,
                    name=product.name[:80],
                    claimed_at=end - timedelta(days=days + 1),
                )
            )
        if rng.random() < 0.5:
            creds = credentials.new_credentials(DeviceKind.WAND)
            devices.append(
                Device(
                    serial=f"{serial_prefix}-{c_index:04d}-W",
                    kind=DeviceKind.WAND,
                    token_hash=creds.token_hash,
                    claim_code=creds.claim_code,
                    customer=customer,
                    name="Wand",
                    claimed_at=end - timedelta(days=days + 1),
                )
            )
    Device.objects.bulk_create(devices)
    devices = list(Device.objects.filter(serial__in=[d.serial for d in devices]).select_related("product"))

    # Plan every request first, then play them in time order.
    plans = []
    for device in devices:
        for offset in range(days):
            day = start_day + timedelta(days=offset)
            if rng.random() >= (0.22 if device.kind == DeviceKind.BUTTON else 0.08):
                continue
            hour = rng.choices(range(24), weights=HOUR_WEIGHTS)[0]
            local = datetime(day.year, day.month, day.day, hour, rng.randrange(60), rng.randrange(60), tzinfo=zone)
            at = local.astimezone(end.tzinfo)
            if at >= end:
                continue
            repeats = 1 + (rng.random() < 0.35) + (rng.random() < 0.1)
            for r in range(repeats):
                plans.append((at + timedelta(seconds=3 * r), device, r))
    plans.sort(key=lambda p: (p[0], p[1].pk, p[2]))

    # Orders already in progress (an earlier history, real presses) keep blocking new ones.
    open_orders: dict[tuple[int, int], Order] = {}
    for order in Order.objects.filter(customer__in=customers, status__in=IN_PROGRESS):
        order._ends_at = end
        open_orders[(order.customer_id, order.product_id)] = order
    timeline: list[tuple[datetime, Order, str, str]] = []  # (at, order, from, to)
    orders: list[Order] = []
    events: list[DeviceEvent] = []
    for at, device, _repeat in plans:
        # Orders whose life ended before this request no longer block a new one.
        for key, order in list(open_orders.items()):
            if order._ends_at <= at:
                del open_orders[key]
        outcome, order, status, payload = None, None, 200, {}
        if device.kind == DeviceKind.WAND:
            payload = {"gtin": rng.choice(unknown_gtins)}
            outcome, status = "unknown_product", 422
            event_type = "scan"
        else:
            event_type = "press"
            key = (device.customer_id, device.product_id)
            if rng.random() < 0.03:
                outcome, status = "device_paused", 409
            elif key in open_orders:
                outcome, order = "order_in_progress", open_orders[key]
            else:
                outcome, status = "order_placed", 201
                order = _order_plan(rng, device, at, end, timeline)
                orders.append(order)
                open_orders[key] = order
        event_id = uuid.UUID(int=rng.getrandbits(128)).hex
        raw = orjson.dumps({"event_id": event_id, "type": event_type, **payload})
        events.append(
            DeviceEvent(
                device=device,
                event_id=event_id,
                type=event_type,
                payload=payload,
                body_hash=hashlib.sha256(raw).hexdigest(),
                outcome=outcome,
                status_code=status,
                response_body=answer_body(event_id=event_id, outcome=outcome, detail="(demo history)", order=None),
                order=order,
                customer_id=device.customer_id,
                product_id=None if outcome == "unknown_product" else device.product_id,
                received_at=at,
            )
        )
    Order.objects.bulk_create(orders)
    Order.objects.bulk_update([_with_created(o) for o in orders], ["created_at"])
    for e in events:
        e.order_id = e.order.pk if e.order is not None else None
    DeviceEvent.objects.bulk_create(events, batch_size=2000)
    timeline.sort(key=lambda t: (t[0], t[1].pk))
    OrderEvent.objects.bulk_create(
        [
            OrderEvent(order=order, at=when, actor="demo-history", from_status=frm, to_status=to, reason="synthetic history")
            for when, order, frm, to in timeline
        ],
        batch_size=2000,
    )
    return HistorySize(devices=len(devices), events=len(events), orders=len(orders), order_events=len(timeline))


def _with_created(order: Order) -> Order:
    order.created_at = order._placed_at
    return order


def _order_plan(rng: random.Random, device: Device, at: datetime, end: datetime, timeline: list) -> Order:
    """An order placed at `at` and its whole timeline up to `end`."""
    hold = timedelta(seconds=settings.DASH_HOLD_SECONDS)
    order = Order(
        public_id=uuid.UUID(int=rng.getrandbits(128)),
        customer_id=device.customer_id,
        product_id=device.product_id,
        quantity=device.quantity,
        unit_price=device.product.price if device.product else Decimal("1.00"),
        source=OrderSource.BUTTON,
        device_serial=device.serial,
        hold_until=at + hold,
    )
    order._placed_at = at
    steps = [(at, "", OrderStatus.HELD)]
    roll = rng.random()
    if roll < 0.1:
        steps.append((at + timedelta(seconds=rng.randrange(30, int(hold.total_seconds()) or 31)), OrderStatus.HELD, OrderStatus.CANCELLED))
    else:
        released = at + hold
        steps += [
            (released, OrderStatus.HELD, OrderStatus.RELEASING),
            (released + timedelta(seconds=1), OrderStatus.RELEASING, OrderStatus.SUBMITTED),
        ]
        if roll < 0.13:
            steps.append((released + timedelta(minutes=10), OrderStatus.SUBMITTED, OrderStatus.FAILED))
        else:
            shipped = released + timedelta(hours=rng.randint(2, 20))
            steps += [
                (shipped, OrderStatus.SUBMITTED, OrderStatus.SHIPPED),
                (shipped + timedelta(hours=rng.randint(12, 40)), OrderStatus.SHIPPED, OrderStatus.DELIVERED),
            ]
    happened = [s for s in steps if s[0] < end]
    order.status = happened[-1][2]
    order._ends_at = steps[-1][0] if steps[-1][2] in (OrderStatus.DELIVERED, OrderStatus.CANCELLED, OrderStatus.FAILED) else end
    if order.status == OrderStatus.HELD:
        order.hold_until = max(order.hold_until, end)  # still held when the history ends
    if order.status not in (OrderStatus.HELD,):
        order.released_at = next((t for t, _, to in happened if to == OrderStatus.RELEASING), None)
    order.delivered_at = next((t for t, _, to in happened if to == OrderStatus.DELIVERED), None)
    for when, frm, to in happened:
        timeline.append((when, order, frm, to))
    return order
