from decimal import Decimal

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MinValueValidator
from django.db import models
from stdnum import ean


def validate_gtin(value: str) -> None:
    """A GTIN-8/12/13/14 with a valid check digit (python-stdnum)."""
    if len(value) not in (8, 12, 13, 14) or not value.isdigit():
        raise ValidationError("A GTIN has 8, 12, 13 or 14 digits.")
    try:
        ean.validate(value)
    except Exception as exc:  # stdnum raises its own ValidationError subclasses
        raise ValidationError(f"Not a valid GTIN: {exc}") from exc


class Partner(models.Model):
    """A brand whose products are in the catalog."""

    slug = models.SlugField(unique=True)
    name = models.CharField(max_length=120)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Product(models.Model):
    partner = models.ForeignKey(Partner, on_delete=models.PROTECT, related_name="products")
    sku = models.CharField(max_length=40, unique=True)
    name = models.CharField(max_length=200)
    gtin = models.CharField(max_length=14, unique=True, validators=[validate_gtin])
    aliases = models.JSONField(default=list, blank=True, help_text="Spoken names, e.g. ['plastic wrap', 'cling film'].")
    price = models.DecimalField(max_digits=10, decimal_places=2, validators=[MinValueValidator(Decimal("0.01"))])
    max_quantity = models.PositiveSmallIntegerField(default=5, validators=[MinValueValidator(1)])
    # How many days an order takes to arrive: appliances reorder this long (plus a margin)
    # before their predicted run-out.
    delivery_days = models.PositiveSmallIntegerField(default=2, validators=[MinValueValidator(1)])
    active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return f"{self.name} ({self.sku})"


class PartnerMembership(models.Model):
    class Role(models.TextChoices):
        ADMIN = "admin", "Admin"
        ANALYST = "analyst", "Analyst"

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="partner_memberships")
    partner = models.ForeignKey(Partner, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=16, choices=Role.choices, default=Role.ANALYST)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "partner"], name="uniq_partner_membership")]

    def __str__(self) -> str:
        return f"{self.user} @ {self.partner} ({self.role})"


# --- Analytics rollups ---------------------------------------------------------------------
# Filled incrementally by partners.analytics.rollup from the fact feeds that devices and orders
# register (see partners/analytics/feeds.py). Days and hours are in the customer's time zone.


def validate_time_zone(value: str) -> None:
    """An IANA time zone name such as Europe/Berlin."""
    import zoneinfo

    if value not in zoneinfo.available_timezones():
        raise ValidationError(f"{value!r} is not a time zone name (e.g. Europe/Berlin).")


class CustomerTimeZone(models.Model):
    """A customer's time zone for the weekday x hour figures (DASH_DEFAULT_TIME_ZONE when absent)."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, primary_key=True, related_name="time_zone")
    time_zone = models.CharField(max_length=64, validators=[validate_time_zone])

    def __str__(self) -> str:
        return f"{self.user_id}: {self.time_zone}"


class RollupWatermark(models.Model):
    """The last source id a feed's rollup consumed: everything at or below it is counted once."""

    feed = models.CharField(max_length=40, primary_key=True)
    last_id = models.BigIntegerField(default=0)
    updated_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"{self.feed} <= {self.last_id}"


def _count():
    return models.IntegerField(default=0, db_default=0)


def _sample():
    return models.CharField(max_length=120, blank=True, default="", db_default="")


class CellColumns(models.Model):
    """The columns of a cell (ProductDayStat, ProductMonthStat): additive counts of each metric and
    of presses per local hour (h00..h23), and who the cell describes -- per metric (`s_<metric>`)
    and pressing per hour (`sh00..sh23`) a sample of up to SAMPLE_SIZE of its distinct customer ids
    (comma-separated), with the sample's size beside it (`people_<metric>`, `ph00..ph23`): the
    exact number of customers below SAMPLE_SIZE, "at least SAMPLE_SIZE" at it."""

    SAMPLE_SIZE = 5

    presses = _count()
    placed = _count()
    filtered = _count()
    paused = _count()
    cancelled = _count()
    delivered = _count()
    failed = _count()
    for _h in range(24):
        locals()[f"h{_h:02d}"] = _count()
    for _m in ("presses", "placed", "filtered", "paused", "cancelled", "delivered", "failed"):
        locals()[f"people_{_m}"] = _count()
        locals()[f"s_{_m}"] = _sample()
    for _h in range(24):
        locals()[f"ph{_h:02d}"] = _count()
        locals()[f"sh{_h:02d}"] = _sample()
    del _h, _m

    class Meta:
        abstract = True


class ProductDayStat(CellColumns):
    """One cell per product, local day and source (the columns: CellColumns).

    The sums add up over any range; distinct counts do not, but the cells decide the privacy
    threshold (at most SAMPLE_SIZE, partners.checks) exactly: a figure over many cells is shown
    when one cell already has the threshold of customers, and otherwise every cell is small
    enough for its sample to be all of its customers, so the union of the samples is the
    figure's exact customer set (partners.analytics.selectors). A rollup batch merges its own
    customers into the samples of the cells it touches (PostgreSQL keeps no per-customer rows;
    SQLite recomputes the cells from ProductDayCustomer)."""

    pk = models.CompositePrimaryKey("product", "day", "source")
    product = models.ForeignKey(Product, on_delete=models.CASCADE, db_constraint=False, db_index=False, related_name="+")
    day = models.DateField()
    source = models.CharField(max_length=12)


class ProductMonthStat(CellColumns):
    """The day cells of a local month that fall on one weekday, in one cell (PostgreSQL): a year's
    figures read about a fifth as many rows (twelve months times seven weekdays instead of 365
    days) and the weekday x hour heatmap still adds up. Kept by the rollup batch by batch, beside
    the day cells and in the same way (sums added, samples merged); a range reads whole months
    here and the days at its edges from ProductDayStat. SQLite (the embedded `make run`) reads
    the day cells only and leaves this table empty."""

    pk = models.CompositePrimaryKey("product", "month", "weekday", "source")
    product = models.ForeignKey(Product, on_delete=models.CASCADE, db_constraint=False, db_index=False, related_name="+")
    month = models.DateField(help_text="The month's first day.")
    weekday = models.PositiveSmallIntegerField(help_text="ISO: 1 = Monday.")
    source = models.CharField(max_length=12)


class ProductDayCustomer(models.Model):
    """Who did what, per product, local day and source (SQLite, the embedded `make run`: its
    distinct counts and cells are computed from these rows; PostgreSQL uses bit sets and the
    cells' samples instead and writes none). `flags` and `hours` are bit sets that only ever
    gain bits (OR on upsert): which metrics and which press hours the customer contributed that
    day from that source."""

    product = models.ForeignKey(Product, on_delete=models.CASCADE, db_constraint=False, db_index=False, related_name="+")
    day = models.DateField()
    customer_id = models.BigIntegerField()
    source = models.CharField(max_length=12)
    flags = models.IntegerField(default=0)
    hours = models.IntegerField(default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["product", "day", "customer_id", "source"], name="uniq_product_day_customer")]


class ProductDayDevice(models.Model):
    """The devices that asked for a product on a local day (active devices), with their owner."""

    product = models.ForeignKey(Product, on_delete=models.CASCADE, db_constraint=False, db_index=False, related_name="+")
    day = models.DateField()
    device_id = models.BigIntegerField()
    customer_id = models.BigIntegerField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["product", "day", "device_id"], name="uniq_product_day_device")]


class ProductReorder(models.Model):
    """Time between a customer's consecutive orders of a product, bucketed, by the later order's
    local day (SQLite; PostgreSQL adds straight into ProductReorderCell)."""

    product = models.ForeignKey(Product, on_delete=models.CASCADE, db_constraint=False, db_index=False, related_name="+")
    day = models.DateField()
    customer_id = models.BigIntegerField()
    bucket = models.PositiveSmallIntegerField()
    reorders = models.PositiveIntegerField(default=0)
    seconds = models.BigIntegerField(default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["product", "day", "customer_id", "bucket"], name="uniq_product_reorder")]


class ProductReorderCell(models.Model):
    """Reorders per product, local day and bucket, with a sample of the cell's customers and its
    size (a certificate, as in ProductDayStat)."""

    pk = models.CompositePrimaryKey("product", "day", "bucket")
    product = models.ForeignKey(Product, on_delete=models.CASCADE, db_constraint=False, db_index=False, related_name="+")
    day = models.DateField()
    bucket = models.PositiveSmallIntegerField()
    reorders = _count()
    seconds = models.BigIntegerField(default=0, db_default=0)
    people = _count()
    s_people = _sample()


class ProductReorderMonthCell(models.Model):
    """ProductReorderCell per local month (PostgreSQL; a range reads whole months here and the days
    at its edges from the day cells)."""

    pk = models.CompositePrimaryKey("product", "month", "bucket")
    product = models.ForeignKey(Product, on_delete=models.CASCADE, db_constraint=False, db_index=False, related_name="+")
    month = models.DateField(help_text="The month's first day.")
    bucket = models.PositiveSmallIntegerField()
    reorders = _count()
    seconds = models.BigIntegerField(default=0, db_default=0)
    people = _count()
    s_people = _sample()


class CustomerLastOrder(models.Model):
    """The latest order placed per customer and product, carried between rollup runs."""

    product = models.ForeignKey(Product, on_delete=models.CASCADE, db_constraint=False, db_index=False, related_name="+")
    customer_id = models.BigIntegerField()
    last_at = models.DateTimeField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["product", "customer_id"], name="uniq_customer_last_order")]


class UnmetDemand(models.Model):
    """Requests that named nothing in the catalog: unknown barcodes (gtin), spoken orders not
    understood, buttons bound to no active product -- per local day, kind and customer."""

    day = models.DateField()
    kind = models.CharField(max_length=12)
    gtin = models.CharField(max_length=14, blank=True)
    customer_id = models.BigIntegerField()
    requests = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["day", "kind", "gtin", "customer_id"], name="uniq_unmet_demand")]
        indexes = [models.Index(fields=["gtin", "day"], name="unmet_demand_gtin_idx")]


class PartnerApiToken(models.Model):
    """A token for the partner API, scoped to one partner. Only its SHA-256 is kept; the token is
    shown once when issued."""

    partner = models.ForeignKey(Partner, on_delete=models.CASCADE, related_name="api_tokens")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    name = models.CharField(max_length=80)
    prefix = models.CharField(max_length=12, help_text="The token's first characters, to tell tokens apart.")
    token_hash = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.partner} / {self.name} ({self.prefix}...)"
