"""A wand's barcode scan: the GTIN is looked up in the catalog and ordered like a press.

Off the press path: `devices.services._decide_and_record` hands scans here, so a press pays
nothing for them. The quantity is the one the customer chose for that product on one of their
buttons (their standing preference for it), else 1.
"""

from datetime import datetime

from django.db import transaction

from devices.intake import DeviceEventInput
from devices.models import Device, DeviceKind
from devices.selectors import IntakeContext
from orders.models import OrderSource
from orders.selectors import iso, order_summary
from orders.services import order_place
from partners.models import Product


def preferred_quantity(*, customer_id: int, product_id: int) -> int:
    """The quantity the customer set for this product (on a button bound to it), else 1."""
    quantity = (
        Device.objects.filter(customer_id=customer_id, product_id=product_id, kind=DeviceKind.BUTTON)
        .order_by("-claimed_at")
        .values_list("quantity", flat=True)
        .first()
    )
    return quantity or 1


def scan_decide(ctx: IntakeContext, event: DeviceEventInput, now: datetime, *, record):
    """Answer a scan; `record` is the intake's event writer (devices.services._record)."""
    if ctx.customer_id is None:
        return record(
            ctx, event, now, 409, "device_unclaimed", "No customer has linked this device yet; enter its claim code on the website."
        )
    gtin = event.payload["gtin"]
    if ctx.paused:
        # the product it asked for still counts for its brand (a paused request)
        named = Product.objects.filter(gtin=gtin).values_list("pk", flat=True).first()
        paused = "This device is paused; unpause it on the website to order again."
        return record(ctx, event, now, 409, "device_paused", paused, product_id=named)
    product = Product.objects.filter(gtin=gtin, active=True).only("pk", "sku", "name", "price", "max_quantity").first()
    if product is None:
        # The GTIN stays in the event's payload: partner analytics counts it as unmet demand.
        return record(ctx, event, now, 422, "unknown_product", f"No product with GTIN {gtin} is in the catalog.")
    with transaction.atomic():
        result = order_place(
            customer_id=ctx.customer_id,
            product=product,
            quantity=preferred_quantity(customer_id=ctx.customer_id, product_id=product.pk),
            source=OrderSource.SCAN,
            actor=f"device:{ctx.serial}",
            device_serial=ctx.serial,
            hold_seconds=ctx.hold_seconds,
            reason=f"scan {event.event_id} ({gtin})",
            now=now,
        )
        summary = order_summary(result.order)
        if not result.created:
            detail = f"An order for {product.name} is already {summary['status']}; no new order was placed."
            return record(ctx, event, now, 200, "order_in_progress", detail, summary, result.order.pk, product_id=product.pk)
        order = result.order
        detail = f"Order placed: {order.quantity} x {product.name}, held until {iso(order.hold_until)} for you to approve or remove."
        return record(ctx, event, now, 201, "order_placed", detail, summary, order.pk, product_id=product.pk)
