import uuid

from django.conf import settings
from django.db import models

from orders.models import Order
from partners.models import Partner, Product


class DeviceKind(models.TextChoices):
    BUTTON = "button", "Button"
    WAND = "wand", "Wand"
    APPLIANCE = "appliance", "Appliance"


class Device(models.Model):
    serial = models.CharField(max_length=32, unique=True)
    kind = models.CharField(max_length=12, choices=DeviceKind.choices)
    # Only a hash of the token is kept; the token itself is shown once at provisioning.
    token_hash = models.CharField(max_length=64, unique=True)
    token_revoked_at = models.DateTimeField(null=True, blank=True)
    claim_code = models.CharField(max_length=24, unique=True)
    provisioned_for = models.ForeignKey(Partner, null=True, blank=True, on_delete=models.SET_NULL)
    customer = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="devices"
    )
    name = models.CharField(max_length=80, blank=True)
    paused = models.BooleanField(default=False)
    product = models.ForeignKey(Product, null=True, blank=True, on_delete=models.SET_NULL, related_name="buttons")
    quantity = models.PositiveSmallIntegerField(default=1)
    hold_seconds = models.PositiveIntegerField(
        null=True, blank=True, help_text="Overrides the default hold window for orders from this device."
    )
    claimed_at = models.DateTimeField(null=True, blank=True)
    last_seen_at = models.DateTimeField(null=True, blank=True)
    battery_percent = models.PositiveSmallIntegerField(null=True, blank=True)
    firmware = models.CharField(max_length=40, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    # Health notices, once per episode: set when the customer was told, cleared when it ended.
    silence_notified_at = models.DateTimeField(null=True, blank=True)
    battery_notified_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["serial"]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.serial}"


class DeviceEvent(models.Model):
    """The device event log (the stream): every accepted event, once, with the answer sent."""

    # The event log is the hottest table: every index and foreign-key check is paid on each
    # insert. (device, event_id) is unique, which serves lookups by device; the keys are not
    # enforced by the database (the intake writes ids it has just read, and deletes cascade
    # in Django), which also spares each insert a share lock on the order it names.
    device = models.ForeignKey(Device, on_delete=models.CASCADE, related_name="events", db_index=False, db_constraint=False)
    event_id = models.CharField(max_length=64)
    type = models.CharField(max_length=16)
    payload = models.JSONField(default=dict)
    body_hash = models.CharField(max_length=64)
    outcome = models.CharField(max_length=24)
    status_code = models.PositiveSmallIntegerField()
    response_body = models.BinaryField()
    order = models.ForeignKey(
        Order, null=True, blank=True, on_delete=models.SET_NULL, related_name="device_events", db_index=False, db_constraint=False
    )
    # Whom and what the event was about, as the intake knew it: the device's customer then, and
    # the product the event named (its order's; a paused button's or a paused scan's; None when
    # it named nothing known). Partner analytics reads them here instead of joining the devices,
    # orders and catalog for every event (devices/analytics_feed.py); a device claimed by someone
    # else later does not move its old events. Neither is indexed or enforced, like the keys above.
    customer = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.DO_NOTHING, related_name="+", db_index=False, db_constraint=False
    )
    product = models.ForeignKey(Product, null=True, blank=True, on_delete=models.DO_NOTHING, related_name="+", db_index=False, db_constraint=False)
    occurred_at = models.DateTimeField(null=True, blank=True)
    received_at = models.DateTimeField()

    class Meta:
        constraints = [
            # Invariant 1: one event, one effect.
            models.UniqueConstraint(fields=["device", "event_id"], name="uniq_device_event_id"),
        ]
        indexes = [
            # A device's recent events: the per-device throttle counts them in the intake's one
            # query. (Pruning walks the primary key; on PostgreSQL a BRIN index on received_at,
            # created by migration 0003, serves time ranges in the admin.)
            models.Index(fields=["device", "received_at"], name="device_event_recent_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.device_id}/{self.event_id} {self.outcome}"


class ApplianceSlot(models.Model):
    """A supply an appliance measures (`detergent`, `softener`), bound by the customer to a
    product. `remaining` and `capacity` are in the appliance's own unit (ml, doses, ...)."""

    device = models.ForeignKey(Device, on_delete=models.CASCADE, related_name="slots")
    name = models.CharField(max_length=32)
    product = models.ForeignKey(Product, null=True, blank=True, on_delete=models.SET_NULL, related_name="appliance_slots")
    quantity = models.PositiveSmallIntegerField(default=1)
    capacity = models.FloatField()
    reorder_threshold = models.FloatField()
    auto_reorder = models.BooleanField(default=True)
    remaining = models.FloatField(null=True, blank=True)
    last_reading_at = models.DateTimeField(null=True, blank=True)
    # The current cycle: from the last refill (a reading that jumps up) to the next one.
    cycle_started_at = models.DateTimeField(null=True, blank=True)
    # At most one reorder per cycle: the order placed (or found in progress) for this cycle.
    cycle_order = models.ForeignKey(Order, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    # Auto-reorder off: the "running low" notice of this cycle was sent.
    low_notified_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["device", "name"]
        constraints = [models.UniqueConstraint(fields=["device", "name"], name="uniq_slot_per_device")]

    def __str__(self) -> str:
        return f"{self.device.serial}/{self.name}"


class SlotReading(models.Model):
    """One supply level reported by an appliance (the prediction's input)."""

    slot = models.ForeignKey(ApplianceSlot, on_delete=models.CASCADE, related_name="readings")
    at = models.DateTimeField()
    remaining = models.FloatField()

    class Meta:
        indexes = [models.Index(fields=["slot", "at"], name="slot_reading_slot_at_idx")]

    def __str__(self) -> str:
        return f"{self.slot_id} {self.remaining} @ {self.at}"


def voice_clip_storage():
    """The storage for voice clips (settings.STORAGES["voice_clips"]): local files or S3."""
    from django.core.files.storage import storages

    return storages["voice_clips"]


class VoiceClip(models.Model):
    """A wand's spoken order: the clip, what was heard, and how it ended.

    Kept apart from the event log (pruned after a day) for the clip's own retention window
    (DASH_VOICE_RETENTION_DAYS): the device polls its outcome and the customer confirms an
    uncertain match from here."""

    class Status(models.TextChoices):
        PROCESSING = "processing", "Processing"
        ORDER_PLACED = "order_placed", "Order placed"
        ORDER_IN_PROGRESS = "order_in_progress", "Order already in progress"
        NEEDS_CONFIRMATION = "needs_confirmation", "Needs confirmation"
        UNKNOWN_PRODUCT = "unknown_product", "Not in the catalog"
        CONFIRMED = "confirmed", "Confirmed"
        CHOSEN = "chosen", "Another product chosen"
        DISCARDED = "discarded", "Discarded"

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    device = models.ForeignKey(Device, on_delete=models.CASCADE, related_name="voice_clips")
    customer = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="voice_clips")
    event_id = models.CharField(max_length=64)
    # The clip's name in voice_clip_storage() (resolved at use: local files or S3 by settings).
    audio_name = models.CharField(max_length=255, blank=True)
    seconds = models.FloatField()
    status = models.CharField(max_length=24, choices=Status.choices, default=Status.PROCESSING)
    transcript = models.CharField(max_length=300, blank=True)
    confidence = models.FloatField(null=True, blank=True)
    candidates = models.JSONField(default=list, blank=True, help_text="[{sku, name, score}], best first.")
    order = models.ForeignKey(Order, null=True, blank=True, on_delete=models.SET_NULL, related_name="voice_clips")
    answer_status = models.PositiveSmallIntegerField(null=True, blank=True)
    answer_body = models.BinaryField(null=True, blank=True)
    transcription_seconds = models.FloatField(null=True, blank=True)
    received_at = models.DateTimeField(db_index=True)
    resolved_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-received_at"]
        constraints = [models.UniqueConstraint(fields=["device", "event_id"], name="uniq_voice_clip_device_event")]
        indexes = [models.Index(fields=["customer", "status"], name="voice_clip_customer_status")]

    def __str__(self) -> str:
        return f"Voice {self.event_id} ({self.status})"
