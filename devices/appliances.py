"""Appliances that reorder their own supplies: slots, their readings and the reorder decision.

A slot (`detergent`, `softener`) is bound by the customer to a product, with a capacity, a
reorder threshold and auto-reorder on or off. A `slot_status` event records a reading and,
when the supply is low -- at the threshold, or predicted to run out before a new order would
arrive (devices.prediction) -- places an order through `orders.services.order_place`, the
press's service with the press's invariants, at most once per cycle (refill to refill). With
auto-reorder off the customer gets one "running low" notice per cycle, with a one-click order.
"""

import logging
import math
import re
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from devices.intake import DeviceEventInput, IntakeError
from devices.models import ApplianceSlot, Device, DeviceKind, SlotReading
from devices.prediction import Prediction, Reading, is_refill, predict, reorder_reason
from devices.selectors import IntakeContext
from devices.services import DeviceError, IntakeAnswer, _record
from orders.models import IN_PROGRESS, OrderSource
from orders.notices import notice_on_commit
from orders.selectors import iso, order_summary
from orders.services import PlaceResult, order_place
from partners.models import Product

log = logging.getLogger(__name__)

SLOT_NAME = re.compile(r"[a-z0-9_-]{1,32}")
MAX_SLOTS_PER_DEVICE = 8
MAX_LEVEL = 1e9


# --- Reading a slot_status event -----------------------------------------------------------


@dataclass(frozen=True)
class SlotStatus:
    slot: str
    remaining: float
    capacity: float | None


def _number(value) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    value = float(value)
    return value if math.isfinite(value) and 0 <= value <= MAX_LEVEL else None


def slot_status_parse(payload: dict) -> SlotStatus:
    """The slot_status fields of the contract: `slot`, `remaining` >= 0, optional `capacity` > 0."""
    errors: dict[str, list[str]] = {}
    slot = payload.get("slot")
    if not isinstance(slot, str) or not SLOT_NAME.fullmatch(slot):
        errors["slot"] = ["Required: the slot's name, 1-32 characters of a-z 0-9 _ -"]
    remaining = _number(payload.get("remaining"))
    if remaining is None:
        errors["remaining"] = ["Required: a number >= 0 (how much is left)."]
    capacity = None
    if payload.get("capacity") is not None:
        capacity = _number(payload["capacity"])
        if capacity is None or capacity == 0:
            errors["capacity"] = ["A number > 0 (how much a full slot holds)."]
        elif remaining is not None and remaining > capacity:
            errors["remaining"] = ["Cannot be more than the capacity."]
    if errors:
        raise IntakeError(400, "malformed", "The slot_status event has invalid fields.", fields=errors)
    return SlotStatus(slot=slot, remaining=remaining, capacity=capacity)


# --- The intake's slot_status branch ---------------------------------------------------------


def lead_time(product: Product | None) -> timedelta:
    days = product.delivery_days if product is not None else 0
    return timedelta(days=days + settings.DASH_REORDER_MARGIN_DAYS)


def slot_readings(*, slot: ApplianceSlot, now: datetime) -> list[Reading]:
    """The current cycle's readings within the prediction window, oldest first."""
    since = now - timedelta(days=settings.DASH_PREDICTION_WINDOW_DAYS)
    if slot.cycle_started_at is not None and slot.cycle_started_at > since:
        since = slot.cycle_started_at
    rows = SlotReading.objects.filter(slot=slot, at__gte=since).order_by("-at").values_list("at", "remaining")[:500]
    return [Reading(at=at, remaining=remaining) for at, remaining in reversed(rows)]


def slot_prediction(*, slot: ApplianceSlot, now: datetime) -> Prediction | None:
    return predict(slot_readings(slot=slot, now=now), capacity=slot.capacity)


def slot_status_decide(ctx: IntakeContext, event: DeviceEventInput, now: datetime) -> IntakeAnswer:
    """Record a reading and decide; called by the intake for an appliance's slot_status event.

    Raises IntakeError (nothing recorded) for invalid fields or a slot the appliance doesn't have.
    """
    status = slot_status_parse(event.payload)
    if ctx.customer_id is None:
        return _record(
            ctx, event, now, 409, "device_unclaimed", "No customer has linked this device yet; enter its claim code on the website."
        )
    if ctx.paused:
        return _record(
            ctx, event, now, 409, "device_paused", "This device is paused; unpause it on the website to record levels and order again."
        )
    with transaction.atomic():
        slot = (
            ApplianceSlot.objects.select_for_update(of=("self",))
            .select_related("product", "cycle_order")
            .filter(device_id=ctx.device_id, name=status.slot)
            .first()
        )
        if slot is None:
            known = list(ApplianceSlot.objects.filter(device_id=ctx.device_id).values_list("name", flat=True))
            raise IntakeError(
                422,
                "unknown_slot",
                f"This appliance has no slot {status.slot!r}; its owner sets slots up on the website"
                + (f" (slots now: {', '.join(known)})." if known else " (none yet)."),
                fields={"slot": ["Unknown slot."]},
            )
        _slot_take_reading(slot, status, reading_time(event.occurred_at, now))
        prediction = slot_prediction(slot=slot, now=now)
        extra = {"prediction": prediction.as_dict(now) if prediction else None}
        reason = reorder_reason(
            remaining=slot.remaining, threshold=slot.reorder_threshold, prediction=prediction, now=now, lead_time=lead_time(slot.product)
        )
        if slot.cycle_order is not None:
            return _already_ordered(ctx, event, now, slot, extra)
        if reason is None:
            return _record(ctx, event, now, 200, "recorded", f"Recorded: {slot.remaining:g} left in {slot.name}.", extra=extra)
        if slot.product is None or not slot.product.active:
            detail = f"Recorded: {slot.name} is running low, but it is not bound to a product in the catalog; no order was placed."
            return _record(ctx, event, now, 200, "recorded", detail, extra=extra)
        if not slot.auto_reorder:
            _running_low_notice(ctx, slot, prediction, now)
            detail = f"Recorded: {slot.name} is running low; auto-reorder is off, so the customer was asked to order."
            return _record(ctx, event, now, 200, "recorded", detail, extra=extra)
        result = order_place(
            customer_id=ctx.customer_id,
            product=slot.product,
            quantity=slot.quantity,
            source=OrderSource.APPLIANCE,
            actor=f"device:{ctx.serial}",
            device_serial=ctx.serial,
            hold_seconds=ctx.hold_seconds,
            reason=_order_reason(slot, reason, prediction, slot.remaining),
            now=now,
        )
        slot.cycle_order = result.order
        slot.save(update_fields=["cycle_order"])
        summary = order_summary(result.order)
        if not result.created:
            detail = f"An order for {slot.product.name} is already {summary['status']}; no new order was placed."
            product_id = result.order.product_id
            return _record(ctx, event, now, 200, "order_in_progress", detail, summary, result.order.pk, extra=extra, product_id=product_id)
        log.info("slot_reorder device=%s slot=%s reason=%s order=%s", ctx.serial, slot.name, reason, result.order.public_id)
        detail = (
            f"Order placed: {result.order.quantity} x {slot.product.name} ({slot.name} is low), held until {iso(result.order.hold_until)}."
        )
        return _record(
            ctx, event, now, 201, "order_placed", detail, summary, result.order.pk, extra=extra, product_id=result.order.product_id
        )


# A reading is placed at the device's `occurred_at` when that is plausible (an appliance that
# was offline sends its buffered readings in a burst); otherwise at the time it arrived.
MAX_BACKDATE = timedelta(days=7)


def reading_time(occurred_at: datetime | None, now: datetime) -> datetime:
    if occurred_at is None or occurred_at > now or occurred_at < now - MAX_BACKDATE:
        return now
    return occurred_at


def _slot_take_reading(slot: ApplianceSlot, status: SlotStatus, at: datetime) -> None:
    """Store the reading; a refill (or the first reading) starts a new cycle. A reading older
    than the slot's latest only joins the history. Caller holds the slot's lock."""
    if slot.last_reading_at is not None and at < slot.last_reading_at:
        SlotReading.objects.create(slot=slot, at=at, remaining=status.remaining)
        return
    now = at
    if status.capacity is not None:
        slot.capacity = status.capacity  # the appliance knows its own tank
    if slot.remaining is None or is_refill(previous=slot.remaining, current=status.remaining, capacity=slot.capacity):
        if slot.remaining is not None:
            log.info("slot_refilled slot=%s from=%s to=%s", slot.pk, slot.remaining, status.remaining)
        slot.cycle_started_at = now
        slot.cycle_order = None
        slot.low_notified_at = None
    slot.remaining = status.remaining
    slot.last_reading_at = now
    slot.save(update_fields=["capacity", "remaining", "last_reading_at", "cycle_started_at", "cycle_order", "low_notified_at"])
    SlotReading.objects.create(slot=slot, at=now, remaining=status.remaining)


def _already_ordered(ctx, event, now, slot: ApplianceSlot, extra: dict) -> IntakeAnswer:
    """This cycle was reordered: never a second order before the next refill."""
    order = slot.cycle_order
    if order.status in IN_PROGRESS:
        order.product = slot.product if slot.product and slot.product.pk == order.product_id else Product.objects.get(pk=order.product_id)
        summary = order_summary(order)
        detail = f"An order for {order.product.name} is already {order.status}; no new order was placed."
        return _record(ctx, event, now, 200, "order_in_progress", detail, summary, order.pk, extra=extra, product_id=order.product_id)
    detail = f"Recorded: {slot.name} was reordered in this cycle ({order.status}); the next order follows a refill."
    return _record(ctx, event, now, 200, "recorded", detail, extra=extra)


def _order_reason(slot: ApplianceSlot, reason: str, prediction: Prediction | None, remaining: float) -> str:
    if reason == "predicted" and prediction is not None and prediction.run_out_at is not None:
        return f"slot {slot.name}: {remaining:g} left, predicted to run out {iso(prediction.run_out_at)}"
    return f"slot {slot.name}: {remaining:g} left, at or below the threshold {slot.reorder_threshold:g}"


def slot_order_path(*, serial: str, slot: str) -> str:
    return f"/devices/{serial}/slots/{slot}/order"


def _running_low_notice(ctx: IntakeContext, slot: ApplianceSlot, prediction: Prediction | None, now: datetime) -> None:
    """Once per cycle. Caller holds the slot's lock."""
    if slot.low_notified_at is not None:
        return
    lines = [f"{slot.name.capitalize()} is running low: {slot.remaining:g} of {slot.capacity:g} left."]
    if prediction is not None and prediction.run_out_at is not None:
        lines.append(f"At the current rate it runs out around {prediction.run_out_at:%Y-%m-%d %H:%M} UTC.")
    lines.append(f"Auto-reorder is off for this slot. One click orders {slot.quantity} x {slot.product.name} ({slot.product.price} each).")
    notice_on_commit(
        customer_id=ctx.customer_id,
        kind="slot_running_low",
        subject=f"{slot.name.capitalize()} is running low",
        lines=lines,
        link=slot_order_path(serial=ctx.serial, slot=slot.name),
        link_label=f"Order {slot.product.name}",
    )
    slot.low_notified_at = now
    slot.save(update_fields=["low_notified_at"])


# --- The customer's slots ------------------------------------------------------------------


def appliance_for_customer(*, customer_id: int, serial: str, lock: bool = False) -> Device:
    """Raises Device.DoesNotExist (a 404) for a device not the customer's own."""
    qs = Device.objects.select_for_update() if lock else Device.objects
    device = qs.get(customer_id=customer_id, serial=serial)
    if device.kind != DeviceKind.APPLIANCE:
        raise DeviceError("not_an_appliance", "Only appliances have supply slots.", status=409)
    return device


def slot_for_customer(*, customer_id: int, serial: str, name: str) -> ApplianceSlot:
    """Raises ApplianceSlot.DoesNotExist / Device.DoesNotExist (a 404) for anything not the customer's own."""
    device = appliance_for_customer(customer_id=customer_id, serial=serial)
    return ApplianceSlot.objects.select_related("product", "cycle_order", "device").get(device=device, name=name)


def _own_slot_for_update(*, customer_id: int, serial: str, name: str) -> ApplianceSlot:
    device = appliance_for_customer(customer_id=customer_id, serial=serial)
    return ApplianceSlot.objects.select_for_update(of=("self",)).select_related("product", "device").get(device=device, name=name)


def _slot_product(sku: str | None, quantity: int) -> Product | None:
    if not sku:
        return None
    product = Product.objects.filter(sku=sku, active=True).first()
    if product is None:
        raise DeviceError("unknown_product", f"No product with SKU {sku!r} in the catalog.", fields={"product_sku": ["Unknown SKU."]})
    if not 1 <= quantity <= product.max_quantity:
        raise DeviceError(
            "bad_quantity",
            f"Quantity must be between 1 and {product.max_quantity} for {product.name}.",
            fields={"quantity": [f"1 to {product.max_quantity}."]},
        )
    return product


def _check_levels(*, capacity: float, threshold: float) -> None:
    errors = {}
    if not (isinstance(capacity, (int, float)) and math.isfinite(capacity) and 0 < capacity <= MAX_LEVEL):
        errors["capacity"] = ["A number > 0."]
    elif not (isinstance(threshold, (int, float)) and math.isfinite(threshold) and 0 <= threshold < capacity):
        errors["reorder_threshold"] = ["At least 0 and less than the capacity."]
    if errors:
        raise DeviceError("bad_levels", "Check the capacity and the reorder threshold.", fields=errors)


@transaction.atomic
def slot_create(
    *,
    customer_id: int,
    serial: str,
    name: str,
    capacity: float,
    reorder_threshold: float,
    product_sku: str | None = None,
    quantity: int = 1,
    auto_reorder: bool = True,
) -> ApplianceSlot:
    device = appliance_for_customer(customer_id=customer_id, serial=serial, lock=True)
    if not isinstance(name, str) or not SLOT_NAME.fullmatch(name):
        raise DeviceError(
            "bad_slot_name", "A slot name is 1-32 characters of a-z 0-9 _ - (as the appliance sends it).", fields={"name": ["a-z 0-9 _ -"]}
        )
    _check_levels(capacity=capacity, threshold=reorder_threshold)
    product = _slot_product(product_sku, quantity)
    if ApplianceSlot.objects.filter(device=device).count() >= MAX_SLOTS_PER_DEVICE:  # the device row is locked: no race
        raise DeviceError("too_many_slots", f"An appliance has at most {MAX_SLOTS_PER_DEVICE} slots.", status=409)
    try:
        with transaction.atomic():
            slot = ApplianceSlot.objects.create(
                device=device,
                name=name,
                product=product,
                quantity=quantity,
                capacity=float(capacity),
                reorder_threshold=float(reorder_threshold),
                auto_reorder=auto_reorder,
            )
    except IntegrityError:
        raise DeviceError(
            "slot_exists", f"This appliance already has a slot {name!r}.", status=409, fields={"name": ["Already used."]}
        ) from None
    log.info("slot_created device=%s slot=%s product=%s", serial, name, product_sku or "-")
    return slot


_UNSET = ...


@transaction.atomic
def slot_update(
    *,
    customer_id: int,
    serial: str,
    name: str,
    product_sku: str | None | type(...) = _UNSET,
    quantity: int | None = None,
    capacity: float | None = None,
    reorder_threshold: float | None = None,
    auto_reorder: bool | None = None,
) -> ApplianceSlot:
    """Change what was given. `product_sku=None` unbinds the product."""
    slot = _own_slot_for_update(customer_id=customer_id, serial=serial, name=name)
    new_capacity = slot.capacity if capacity is None else capacity
    new_threshold = slot.reorder_threshold if reorder_threshold is None else reorder_threshold
    _check_levels(capacity=new_capacity, threshold=new_threshold)
    new_quantity = slot.quantity if quantity is None else quantity
    if product_sku is _UNSET:
        product = slot.product
        if product is not None and quantity is not None:
            product = _slot_product(product.sku, new_quantity)
    else:
        product = _slot_product(product_sku, new_quantity)
    slot.product = product
    slot.quantity = new_quantity
    slot.capacity = float(new_capacity)
    slot.reorder_threshold = float(new_threshold)
    if auto_reorder is not None:
        slot.auto_reorder = auto_reorder
    slot.save(update_fields=["product", "quantity", "capacity", "reorder_threshold", "auto_reorder"])
    return slot


@transaction.atomic
def slot_delete(*, customer_id: int, serial: str, name: str) -> None:
    slot = _own_slot_for_update(customer_id=customer_id, serial=serial, name=name)
    slot.delete()
    log.info("slot_deleted device=%s slot=%s", serial, name)


@transaction.atomic
def slot_order_now(*, customer_id: int, serial: str, name: str) -> PlaceResult:
    """The one-click order of a "running low" notice: the slot's product, through the same
    `order_place` as a press (so a second click finds the first order in progress)."""
    slot = _own_slot_for_update(customer_id=customer_id, serial=serial, name=name)
    if slot.product is None or not slot.product.active:
        raise DeviceError("slot_unbound", "Choose the product this slot orders first.", status=409)
    result = order_place(
        customer_id=customer_id,
        product=slot.product,
        quantity=slot.quantity,
        source=OrderSource.APPLIANCE,
        actor=f"customer:{customer_id}",
        device_serial=serial,
        hold_seconds=slot.device.hold_seconds,
        reason=f"slot {slot.name}: ordered by the customer",
    )
    slot.cycle_order = result.order
    slot.save(update_fields=["cycle_order"])
    return result


def slots_for_device(*, device: Device) -> list[ApplianceSlot]:
    return list(ApplianceSlot.objects.filter(device=device).select_related("product", "cycle_order"))


def slot_view(slot: ApplianceSlot, *, now: datetime | None = None) -> dict:
    """A slot as the customer sees it, with its prediction."""
    now = now or timezone.now()
    prediction = slot_prediction(slot=slot, now=now)
    order = slot.cycle_order
    return {
        "name": slot.name,
        "product": None
        if slot.product is None
        else {
            "sku": slot.product.sku,
            "name": slot.product.name,
            "price": str(slot.product.price),
            "delivery_days": slot.product.delivery_days,
        },
        "quantity": slot.quantity,
        "capacity": slot.capacity,
        "reorder_threshold": slot.reorder_threshold,
        "auto_reorder": slot.auto_reorder,
        "remaining": slot.remaining,
        "last_reading_at": iso(slot.last_reading_at) if slot.last_reading_at else None,
        "prediction": prediction.as_dict(now) if prediction else None,
        "cycle_order": None if order is None else {"id": str(order.public_id), "status": order.status},
    }


def slot_readings_prune(*, now: datetime | None = None, batch: int = 5000) -> int:
    """Delete readings past DASH_SLOT_READING_RETENTION_DAYS, in batches."""
    cutoff = (now or timezone.now()) - timedelta(days=settings.DASH_SLOT_READING_RETENTION_DAYS)
    deleted = 0
    while True:
        ids = list(SlotReading.objects.filter(at__lt=cutoff).values_list("pk", flat=True)[:batch])
        if not ids:
            return deleted
        deleted += SlotReading.objects.filter(pk__in=ids).delete()[0]
