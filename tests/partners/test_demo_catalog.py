from collections import Counter
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from stdnum import ean

from partners.demo_catalog import DEMO_CATALOG, demo_gtin
from partners.models import Partner, PartnerMembership, Product, validate_gtin
from partners.services import catalog_load_demo, partner_member_add
from tests.factories import PartnerFactory, ProductFactory, UserFactory

DEMO_PRODUCTS = [p for brand in DEMO_CATALOG for p in brand.products]


def test_demo_catalog_has_over_a_hundred_products_from_at_least_five_brands():
    assert len(DEMO_CATALOG) >= 5
    assert len(DEMO_PRODUCTS) >= 100
    assert all(len(brand.products) >= 5 for brand in DEMO_CATALOG)


def test_every_demo_gtin_is_a_valid_unique_gtin13():
    gtins = [p.gtin for p in DEMO_PRODUCTS]
    assert all(len(g) == 13 and ean.is_valid(g) for g in gtins)
    for gtin in gtins:
        validate_gtin(gtin)  # the model's own validator agrees
    assert len(set(gtins)) == len(gtins)


def test_demo_gtins_are_the_same_on_every_build():
    # 290 (restricted circulation) + brand 1001 + item 00001 + the check digit 4
    assert demo_gtin(brand_code=1001, item=1) == "2901001000014"
    assert DEMO_PRODUCTS[0].gtin == "2901001000014"
    assert not ean.is_valid("2901001000015")


def test_every_demo_product_has_one_to_four_lowercase_aliases_unique_in_the_catalog():
    assert all(1 <= len(p.aliases) <= 4 for p in DEMO_PRODUCTS)
    assert all(a == a.lower().strip() and a for p in DEMO_PRODUCTS for a in p.aliases)
    repeated = [alias for alias, n in Counter(a for p in DEMO_PRODUCTS for a in p.aliases).items() if n > 1]
    assert repeated == []


def test_demo_skus_are_unique_and_prices_and_quantities_are_sane():
    skus = [p.sku for p in DEMO_PRODUCTS]
    assert len(set(skus)) == len(skus)
    assert all(isinstance(p.price, Decimal) and p.price > 0 for p in DEMO_PRODUCTS)
    assert all(1 <= p.max_quantity <= 10 for p in DEMO_PRODUCTS)


def test_plastic_wrap_answers_to_cling_film():
    wrap = next(p for p in DEMO_PRODUCTS if "plastic wrap" in p.aliases)
    assert "cling film" in wrap.aliases
    assert wrap.sku == "KH-WR-001"


@pytest.mark.django_db
def test_catalog_load_demo_creates_everything_once_and_nothing_on_a_second_run():
    # when
    first = catalog_load_demo()
    stamps = dict(Product.objects.values_list("sku", "updated_at"))
    second = catalog_load_demo()
    # then
    assert first == (len(DEMO_PRODUCTS), 0)
    assert second == (0, 0)
    assert Product.objects.count() == len(DEMO_PRODUCTS)
    assert Partner.objects.count() == len(DEMO_CATALOG)
    assert dict(Product.objects.values_list("sku", "updated_at")) == stamps
    pods = Product.objects.get(sku="BW-LP-001")
    assert (pods.partner.slug, pods.gtin, pods.price) == (
        "brightwash",
        "2901001000014",
        Decimal("13.99"),
    )
    assert pods.aliases == ["laundry pods", "detergent pods", "washing pods"]


@pytest.mark.django_db
def test_catalog_load_demo_puts_back_an_edited_product():
    catalog_load_demo()
    Product.objects.filter(sku="KH-WR-001").update(price=Decimal("99.00"), aliases=[], active=False)
    # when
    result = catalog_load_demo()
    # then
    assert result == (0, 1)
    wrap = Product.objects.get(sku="KH-WR-001")
    assert (wrap.price, wrap.active, wrap.aliases[:2]) == (
        Decimal("4.99"),
        True,
        ["plastic wrap", "cling film"],
    )


@pytest.mark.django_db
def test_catalog_load_demo_refuses_a_demo_gtin_held_by_another_sku_and_writes_nothing():
    ProductFactory(sku="OTHER-1", gtin=DEMO_PRODUCTS[5].gtin)
    with pytest.raises(
        ValidationError,
        match=f"{DEMO_PRODUCTS[5].gtin} is already used by product OTHER-1",
    ):
        catalog_load_demo()
    assert Product.objects.count() == 1
    assert not Partner.objects.filter(slug="brightwash").exists()


@pytest.mark.django_db
def test_partner_member_add_twice_keeps_one_membership_and_sets_the_role():
    user = UserFactory()
    partner = PartnerFactory()
    first = partner_member_add(user=user, partner=partner, role="analyst")
    again = partner_member_add(user=user, partner=partner, role="analyst")
    promoted = partner_member_add(user=user, partner=partner, role="admin")
    assert first.pk == again.pk == promoted.pk
    assert PartnerMembership.objects.get().role == "admin"


@pytest.mark.django_db
def test_partner_member_add_refuses_an_unknown_role():
    with pytest.raises(ValidationError, match="role must be one of admin, analyst"):
        partner_member_add(user=UserFactory(), partner=PartnerFactory(), role="owner")
    assert PartnerMembership.objects.count() == 0
