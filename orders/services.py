"""Every write to an order. A state change locks the row, checks the state, writes, appends
an OrderEvent and broadcasts after commit — all inside one transaction."""

import logging
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from zoneinfo import available_timezones

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Case, F, Value, When
from django.utils import timezone

from dash.hotpath import hot_fetchone
from orders.broadcast import broadcast_on_commit
from orders.errors import OrderStateError, SettingsError
from orders.models import IN_PROGRESS, IN_PROGRESS_SQL, CustomerSettings, Order, OrderEvent, OrderSource, OrderStatus
from orders.selectors import customer_hold_seconds, order_summary, summary_of
from partners.models import Product
from partners.services import customer_time_zone_set

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PlaceResult:
    order: Order
    created: bool


def order_for_update(order_id: int) -> Order:
    """Lock the order row for the rest of the caller's transaction."""
    return Order.objects.select_for_update(of=("self",)).select_related("product").get(pk=order_id)


_INSERT_ORDER_EVENT_SQL = """
INSERT INTO orders_orderevent (order_id, at, actor, from_status, to_status, reason) VALUES (%s, %s, %s, %s, %s, %s)
"""


def _record(order: Order, *, from_status: str, actor: str, reason: str, at: datetime) -> None:
    """Append the timeline entry (a prepared statement: every new order writes one) and
    broadcast the order after commit."""
    hot_fetchone(
        _INSERT_ORDER_EVENT_SQL,
        [order.pk, connection.ops.adapt_datetimefield_value(at), actor[:120], from_status, order.status, reason[:300]],
    )
    broadcast_on_commit(order.customer_id, {"type": "order.update", "order": order_summary(order)})


def _transition(order: Order, *, to: str, actor: str, reason: str = "", fields: tuple[str, ...] = ()) -> Order:
    """Caller holds the row lock and has checked that the transition is allowed."""
    now = timezone.now()
    from_status = order.status
    order.status = to
    order.version += 1
    order.updated_at = now
    order.save(update_fields=["status", "version", "updated_at", *fields])
    _record(order, from_status=from_status, actor=actor, reason=reason, at=now)
    log.info("order_transition order=%s device=%s from=%s to=%s actor=%s", order.public_id, order.device_serial or "-", from_status, to, actor)
    return order


def _hold_seconds(*, customer_id: int, hold_seconds: int | None) -> int:
    """An explicit window (a device's own, or one the caller resolved) wins; else the customer's default."""
    return customer_hold_seconds(customer_id=customer_id) if hold_seconds is None else hold_seconds


def order_place(
    *,
    customer_id: int,
    product: Product,
    quantity: int,
    source: str,
    actor: str,
    device_serial: str = "",
    hold_seconds: int | None = None,
    reason: str = "",
    now: datetime | None = None,
    needs_confirmation: bool = False,
) -> PlaceResult:
    """Place a held order, or return the customer's order for this product already in progress.
    With `needs_confirmation` (an uncertain voice match) the order waits for the customer to
    confirm it (no hold yet: confirming holds it).

    Invariant 2 is settled by the partial unique index: the insert is `ON CONFLICT DO NOTHING`,
    and a conflict means another order is in progress. Must run inside a transaction.
    """
    if source not in OrderSource.values:
        raise ValueError(f"unknown source {source!r}")
    quantity = max(1, min(quantity, product.max_quantity))
    now = now or timezone.now()
    hold = _hold_seconds(customer_id=customer_id, hold_seconds=hold_seconds)
    hold_until = None if needs_confirmation else now + timedelta(seconds=hold)
    status = OrderStatus.NEEDS_CONFIRMATION if needs_confirmation else OrderStatus.HELD
    public_id = uuid.uuid4()
    for _ in range(3):
        order_id = _insert_order(
            public_id=public_id,
            customer_id=customer_id,
            product_id=product.pk,
            quantity=quantity,
            unit_price=product.price,
            status=status,
            source=source,
            device_serial=device_serial,
            hold_until=hold_until,
            now=now,
        )
        if order_id is not None:
            # Built from what was inserted: reading it back would cost a query per new order.
            order = Order(
                pk=order_id,
                public_id=public_id,
                customer_id=customer_id,
                product=product,
                quantity=quantity,
                unit_price=product.price,
                status=status,
                source=source,
                device_serial=device_serial,
                hold_until=hold_until,
                version=1,
                created_at=now,
                updated_at=now,
            )
            _record(order, from_status="", actor=actor, reason=reason or f"placed from {source}", at=now)
            if hold == 0 and status == OrderStatus.HELD:
                _nudge_release_on_commit(order.pk)
            log.info("order_placed order=%s device=%s customer=%s", public_id, device_serial, customer_id)
            return PlaceResult(order=order, created=True)
        existing = (
            Order.objects.select_related("product")
            .filter(customer_id=customer_id, product_id=product.pk, status__in=IN_PROGRESS)
            .first()
        )
        if existing is not None:
            return PlaceResult(order=existing, created=False)
        # The conflicting order left the in-progress states between the two statements: try again.
    raise RuntimeError("order_place: could not settle the in-progress conflict")


def _insert_order(*, public_id, customer_id, product_id, quantity, unit_price, status, source, device_serial, hold_until, now):
    ops = connection.ops
    uuid_field = Order._meta.get_field("public_id")
    sql = f"""
        INSERT INTO orders_order
            (public_id, customer_id, product_id, quantity, unit_price, status, source, device_serial,
             hold_until, version, submit_attempts, commerce_ref, last_error, created_at, updated_at)
        VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, 1, 0, '', '', %s, %s)
        ON CONFLICT (customer_id, product_id) WHERE status IN ({IN_PROGRESS_SQL}) DO NOTHING
        RETURNING id
    """
    ts = ops.adapt_datetimefield_value(now)
    row = hot_fetchone(
        sql,
        [
            uuid_field.get_db_prep_value(public_id, connection),
            customer_id,
            product_id,
            quantity,
            ops.adapt_decimalfield_value(Decimal(unit_price), 10, 2),
            str(status),
            source,
            device_serial,
            ops.adapt_datetimefield_value(hold_until),
            ts,
            ts,
        ],
    )
    return row[0] if row else None


def _nudge_release_on_commit(order_id: int) -> None:
    from orders import tasks  # tasks import services; imported late to keep the cycle out of import time

    transaction.on_commit(lambda: tasks.release_order.delay(order_id))


def _submit_on_commit(order_id: int) -> None:
    from orders import tasks

    transaction.on_commit(lambda: tasks.submit_order.delay(order_id))


def _submit_batch_on_commit(order_ids: list[int]) -> None:
    """One task for a released batch: a message per order costs more than the submission."""
    from orders import tasks

    transaction.on_commit(lambda: tasks.submit_orders.delay(order_ids))


@transaction.atomic
def order_release(*, order_id: int, actor: str, reason: str = "hold ended") -> Order:
    """held -> releasing, then submission is queued. Releasing an order twice is refused."""
    order = order_for_update(order_id)
    if order.status != OrderStatus.HELD:
        raise OrderStateError("not_held", f"Only a held order can be released; this one is {order.status}.")
    order.released_at = timezone.now()
    _transition(order, to=OrderStatus.RELEASING, actor=actor, reason=reason, fields=("released_at",))
    _submit_on_commit(order.pk)
    return order


def orders_release_due(*, batch: int | None = None, now: datetime | None = None) -> int:
    """Release held orders whose hold has ended, in batches; concurrent sweeps skip each
    other's rows (SKIP LOCKED), so every order is released by exactly one of them."""
    batch = batch or settings.DASH_RELEASE_BATCH
    released = 0
    while True:
        due = Order.objects.filter(status=OrderStatus.HELD, hold_until__lte=now or timezone.now()).order_by("hold_until")
        ids = _transition_many(due, batch=batch, to=OrderStatus.RELEASING, actor="system", reason="hold ended", stamp="released_at")
        if ids:
            _submit_batch_on_commit(ids)
        released += len(ids)
        if len(ids) < batch:
            return released


def _transition_many(candidates, *, batch: int, to: str, actor: str, reason: str, stamp: str | None = None) -> list[int]:
    """Move up to `batch` of `candidates` to `to` in one transaction: lock (SKIP LOCKED), one
    UPDATE, one bulk INSERT of timeline entries, a broadcast per order after commit. The
    candidates' filter must pin the from-state: it is re-checked under the lock."""
    now = timezone.now()
    with transaction.atomic():
        rows = list(
            candidates.select_for_update(skip_locked=True, of=("self",)).values(
                "pk", "public_id", "customer_id", "status", "version", "quantity", "hold_until", "device_serial", "product__sku", "product__name"
            )[:batch]
        )
        if not rows:
            return []
        ids = [row["pk"] for row in rows]
        updates = {"status": to, "version": F("version") + 1, "updated_at": now}
        if stamp:
            updates[stamp] = now
        Order.objects.filter(pk__in=ids).update(**updates)
        OrderEvent.objects.bulk_create(
            [OrderEvent(order_id=row["pk"], at=now, actor=actor, from_status=row["status"], to_status=to, reason=reason) for row in rows]
        )
        for row in rows:
            summary = summary_of(
                public_id=row["public_id"],
                status=to,
                sku=row["product__sku"],
                name=row["product__name"],
                quantity=row["quantity"],
                hold_until=row["hold_until"],
                version=row["version"] + 1,
            )
            broadcast_on_commit(row["customer_id"], {"type": "order.update", "order": summary})
            log.info(
                "order_transition order=%s device=%s from=%s to=%s actor=%s", row["public_id"], row["device_serial"] or "-", row["status"], to, actor
            )
    return ids


@transaction.atomic
def order_approve(*, customer_id: int, public_id) -> Order:
    """The customer releases a held order now (or confirms one that needs confirmation)."""
    order = Order.objects.select_for_update(of=("self",)).select_related("product").get(customer_id=customer_id, public_id=public_id)
    if order.status == OrderStatus.NEEDS_CONFIRMATION:
        order.hold_until = timezone.now()
        return _transition(order, to=OrderStatus.HELD, actor="customer", reason="confirmed", fields=("hold_until",))
    if order.status != OrderStatus.HELD:
        raise OrderStateError("not_held", f"This order is already {order.get_status_display().lower()}.")
    order.released_at = timezone.now()
    _transition(order, to=OrderStatus.RELEASING, actor="customer", reason="approved by customer", fields=("released_at",))
    _submit_on_commit(order.pk)
    return order


@transaction.atomic
def order_cancel(*, order_id: int, actor: str, reason: str, allowed: tuple[str, ...] | None = None) -> Order:
    order = order_for_update(order_id)
    allowed = allowed or (OrderStatus.HELD, OrderStatus.NEEDS_CONFIRMATION)
    if order.status not in allowed:
        raise OrderStateError("not_cancellable", f"This order is {order.get_status_display().lower()} and can no longer be removed.")
    return _transition(order, to=OrderStatus.CANCELLED, actor=actor, reason=reason)


def order_cancel_by_customer(*, customer_id: int, public_id) -> Order:
    order_id = Order.objects.values_list("pk", flat=True).get(customer_id=customer_id, public_id=public_id)
    return order_cancel(order_id=order_id, actor="customer", reason="removed by customer")


@transaction.atomic
def order_retry_submission(*, order_id: int, actor: str) -> Order:
    """An operator sends a failed order to commerce again, with a fresh retry budget."""
    order = order_for_update(order_id)
    if order.status != OrderStatus.FAILED:
        raise OrderStateError("not_failed", "Only a failed order can be retried.")
    order.submit_attempts = 0
    order.last_error = ""
    _transition(order, to=OrderStatus.RELEASING, actor=actor, reason="submission retried", fields=("submit_attempts", "last_error"))
    _submit_on_commit(order.pk)
    return order


@dataclass(frozen=True)
class SubmitResult:
    order: Order
    retry_in: float | None  # seconds until the next attempt, or None when nothing more to do


def order_submit(*, order_id: int) -> SubmitResult:
    """Submit a releasing order to commerce, once.

    The row stays locked during the call, so a duplicate task waits and then sees `submitted`;
    the order's public id is the shop's idempotency key, so a retry after a lost answer is safe.
    """
    from orders.commerce import CommerceError, get_backend

    with transaction.atomic():
        order = order_for_update(order_id)
        if order.status != OrderStatus.RELEASING:
            return SubmitResult(order=order, retry_in=None)
        order.submit_attempts += 1
        try:
            receipt = get_backend().submit(order)
        except CommerceError as exc:
            order.last_error = str(exc)[:2000]
            log.warning(
                "commerce_submit_failed order=%s device=%s attempt=%s error=%s", order.public_id, order.device_serial or "-", order.submit_attempts, exc
            )
            if exc.permanent or order.submit_attempts >= settings.DASH_COMMERCE_MAX_ATTEMPTS:
                _transition(order, to=OrderStatus.FAILED, actor="system", reason=f"commerce kept failing: {exc}"[:300], fields=("submit_attempts", "last_error"))
                return SubmitResult(order=order, retry_in=None)
            order.save(update_fields=["submit_attempts", "last_error", "updated_at"])
            return SubmitResult(order=order, retry_in=settings.DASH_COMMERCE_BACKOFF_SECONDS * 2 ** (order.submit_attempts - 1))
        order.commerce_ref = receipt.reference
        order.submitted_at = timezone.now()
        order.last_error = ""
        _transition(order, to=OrderStatus.SUBMITTED, actor="commerce", reason=f"accepted as {receipt.reference}"[:300], fields=("submit_attempts", "commerce_ref", "submitted_at", "last_error"))
        return SubmitResult(order=order, retry_in=None)


def orders_submit(*, order_ids: list[int]) -> dict[int, float]:
    """Submit a released batch; returns {order id: seconds until its next attempt} for those
    the shop did not take.

    A backend that answers in-process (`batch = True`: the simulated shop) takes the whole
    batch in one transaction: one locking read, one UPDATE, one bulk insert of timeline
    entries (per order, `order_submit` costs about ten times the CPU). A remote shop gets one
    transaction per order, so a slow answer never holds a batch of row locks."""
    from orders.commerce import CommerceError, get_backend

    backend = get_backend()
    refused = list(order_ids)
    if getattr(backend, "batch", False):
        refused = []
        now = timezone.now()
        with transaction.atomic():
            # Locked in id order, so two batches sharing orders cannot deadlock; a duplicate
            # batch waits here, then finds its orders submitted and leaves them alone.
            orders = list(
                Order.objects.select_for_update(of=("self",)).select_related("product").filter(pk__in=order_ids, status=OrderStatus.RELEASING).order_by("pk")
            )
            accepted = []
            for order in orders:
                try:
                    accepted.append((order, backend.submit(order)))
                except CommerceError:
                    refused.append(order.pk)  # retried below, one by one, with the usual backoff
            if accepted:
                Order.objects.filter(pk__in=[o.pk for o, _ in accepted]).update(
                    status=OrderStatus.SUBMITTED,
                    version=F("version") + 1,
                    submit_attempts=F("submit_attempts") + 1,
                    commerce_ref=Case(*[When(pk=o.pk, then=Value(r.reference[:100])) for o, r in accepted]),
                    submitted_at=now,
                    last_error="",
                    updated_at=now,
                )
                OrderEvent.objects.bulk_create(
                    OrderEvent(order_id=o.pk, at=now, actor="commerce", from_status=OrderStatus.RELEASING, to_status=OrderStatus.SUBMITTED, reason=f"accepted as {r.reference}"[:300])
                    for o, r in accepted
                )
                for order, _ in accepted:
                    order.status = OrderStatus.SUBMITTED
                    order.version += 1
                    broadcast_on_commit(order.customer_id, {"type": "order.update", "order": order_summary(order)})
                log.info("orders_submitted count=%s backend=%s", len(accepted), backend.name)
    retries = {}
    for order_id in refused:
        result = order_submit(order_id=order_id)
        if result.retry_in is not None:
            retries[order_id] = result.retry_in
    return retries


_COMMERCE_NEXT = {
    OrderStatus.SHIPPED: (OrderStatus.SUBMITTED,),
    OrderStatus.DELIVERED: (OrderStatus.SUBMITTED, OrderStatus.SHIPPED),
    OrderStatus.CANCELLED: (OrderStatus.SUBMITTED, OrderStatus.SHIPPED),
}

_NOT_YET_SUBMITTED = (OrderStatus.NEEDS_CONFIRMATION, OrderStatus.HELD, OrderStatus.RELEASING)


@transaction.atomic
def order_apply_commerce_status(*, public_id, status: str, reason: str = "") -> Order:
    """A status reported by the shop. Repeats and stale reports change nothing."""
    if status not in _COMMERCE_NEXT:
        raise OrderStateError("bad_status", f"Unknown commerce status {status!r}.")
    order_id = Order.objects.values_list("pk", flat=True).get(public_id=public_id)
    order = order_for_update(order_id)
    if order.status in _NOT_YET_SUBMITTED:
        # Our submission has not committed (or never happened): the shop calls again later
        # (409 to the shop) rather than losing the report.
        raise OrderStateError("not_submitted", f"The order is {order.status}, not yet submitted to the shop; send this report again later.")
    if order.status == status or order.status not in _COMMERCE_NEXT[status]:
        return order
    now = timezone.now()
    fields: tuple[str, ...] = ()
    if status == OrderStatus.SHIPPED:
        order.shipped_at = now
        fields = ("shipped_at",)
    elif status == OrderStatus.DELIVERED:
        order.delivered_at = now
        order.shipped_at = order.shipped_at or now
        fields = ("delivered_at", "shipped_at")
    return _transition(order, to=status, actor="commerce", reason=reason or f"shop reports {status}", fields=fields)



def orders_advance_simulated(*, ship_after: timedelta, deliver_after: timedelta, batch: int = 200) -> tuple[int, int]:
    """The simulated shop: ship what was submitted `ship_after` ago, deliver what shipped
    `deliver_after` ago. Returns (shipped, delivered)."""
    now = timezone.now()
    to_ship = Order.objects.filter(status=OrderStatus.SUBMITTED, submitted_at__lte=now - ship_after)
    to_deliver = Order.objects.filter(status=OrderStatus.SHIPPED, shipped_at__lte=now - deliver_after)
    counts = []
    for candidates, to, stamp in ((to_ship, OrderStatus.SHIPPED, "shipped_at"), (to_deliver, OrderStatus.DELIVERED, "delivered_at")):
        total = 0
        while True:
            ids = _transition_many(candidates, batch=batch, to=to, actor="commerce", reason=f"simulated shop {to}", stamp=stamp)
            total += len(ids)
            if len(ids) < batch:
                break
        counts.append(total)
    return counts[0], counts[1]


_MAX_HOLD_SECONDS = 7 * 24 * 3600


def customer_settings_update(
    *, customer_id: int, default_hold_seconds: int | None | type(...) = ..., email_notices: bool | None = None, time_zone: str | None = None
) -> CustomerSettings:
    """Change a customer's preferences; arguments left out keep their value.
    `default_hold_seconds=None` returns to the site's default; 0 releases at once."""
    errors: dict[str, list[str]] = {}
    if default_hold_seconds is not ... and default_hold_seconds is not None and not 0 <= default_hold_seconds <= _MAX_HOLD_SECONDS:
        errors["default_hold_seconds"] = [f"Between 0 and {_MAX_HOLD_SECONDS} seconds (7 days)."]
    if time_zone is not None and time_zone not in available_timezones():
        errors["time_zone"] = ["An IANA time zone name, e.g. Europe/Berlin."]
    if errors:
        raise SettingsError("invalid_settings", "Some settings are not valid.", fields=errors)
    with transaction.atomic():
        row, _ = CustomerSettings.objects.select_for_update().get_or_create(customer_id=customer_id)
        if default_hold_seconds is not ...:
            row.default_hold_seconds = default_hold_seconds
        if email_notices is not None:
            row.email_notices = email_notices
        if time_zone is not None:
            row.time_zone = time_zone
            customer_time_zone_set(user_id=customer_id, time_zone=time_zone)  # the partner figures count in it
        row.save()
    return row
