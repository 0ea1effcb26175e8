import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q

from partners.models import Product


class OrderStatus(models.TextChoices):
    NEEDS_CONFIRMATION = "needs_confirmation", "Needs confirmation"
    HELD = "held", "Held"
    RELEASING = "releasing", "Releasing"
    SUBMITTED = "submitted", "Submitted"
    SHIPPED = "shipped", "Shipped"
    DELIVERED = "delivered", "Delivered"
    CANCELLED = "cancelled", "Cancelled"
    FAILED = "failed", "Failed"


IN_PROGRESS = (
    OrderStatus.NEEDS_CONFIRMATION,
    OrderStatus.HELD,
    OrderStatus.RELEASING,
    OrderStatus.SUBMITTED,
    OrderStatus.SHIPPED,
)


# The same states as an SQL list, for the raw statements of the intake's hot path.
IN_PROGRESS_SQL = ", ".join(f"'{s.value}'" for s in IN_PROGRESS)


class OrderSource(models.TextChoices):
    BUTTON = "button", "Button"
    SCAN = "scan", "Scan"
    VOICE = "voice", "Voice"
    APPLIANCE = "appliance", "Appliance"
    WEB = "web", "Web"


class Order(models.Model):
    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    customer = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="orders")
    product = models.ForeignKey(Product, on_delete=models.PROTECT, related_name="orders")
    quantity = models.PositiveSmallIntegerField()
    unit_price = models.DecimalField(max_digits=10, decimal_places=2)
    status = models.CharField(max_length=20, choices=OrderStatus.choices, db_index=True)
    source = models.CharField(max_length=12, choices=OrderSource.choices)
    # The device is referenced by serial, not by key: devices sit above orders.
    device_serial = models.CharField(max_length=32, blank=True, db_index=True)
    hold_until = models.DateTimeField(null=True, blank=True)
    version = models.PositiveIntegerField(default=1)
    submit_attempts = models.PositiveSmallIntegerField(default=0)
    commerce_ref = models.CharField(max_length=100, blank=True)
    last_error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)
    released_at = models.DateTimeField(null=True, blank=True)
    submitted_at = models.DateTimeField(null=True, blank=True)
    shipped_at = models.DateTimeField(null=True, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            # Invariant 2: one order in progress per customer and product.
            models.UniqueConstraint(
                fields=["customer", "product"],
                condition=Q(status__in=[s.value for s in IN_PROGRESS]),
                name="one_order_in_progress_per_customer_product",
            ),
        ]
        indexes = [
            # The release sweep: held orders by due time.
            models.Index(fields=["hold_until"], condition=Q(status="held"), name="order_held_due_idx"),
        ]

    def __str__(self) -> str:
        return f"Order {self.public_id} ({self.status})"

    @property
    def total(self):
        return self.unit_price * self.quantity


class OrderEvent(models.Model):
    """One state change: the order's timeline, audit trail and analytics input."""

    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="events")
    at = models.DateTimeField(db_index=True)
    actor = models.CharField(max_length=120)
    from_status = models.CharField(max_length=20, blank=True)
    to_status = models.CharField(max_length=20)
    reason = models.CharField(max_length=300, blank=True)

    class Meta:
        ordering = ["at", "id"]

    def __str__(self) -> str:
        return f"{self.from_status or '-'} -> {self.to_status} by {self.actor}"


class CustomerSettings(models.Model):
    """A customer's preferences. A customer without a row has the defaults: see
    `orders.selectors.customer_settings`."""

    customer = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, primary_key=True, related_name="dash_settings")
    # None: the site's default (DASH_HOLD_SECONDS). A device's own hold window overrides both.
    default_hold_seconds = models.PositiveIntegerField(null=True, blank=True)
    email_notices = models.BooleanField(default=True)
    # An IANA zone name, for the customer's own clock (pages, e-mails, weekday x hour analytics).
    time_zone = models.CharField(max_length=64, default="UTC")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name_plural = "customer settings"

    def __str__(self) -> str:
        return f"settings of customer {self.customer_id}"


class NoticeCursor(models.Model):
    """How far the order-notice sweep has read the timeline (`OrderEvent` ids)."""

    name = models.CharField(max_length=40, primary_key=True)
    last_id = models.BigIntegerField(default=0)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"{self.name} at {self.last_id}"
