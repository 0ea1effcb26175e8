"""Every write for devices: provisioning, claiming, binding, and the event intake."""

import logging
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import orjson
from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connection, connections, transaction
from django.utils import timezone
from psycopg.types.json import Jsonb

from dash.hotpath import hot_fetchone
from devices import credentials
from devices.analytics_feed import DEVICE_EVENTS_FEED
from devices.intake import DeviceEventInput, IntakeError, answer_body, parse_event
from devices.models import Device, DeviceEvent, DeviceKind
from devices.selectors import (
    CONTEXT_COLUMNS,
    CONTEXT_SQL_POSTGRESQL,
    IntakeContext,
    OrderRef,
    StoredAnswer,
    context_of,
    device_for_token,
    intake_context,
    stored_answer,
)
from devices.throttle import throttle_retry_after, throttle_window
from orders.models import OrderSource
from orders.selectors import iso, order_summary, summary_of
from orders.services import order_place
from partners.analytics.selectors import rollup_watermark
from partners.models import Partner, Product

log = logging.getLogger(__name__)

LAST_SEEN_RESOLUTION = timedelta(seconds=60)
_TOUCH_DEVICE_SQL = "UPDATE devices_device SET last_seen_at = %s WHERE id = %s"


class DeviceError(Exception):
    """A device operation refused for a reason the user can fix: mapped to a 4xx."""

    def __init__(self, code: str, detail: str, *, status: int = 400, fields: dict | None = None):
        super().__init__(detail)
        self.code = code
        self.detail = detail
        self.status = status
        self.fields = fields or {}


# --- Provisioning and ownership ----------------------------------------------------------


@dataclass(frozen=True)
class Provisioned:
    device: Device
    token: str  # shown once; only its hash is stored


def device_provision(*, kind: str, partner: Partner | None = None, creds: credentials.Credentials | None = None) -> Provisioned:
    """A new, unclaimed device. `creds` are generated unless given (the demo derives its own)."""
    if kind not in DeviceKind.values:
        raise DeviceError("bad_kind", f"kind must be one of {', '.join(DeviceKind.values)}")
    creds = creds or credentials.new_credentials(kind)
    device = Device.objects.create(
        serial=creds.serial, kind=kind, token_hash=creds.token_hash, claim_code=creds.claim_code, provisioned_for=partner
    )
    log.info("device_provisioned device=%s kind=%s", device.serial, kind)
    return Provisioned(device=device, token=creds.token)


def _product_for_binding(*, sku: str | None, quantity: int) -> Product:
    if not sku:
        raise DeviceError("product_required", "Choose the product this button orders.", fields={"product_sku": ["Required for a button."]})
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


@transaction.atomic
def device_claim(
    *, customer_id: int, claim_code: str, product_sku: str | None = None, quantity: int = 1, name: str = "", hold_seconds: int | None = None
) -> Device:
    """Link an unclaimed device to a customer. Two customers racing for one code: one wins."""
    code = credentials.normalize_claim_code(claim_code)
    device = Device.objects.select_for_update().filter(claim_code=code).first()
    if device is None or (device.customer_id is not None and device.customer_id != customer_id):
        raise DeviceError("bad_claim_code", "That claim code doesn't match a device waiting to be linked.", status=400, fields={"claim_code": ["Check the code on the device's label."]})
    if device.customer_id == customer_id:
        raise DeviceError("already_claimed", "This device is already linked to your account.", status=409)
    product = None
    if device.kind == DeviceKind.BUTTON:
        product = _product_for_binding(sku=product_sku, quantity=quantity)
    device.customer_id = customer_id
    device.product = product
    device.quantity = quantity if product else 1
    device.name = name[:80] or (product.name if product else device.get_kind_display())
    device.hold_seconds = hold_seconds
    device.paused = False
    device.claimed_at = timezone.now()
    device.save(update_fields=["customer", "product", "quantity", "name", "hold_seconds", "paused", "claimed_at"])
    log.info("device_claimed device=%s customer=%s", device.serial, customer_id)
    return device


def _own_device_for_update(*, customer_id: int, serial: str) -> Device:
    return Device.objects.select_for_update().get(customer_id=customer_id, serial=serial)


@transaction.atomic
def device_update(
    *, customer_id: int, serial: str, product_sku: str | None = None, quantity: int | None = None, name: str | None = None, hold_seconds: int | None | type(...) = ...
) -> Device:
    device = _own_device_for_update(customer_id=customer_id, serial=serial)
    fields = []
    if device.kind == DeviceKind.BUTTON and (product_sku is not None or quantity is not None):
        sku = product_sku if product_sku is not None else (device.product.sku if device.product else None)
        qty = quantity if quantity is not None else device.quantity
        device.product = _product_for_binding(sku=sku, quantity=qty)
        device.quantity = qty
        fields += ["product", "quantity"]
    if name is not None:
        device.name = name[:80]
        fields.append("name")
    if hold_seconds is not ...:
        if hold_seconds is not None and hold_seconds < 0:
            raise DeviceError("bad_hold", "The hold window is zero or more seconds.", fields={"hold_seconds": [">= 0"]})
        device.hold_seconds = hold_seconds
        fields.append("hold_seconds")
    if fields:
        device.save(update_fields=fields)
    return device


@transaction.atomic
def device_set_paused(*, customer_id: int, serial: str, paused: bool) -> Device:
    device = _own_device_for_update(customer_id=customer_id, serial=serial)
    if device.paused != paused:
        device.paused = paused
        device.save(update_fields=["paused"])
        log.info("device_%s device=%s", "paused" if paused else "unpaused", serial)
    return device


def devices_set_paused_by_operator(*, device_ids: list[int], paused: bool, actor: str) -> int:
    """Pause or unpause claimed devices from the console; returns how many changed."""
    changed = Device.objects.filter(pk__in=device_ids, customer__isnull=False).exclude(paused=paused).update(paused=paused)
    log.warning("devices_%s count=%s actor=%s", "paused" if paused else "unpaused", changed, actor)
    return changed


@transaction.atomic
def device_unlink(*, customer_id: int, serial: str) -> Device:
    """The device goes back to unclaimed with a fresh claim code; its orders stay the customer's."""
    device = _own_device_for_update(customer_id=customer_id, serial=serial)
    device.customer = None
    device.product = None
    device.paused = False
    device.hold_seconds = None
    device.name = ""
    device.claim_code = credentials.new_claim_code()
    device.claimed_at = None
    device.save(update_fields=["customer", "product", "paused", "hold_seconds", "name", "claim_code", "claimed_at"])
    device.slots.all().delete()  # an appliance's slots and readings are the customer's, not the next owner's
    log.info("device_unlinked device=%s customer=%s", serial, customer_id)
    return device


@transaction.atomic
def device_revoke_token(*, device_id: int, actor: str) -> Device:
    device = Device.objects.select_for_update().get(pk=device_id)
    if device.token_revoked_at is None:
        device.token_revoked_at = timezone.now()
        device.save(update_fields=["token_revoked_at"])
        log.warning("device_token_revoked device=%s actor=%s", device.serial, actor)
    return device


@transaction.atomic
def device_issue_token(*, device_id: int, actor: str, token: str | None = None) -> Provisioned:
    """A new token for a device (after a revocation); the old one stops working at once.
    The token is generated unless given (the demo derives its own)."""
    device = Device.objects.select_for_update().get(pk=device_id)
    token = token or credentials.new_token()
    device.token_hash = credentials.hash_token(token)
    device.token_revoked_at = None
    device.save(update_fields=["token_hash", "token_revoked_at"])
    log.warning("device_token_issued device=%s actor=%s", device.serial, actor)
    return Provisioned(device=device, token=token)


def device_heartbeat(*, device: Device, battery: int | None, firmware: str | None) -> Device:
    device.last_seen_at = timezone.now()
    fields = ["last_seen_at"]
    if battery is not None:
        device.battery_percent = battery
        fields.append("battery_percent")
    if firmware is not None:
        device.firmware = firmware
        fields.append("firmware")
    device.save(update_fields=fields)
    return device


# --- The intake ------------------------------------------------------------------------


@dataclass(frozen=True)
class IntakeAnswer:
    status: int
    body: bytes
    headers: dict = field(default_factory=dict)


class _DuplicateEvent(Exception):
    """The same event id was recorded by a concurrent request: roll back and replay."""


def device_event_ingest(*, token: str | None, raw: bytes, content_type: str) -> IntakeAnswer:
    """Record a device event once and answer it; see the device API contract (v1).

    Nothing is written for a refused request (IntakeError). The answer is sent only after the
    event is committed, and a replay of the same event gets the first answer byte for byte.
    """
    if not token:
        raise IntakeError(401, "unauthorized", "Send 'Authorization: Device <token>'.")
    token_hash = credentials.hash_token(token)
    with unauthorized_first(token_hash=token_hash):
        event = parse_event(raw, content_type)
    admitted = _admit(token_hash=token_hash, event=event, record_press=event.type == "press")
    if isinstance(admitted, IntakeAnswer):
        return admitted
    ctx, now = admitted.ctx, admitted.now
    try:
        if admitted.recorded is not None:
            answer = IntakeAnswer(status=200, body=admitted.recorded)
            log.info("device_event device=%s event=%s outcome=order_in_progress order=%s", ctx.serial, event.event_id, ctx.order_in_progress.public_id)
        else:  # not a press for an order in progress, or a twin recorded it first (the insert here finds it)
            answer = _decide_and_record(ctx, event, now)
    except _DuplicateEvent:
        stored = stored_answer(device_id=ctx.device_id, event_id=event.event_id)
        return _replay(stored, event)
    if ctx.last_seen_at is None or now - ctx.last_seen_at > LAST_SEEN_RESOLUTION:
        hot_fetchone(_TOUCH_DEVICE_SQL, [connection.ops.adapt_datetimefield_value(now), ctx.device_id])
    return answer


@contextmanager
def unauthorized_first(*, token_hash: str):
    """A request refused while parsing answers 401, not 400, when its token is not a device's."""
    try:
        yield
    except IntakeError:
        if device_for_token(token_hash=token_hash) is None:
            raise IntakeError(401, "unauthorized", "Unknown or revoked device token.") from None
        raise


def intake_admit(*, token_hash: str, event: DeviceEventInput) -> IntakeAnswer | tuple[IntakeContext, datetime]:
    """What every event type checks first, in one query: the device (401 when unknown or
    revoked), a replay (its first answer; a retry costs nothing new, so it is never throttled)
    and the throttle (429). Returns the replay's answer, or the context and the time to decide with."""
    admitted = _admit(token_hash=token_hash, event=event, record_press=False)
    return admitted if isinstance(admitted, IntakeAnswer) else (admitted.ctx, admitted.now)


@dataclass(frozen=True)
class _Admitted:
    ctx: IntakeContext
    now: datetime
    recorded: bytes | None = None  # the answer to a press for an order in progress, recorded with the context


def _admit(*, token_hash: str, event: DeviceEventInput, record_press: bool) -> IntakeAnswer | _Admitted:
    now = timezone.now()
    window = throttle_window(now=now)
    recorded = None
    if record_press and connection.vendor == "postgresql":
        row = hot_fetchone(_PRESS_SQL, _press_params(token_hash=token_hash, event=event, window=window, now=now))
        ctx = None if row is None else context_of(row)
        recorded = None if row is None else row[-1]
    else:
        ctx = intake_context(token_hash=token_hash, event_id=event.event_id, window=window)
    if ctx is None:
        raise IntakeError(401, "unauthorized", "Unknown or revoked device token.")
    if ctx.stored is not None:
        return _replay(ctx.stored, event)
    retry_after = throttle_retry_after(window=window, recent=ctx.recent_events, oldest=ctx.oldest_recent_event, now=now)
    if retry_after is not None:
        raise IntakeError(
            429, "throttled", f"Too many events from this device; try again in {retry_after} s.", headers={"Retry-After": str(retry_after)}
        )
    return _Admitted(ctx=ctx, now=now, recorded=None if recorded is None else bytes(recorded))


# What the event log's inserts write, in order (the code's `_record` and the press statement).
_EVENT_COLUMNS = (
    "device_id, event_id, type, payload, body_hash, outcome, status_code, response_body, order_id, customer_id, product_id, "
    "occurred_at, received_at"
)


# A press for an order already in progress -- nearly every press: the order stays in progress
# for its hold, the shop and the delivery, and a toddler presses twenty times -- is recorded by
# the context query itself, in one statement: the same decision and the same answer, byte for
# byte, as `_decide_and_record` below (tests/devices/test_press_statement.py), without a second
# round trip (measured in-process: about 0.2 ms less CPU an event in the web process). Any other
# outcome (a replay, the throttle, an order to place, a paused device...) records nothing here
# and goes on to the code below with the context.
_ISO_SQL = """CASE WHEN hold_until IS NULL THEN 'null' ELSE concat(
    '"', to_char(hold_until AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS'),
    CASE WHEN mod(extract(microseconds FROM hold_until AT TIME ZONE 'UTC'), 1000000) <> 0
         THEN to_char(hold_until AT TIME ZONE 'UTC', '.US') END,
    'Z"') END"""  # orders.selectors.iso: UTC, a Z, microseconds only when there are some
_IN_PROGRESS_BODY_SQL = f"""convert_to(concat(
    '{{"event_id":', to_json(%s::text),
    ',"outcome":"order_in_progress","detail":',
    to_json('An order for ' || name || ' is already ' || status || '; no new order was placed.'),
    ',"order":{{"id":"', public_id, '","status":', to_json(status),
    ',"product":{{"sku":', to_json(sku), ',"name":', to_json(name), '}},"quantity":', order_quantity,
    ',"hold_until":', {_ISO_SQL}, ',"version":', version, '}}}}'), 'UTF8')"""
_PRESS_SQL = f"""
WITH ctx ({", ".join(CONTEXT_COLUMNS)}) AS ({CONTEXT_SQL_POSTGRESQL}),
press AS (
  INSERT INTO devices_deviceevent ({_EVENT_COLUMNS})
  SELECT device_id, %s::varchar, 'press', %s::jsonb, %s::varchar, 'order_in_progress', 200, {_IN_PROGRESS_BODY_SQL},
         order_id, customer_id, product_id, %s::timestamptz, %s::timestamptz
    FROM ctx
   WHERE kind = '{DeviceKind.BUTTON.value}' AND customer_id IS NOT NULL AND NOT paused AND active IS TRUE
     AND order_id IS NOT NULL AND stored_status IS NULL AND (%s::int = 0 OR recent < %s::int)
  ON CONFLICT (device_id, event_id) DO NOTHING
  RETURNING response_body)
SELECT ctx.*, (SELECT response_body FROM press) FROM ctx
"""


def _press_params(*, token_hash: str, event: DeviceEventInput, window, now: datetime) -> list:
    return [
        event.event_id, window.since, window.limit, token_hash,  # the context query
        event.event_id, _json_param(event.payload, "postgresql"), event.body_hash,  # the event
        event.event_id,  # its answer
        event.occurred_at, now,
        window.limit, window.limit,  # the throttle lets it pass
    ]  # fmt: skip


def _replay(stored: StoredAnswer, event: DeviceEventInput) -> IntakeAnswer:
    if stored.body_hash != event.body_hash:
        raise IntakeError(422, "event_id_reused", "This event_id was already used for a different event.", fields={"event_id": ["Already used."]})
    return IntakeAnswer(status=stored.status_code, body=stored.body, headers={"Idempotent-Replayed": "true"})


def _ref_summary(ref: OrderRef, ctx: IntakeContext) -> dict:
    return summary_of(
        public_id=ref.public_id,
        status=ref.status,
        sku=ctx.product.sku,
        name=ctx.product.name,
        quantity=ref.quantity,
        hold_until=ref.hold_until,
        version=ref.version,
    )


def _decide_and_record(ctx: IntakeContext, event: DeviceEventInput, now: datetime) -> IntakeAnswer:
    if event.type == "slot_status" and ctx.kind == DeviceKind.APPLIANCE:
        from devices.appliances import slot_status_decide  # the press path never loads it

        return slot_status_decide(ctx, event, now)
    if event.type == "scan" and ctx.kind == DeviceKind.WAND:
        from devices.scan import scan_decide  # off the press path

        return scan_decide(ctx, event, now, record=_record)
    if event.type == "voice":
        raise IntakeError(
            415, "unsupported_media_type", "Send a voice event as multipart/form-data with the clip in an 'audio' file field."
        )
    if event.type != "press" or ctx.kind != DeviceKind.BUTTON:
        raise IntakeError(
            422,
            "type_not_supported",
            f"A {ctx.kind} cannot send {event.type!r} events to this server yet; buttons send 'press'.",
            fields={"type": ["Not supported for this device."]},
        )
    if ctx.customer_id is None:
        return _record(ctx, event, now, 409, "device_unclaimed", "No customer has linked this device yet; enter its claim code on the website.")
    if ctx.paused:
        paused = "This device is paused; unpause it on the website to order again."
        return _record(ctx, event, now, 409, "device_paused", paused, product_id=ctx.product.id if ctx.product is not None else None)
    if ctx.product is None or not ctx.product.active:
        return _record(ctx, event, now, 422, "unknown_product", "This button is not bound to a product in the catalog.")
    if ctx.order_in_progress is not None:
        return _in_progress(ctx, event, now, _ref_summary(ctx.order_in_progress, ctx), ctx.order_in_progress.id)
    with transaction.atomic():
        product = Product(pk=ctx.product.id, sku=ctx.product.sku, name=ctx.product.name, price=ctx.product.price, max_quantity=ctx.product.max_quantity)
        result = order_place(
            customer_id=ctx.customer_id,
            product=product,
            quantity=ctx.quantity,
            source=OrderSource.BUTTON,
            actor=f"device:{ctx.serial}",
            device_serial=ctx.serial,
            hold_seconds=ctx.hold_seconds,
            reason=f"press {event.event_id}",
            now=now,
        )
        summary = order_summary(result.order)
        if not result.created:
            return _in_progress(ctx, event, now, summary, result.order.pk)
        qty = result.order.quantity
        hold = result.order.hold_until
        detail = f"Order placed: {qty} x {ctx.product.name}, held until {iso(hold)} for you to approve or remove."
        return _record(ctx, event, now, 201, "order_placed", detail, summary, result.order.pk, product_id=ctx.product.id)


def _in_progress(ctx, event, now, summary: dict, order_id: int) -> IntakeAnswer:
    """An order for the button's product is in progress (it is that product's: Invariant 2)."""
    detail = f"An order for {ctx.product.name} is already {summary['status']}; no new order was placed."
    return _record(ctx, event, now, 200, "order_in_progress", detail, summary, order_id, product_id=ctx.product.id)


def _json_param(value: dict, vendor: str):
    """JSON for a jsonb column (PostgreSQL, typed when prepared) or a text column (SQLite)."""
    if vendor == "postgresql":
        return Jsonb(value, dumps=_dumps_text)
    return _dumps_text(value)


def _dumps_text(value) -> str:
    return orjson.dumps(value).decode()


_INSERT_EVENT_SQL = f"""
INSERT INTO devices_deviceevent ({_EVENT_COLUMNS})
VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)
ON CONFLICT (device_id, event_id) DO NOTHING
RETURNING id
"""


def _record(
    ctx,
    event,
    now,
    status: int,
    outcome: str,
    detail: str,
    order: dict | None = None,
    order_id: int | None = None,
    extra: dict | None = None,
    *,
    product_id: int | None = None,
) -> IntakeAnswer:
    """Write the event and its answer; raises _DuplicateEvent if a concurrent twin got there first.
    `product_id` is the product the event named (its order's, a paused device's), for analytics."""
    body = answer_body(event_id=event.event_id, outcome=outcome, detail=detail, order=order, extra=extra)
    conn = connections[DEFAULT_DB_ALIAS]  # once: each `connection.x` is a thread-local lookup
    ops = conn.ops
    inserted = hot_fetchone(
        _INSERT_EVENT_SQL,
        [
            ctx.device_id,
            event.event_id,
            event.type,
            _json_param(event.payload, conn.vendor),
            event.body_hash,
            outcome,
            status,
            body,
            order_id,
            ctx.customer_id,
            product_id,
            ops.adapt_datetimefield_value(event.occurred_at),
            ops.adapt_datetimefield_value(now),
        ],
    )
    if inserted is None:
        raise _DuplicateEvent()
    log.info("device_event device=%s event=%s outcome=%s order=%s", ctx.serial, event.event_id, outcome, order["id"] if order else "-")
    return IntakeAnswer(status=status, body=body)


# --- Retention -------------------------------------------------------------------------


def device_events_prune(*, now: datetime | None = None, batch: int = 5000) -> int:
    """Delete events older than the retention window, oldest first, in batches to keep locks short,
    and only events the partner analytics rollups have consumed (at or below their watermark).

    The log is append-only, so the oldest events have the lowest ids: each batch reads the
    next rows by primary key (no index on received_at to maintain on every insert). An event
    whose id is low but whose time is not yet old (its transaction committed late) stops the
    batch and waits for the next run."""
    cutoff = (now or timezone.now()) - timedelta(hours=settings.DASH_EVENT_RETENTION_HOURS)
    consumed = rollup_watermark(feed=DEVICE_EVENTS_FEED)
    deleted = 0
    while True:
        rows = list(DeviceEvent.objects.filter(pk__lte=consumed).order_by("pk").values_list("pk", "received_at")[:batch])
        old = []
        for pk, received_at in rows:
            if received_at >= cutoff:
                break
            old.append(pk)
        if old:
            deleted += DeviceEvent.objects.filter(pk__in=old).delete()[0]
        if len(old) < batch:
            return deleted
