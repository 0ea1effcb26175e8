"""Every write for partners: the catalog and partner users."""

import hashlib
import logging
import secrets
from dataclasses import dataclass

from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from partners.demo_catalog import DEMO_CATALOG, DemoProduct
from partners.models import CustomerTimeZone, Partner, PartnerApiToken, PartnerMembership, Product, validate_gtin

log = logging.getLogger(__name__)

_PRODUCT_FIELDS = [
    "partner",
    "name",
    "gtin",
    "aliases",
    "price",
    "max_quantity",
    "delivery_days",
    "active",
]


def _product_from_demo(item: DemoProduct, partner: Partner) -> Product:
    return Product(
        partner=partner,
        sku=item.sku,
        name=item.name,
        gtin=item.gtin,
        aliases=list(item.aliases),
        price=item.price,
        max_quantity=item.max_quantity,
        delivery_days=item.delivery_days,
        active=True,
    )


def _differs(current: Product, wanted: Product) -> bool:
    if current.partner_id != wanted.partner.pk:
        return True
    return any(
        getattr(current, f) != getattr(wanted, f)
        for f in _PRODUCT_FIELDS
        if f != "partner"
    )


@transaction.atomic
def catalog_load_demo() -> tuple[int, int]:
    """Upsert the demo brands and products (keyed by slug and SKU); return (created, updated)
    counts of products. Rows that already match are not written, so a second run returns (0, 0).
    """
    partners = {}
    for brand in DEMO_CATALOG:
        partner, _ = Partner.objects.get_or_create(
            slug=brand.slug, defaults={"name": brand.name}
        )
        if partner.name != brand.name:
            partner.name = brand.name
            partner.save(update_fields=["name"])
        partners[brand.slug] = partner

    wanted = [
        _product_from_demo(item, partners[brand.slug])
        for brand in DEMO_CATALOG
        for item in brand.products
    ]
    for product in wanted:
        validate_gtin(product.gtin)
    skus = [p.sku for p in wanted]
    taken = dict(
        Product.objects.filter(gtin__in=[p.gtin for p in wanted])
        .exclude(sku__in=skus)
        .values_list("gtin", "sku")
    )
    if taken:
        gtin, sku = next(iter(taken.items()))
        raise ValidationError(
            f"Demo GTIN {gtin} is already used by product {sku}; {len(taken)} conflict(s) in all."
        )

    existing = {p.sku: p for p in Product.objects.filter(sku__in=skus)}
    to_write = [
        p for p in wanted if p.sku not in existing or _differs(existing[p.sku], p)
    ]
    created = sum(1 for p in to_write if p.sku not in existing)
    if to_write:
        # ON CONFLICT (sku) DO UPDATE: a concurrent loader cannot make this fail on a duplicate SKU.
        Product.objects.bulk_create(
            to_write,
            update_conflicts=True,
            unique_fields=["sku"],
            update_fields=[*_PRODUCT_FIELDS, "updated_at"],
        )
    updated = len(to_write) - created
    log.info(
        "catalog_demo_loaded brands=%s created=%s updated=%s",
        len(partners),
        created,
        updated,
    )
    return created, updated


def partner_member_add(
    *, user: AbstractBaseUser, partner: Partner, role: str
) -> PartnerMembership:
    """Give a user a role in a partner; adding an existing member again only sets the role."""
    if role not in PartnerMembership.Role.values:
        raise ValidationError(
            f"role must be one of {', '.join(PartnerMembership.Role.values)}"
        )
    membership, created = PartnerMembership.objects.get_or_create(
        user=user, partner=partner, defaults={"role": role}
    )
    changed = not created and membership.role != role
    if changed:
        membership.role = role
        membership.save(update_fields=["role"])
    if created or changed:
        log.info(
            "partner_member_added partner=%s user=%s role=%s",
            partner.slug,
            user.pk,
            role,
        )
    return membership


# --- Partner API tokens ---------------------------------------------------------------------------


@dataclass(frozen=True)
class IssuedToken:
    token: PartnerApiToken
    secret: str  # shown once; only its hash is stored


def partner_api_token_issue(*, partner: Partner, user, name: str) -> IssuedToken:
    name = name.strip()
    if not name or len(name) > 80:
        raise ValidationError("Give the token a name of 1 to 80 characters (what uses it).")
    secret = "pt_" + secrets.token_urlsafe(30)
    token = PartnerApiToken.objects.create(
        partner=partner, created_by=user, name=name, prefix=secret[:10], token_hash=hashlib.sha256(secret.encode()).hexdigest()
    )
    log.info("partner_api_token_issued partner=%s token=%s user=%s", partner.slug, token.prefix, user.pk if user else "-")
    return IssuedToken(token=token, secret=secret)


def partner_api_token_revoke(*, partner: Partner, token_id: int, user) -> PartnerApiToken:
    """Revoke one of this partner's tokens (another partner's token id raises DoesNotExist)."""
    token = PartnerApiToken.objects.get(pk=token_id, partner=partner)
    if token.revoked_at is None:
        token.revoked_at = timezone.now()
        token.save(update_fields=["revoked_at"])
        log.info("partner_api_token_revoked partner=%s token=%s user=%s", partner.slug, token.prefix, user.pk)
    return token


def partner_api_token_touch(*, token: PartnerApiToken, now=None) -> None:
    """Note the token's use, at most once a minute per token."""
    now = now or timezone.now()
    if token.last_used_at is None or (now - token.last_used_at).total_seconds() > 60:
        PartnerApiToken.objects.filter(pk=token.pk).update(last_used_at=now)


def customer_time_zone_set(*, user_id: int, time_zone: str) -> CustomerTimeZone:
    """The zone a customer's days and hours count in (the orders app pushes the customer's
    setting down here: partners sits below it)."""
    row, _ = CustomerTimeZone.objects.update_or_create(user_id=user_id, defaults={"time_zone": time_zone})
    return row
