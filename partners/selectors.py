"""Reads for partners and the catalog."""

from dataclasses import dataclass

from partners.models import Partner, Product


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
