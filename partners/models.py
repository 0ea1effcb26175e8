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
