"""Reads for partners and the catalog."""

from dataclasses import dataclass

from partners.models import Partner, PartnerApiToken, PartnerMembership, Product


@dataclass(frozen=True)
class CatalogSize:
    partners: int
    products: int


def partner_by_slug(*, slug: str) -> Partner | None:
    return Partner.objects.filter(slug=slug).first()


def partner_slugs() -> list[str]:
    return list(Partner.objects.order_by("slug").values_list("slug", flat=True))


def catalog_size() -> CatalogSize:
    """Partners and active products in the catalog."""
    return CatalogSize(
        partners=Partner.objects.count(),
        products=Product.objects.filter(active=True).count(),
    )


# --- Who sees which partner -------------------------------------------------------------------


def partners_for_user(*, user) -> list[Partner]:
    """Staff see every partner; a partner user the partners they are a member of."""
    if not user.is_authenticated:
        return []
    if user.is_staff:
        return list(Partner.objects.order_by("name"))
    return list(Partner.objects.filter(memberships__user=user).order_by("name"))


def partner_for_user(*, user, slug: str) -> Partner | None:
    """The partner if this user may see it -- None otherwise, so callers answer 404 either way."""
    if not user.is_authenticated:
        return None
    partners = Partner.objects.filter(slug=slug)
    if not user.is_staff:
        partners = partners.filter(memberships__user=user)
    return partners.first()


def partner_role(*, user, partner: Partner) -> str | None:
    """'admin' or 'analyst' for members; 'admin' for staff; None for anyone else."""
    if user.is_staff:
        return "admin"
    return PartnerMembership.objects.filter(user=user, partner=partner).values_list("role", flat=True).first()


def partner_api_tokens(*, partner: Partner):
    return PartnerApiToken.objects.filter(partner=partner, revoked_at__isnull=True).order_by("-created_at")


def partner_api_token_by_hash(*, token_hash: str) -> PartnerApiToken | None:
    return PartnerApiToken.objects.select_related("partner").filter(token_hash=token_hash, revoked_at__isnull=True).first()
