from datetime import UTC, timedelta

from django.conf import settings
from django.db.models import QuerySet
from django.utils import timezone

from orders.models import IN_PROGRESS, CustomerSettings, Order, OrderStatus


def iso(dt) -> str | None:
    """UTC ISO 8601 with a Z, the format of every time in the APIs."""
    if dt is None:
        return None
    return dt.astimezone(UTC).isoformat().replace("+00:00", "Z")


def summary_of(*, public_id, status: str, sku: str, name: str, quantity: int, hold_until, version: int) -> dict:
    """The order as devices and live pages see it (the device API contract's `order`), from
    its columns: the intake and the sweeps have those without a model instance."""
    return {
        "id": str(public_id),
        "status": status,
        "product": {"sku": sku, "name": name},
        "quantity": quantity,
        "hold_until": iso(hold_until),
        "version": version,
    }


def order_summary(order: Order) -> dict:
    return summary_of(
        public_id=order.public_id,
        status=order.status,
        sku=order.product.sku,
        name=order.product.name,
        quantity=order.quantity,
        hold_until=order.hold_until,
        version=order.version,
    )


def orders_for_customer(*, customer_id: int) -> QuerySet[Order]:
    return Order.objects.filter(customer_id=customer_id).select_related("product").prefetch_related("events")


def orders_in_progress_for_customer(*, customer_id: int) -> QuerySet[Order]:
    return Order.objects.filter(customer_id=customer_id, status__in=IN_PROGRESS).select_related("product")


def order_for_customer(*, customer_id: int, public_id) -> Order:
    """Raises Order.DoesNotExist for any order not the customer's own (a 404, never a 403)."""
    return Order.objects.select_related("product").get(customer_id=customer_id, public_id=public_id)


def orders_stalled_in_releasing(*, older_than: timedelta) -> list[int]:
    """Releasing orders nobody is working on (a lost task, a flushed broker)."""
    cutoff = timezone.now() - older_than
    return list(Order.objects.filter(status=OrderStatus.RELEASING, updated_at__lt=cutoff).values_list("pk", flat=True)[:500])



def customer_settings(*, customer_id: int) -> CustomerSettings:
    """The customer's preferences; the defaults (unsaved) when they never changed any."""
    found = CustomerSettings.objects.filter(customer_id=customer_id).first()
    return found or CustomerSettings(customer_id=customer_id)


def customer_hold_seconds(*, customer_id: int) -> int:
    """The customer's default hold window: their own setting, else the site's."""
    value = CustomerSettings.objects.filter(customer_id=customer_id).values_list("default_hold_seconds", flat=True).first()
    return settings.DASH_HOLD_SECONDS if value is None else value


def customer_has_received(*, customer_id: int, product_id: int) -> bool:
    """Whether the customer has had this product delivered before (a reorder)."""
    return Order.objects.filter(customer_id=customer_id, product_id=product_id, status=OrderStatus.DELIVERED).exists()
