"""The partner portal, its CSV exports and the partner API: scoping and the privacy threshold."""

from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from devices.demo_history import history_generate
from devices.models import Device
from partners.analytics.figures import TABLE_NAMES
from partners.analytics.rollup import analytics_rollup_run
from partners.models import PartnerMembership, ProductDayStat
from partners.services import partner_api_token_issue
from tests.factories import PartnerFactory, ProductFactory, UserFactory, make_button

API_TABLES = ("totals", "daily", "heatmap", "sources", "products", "reorders", "unmet-demand")
SOON = timedelta(minutes=1)


def _rollup():
    analytics_rollup_run(now=timezone.now() + SOON)


@pytest.fixture
def two_partners(db):
    """Partners A and B, each with products, a member and shoppers' history, rolled up."""
    a, b = PartnerFactory(slug="brand-a"), PartnerFactory(slug="brand-b")
    a_products = [ProductFactory(partner=a) for _ in range(3)]
    b_products = [ProductFactory(partner=b) for _ in range(3)]
    shoppers = [UserFactory(username=f"shopper{i}", email=f"shopper{i}@secret.example") for i in range(14)]
    history_generate(customers=shoppers, products=a_products + b_products, end=timezone.now(), days=28, seed=11)
    _rollup()
    a_user, b_user = UserFactory(username="ann"), UserFactory(username="ben")
    PartnerMembership.objects.create(user=a_user, partner=a, role="admin")
    PartnerMembership.objects.create(user=b_user, partner=b, role="admin")
    return {
        "a": a,
        "b": b,
        "a_products": a_products,
        "b_products": b_products,
        "a_user": a_user,
        "shoppers": shoppers,
        "a_token": partner_api_token_issue(partner=a, user=a_user, name="A BI").secret,
        "b_token": partner_api_token_issue(partner=b, user=b_user, name="B BI"),
    }


def _client(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def _api(token: str, table: str, **params):
    return Client().get(f"/api/v1/partner/figures/{table}", params, HTTP_AUTHORIZATION=f"Bearer {token}")


def test_a_partner_reaches_nothing_of_another_partners_by_any_url(two_partners):
    s = two_partners
    client = _client(s["a_user"])
    b_sku = s["b_products"][0].sku
    b_token_id = s["b_token"].token.pk
    urls = [
        "/partners/brand-b/",
        f"/partners/brand-b/products/{b_sku}/",
        f"/partners/brand-a/products/{b_sku}/",
        "/partners/brand-b/api-tokens/",
        "/partners/?p=brand-b",
        *(f"/partners/brand-b/export/{name}.csv" for name in TABLE_NAMES),
        *(f"/partners/brand-a/export/{name}.csv?product={b_sku}" for name in TABLE_NAMES),
    ]
    for url in urls:
        assert client.get(url).status_code == 404, url
    assert client.post(f"/partners/brand-b/api-tokens/{b_token_id}/revoke").status_code == 404
    assert client.post(f"/partners/brand-a/api-tokens/{b_token_id}/revoke").status_code == 404
    for table in API_TABLES:
        response = _api(s["a_token"], table, product=b_sku)
        assert response.status_code == 404, table
        assert response.json()["error"]["code"] == "not_found"
    # and its own pages answer
    assert client.get("/partners/brand-a/").status_code == 200
    assert client.get(f"/partners/brand-a/products/{s['a_products'][0].sku}/").status_code == 200


def test_a_partners_figures_count_only_its_own_products(two_partners):
    s = two_partners
    own = sum(ProductDayStat.objects.filter(product__partner=s["a"]).values_list("presses", flat=True))
    everyone = sum(ProductDayStat.objects.values_list("presses", flat=True))
    assert 0 < own < everyone
    start = (timezone.now() - timedelta(days=40)).date().isoformat()
    end = (timezone.now() + timedelta(days=1)).date().isoformat()

    body = _api(s["a_token"], "totals", start=start, end=end).json()
    products = _api(s["a_token"], "products", start=start, end=end).json()["rows"]

    assert body["figures"]["presses"] == own
    assert {row["sku"] for row in products} == {p.sku for p in s["a_products"]}


def test_no_customer_identity_reaches_a_partner(two_partners):
    s = two_partners
    client = _client(s["a_user"])
    secrets = [u.email for u in s["shoppers"]] + [u.username for u in s["shoppers"]]
    secrets += list(Device.objects.values_list("serial", flat=True))
    secrets += [str(c.pk) for c in s["shoppers"] if c.pk > 999]  # ids long enough not to be counts
    pages = [client.get("/partners/brand-a/"), client.get(f"/partners/brand-a/products/{s['a_products'][0].sku}/")]
    pages += [client.get(f"/partners/brand-a/export/{name}.csv") for name in TABLE_NAMES]
    pages += [_api(s["a_token"], table) for table in API_TABLES]
    for response in pages:
        assert response.status_code == 200
        text = response.content.decode()
        leaked = [secret for secret in secrets if secret in text]
        assert not leaked, (response.request["PATH_INFO"], leaked[:3])


def test_staff_see_every_partner_and_switch_between_them(two_partners):
    staff = UserFactory(username="ops", is_staff=True)
    client = _client(staff)
    index = client.get("/partners/")
    assert index.status_code == 200
    assert b"brand-a" in index.content and b"brand-b" in index.content
    assert client.get("/partners/?p=brand-b").url == "/partners/brand-b/"
    assert client.get("/partners/brand-b/").status_code == 200


def test_the_api_needs_a_live_partner_token(two_partners):
    s = two_partners
    assert Client().get("/api/v1/partner/figures/totals").status_code == 401
    assert _api("pt_not-a-token", "totals").status_code == 401
    s["b_token"].token.revoked_at = timezone.now()
    s["b_token"].token.save()
    assert _api(s["b_token"].secret, "totals").status_code == 401
    assert _api(s["a_token"], "totals").status_code == 200


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"start": "2026-13-01"}, "start"),
        ({"start": "2026-05-02", "end": "2026-05-01"}, "start"),
        ({"start": "2024-01-01", "end": "2026-01-01"}, "start"),
    ],
)
def test_a_bad_date_range_is_a_clear_400(two_partners, params, field):
    s = two_partners
    response = _api(s["a_token"], "daily", **params)
    assert response.status_code == 400
    assert field in response.json()["error"]["fields"]
    client = _client(s["a_user"])
    assert client.get("/partners/brand-a/export/daily.csv", params).status_code == 400
    assert client.get("/partners/brand-a/", params).status_code == 400


# --- Suppression ---------------------------------------------------------------------------


@pytest.fixture
def small_product(db, press):
    """A product pressed once by each of four customers, through the real device API."""
    partner = PartnerFactory(slug="small")
    product = ProductFactory(partner=partner)
    member = UserFactory(username="analyst")
    PartnerMembership.objects.create(user=member, partner=partner, role="analyst")
    buttons = [make_button(customer=UserFactory(), product=product) for _ in range(4)]
    for i, button in enumerate(buttons):
        assert press(button, f"p-{i}").status_code == 201
    assert press(buttons[0], "p-again").json()["outcome"] == "order_in_progress"
    _rollup()
    token = partner_api_token_issue(partner=partner, user=member, name="t").secret
    return {"product": product, "member": member, "token": token, "press": press}


def _figures(small_product):
    client = _client(small_product["member"])
    page = client.get("/partners/small/")
    csv_totals = client.get("/partners/small/export/totals.csv").content.decode()
    api = _api(small_product["token"], "totals").json()["figures"]
    daily = _api(small_product["token"], "daily").json()["rows"][-1]
    return page, csv_totals, api, daily


def test_figures_describing_fewer_than_five_customers_are_suppressed_everywhere(small_product):
    page, csv_totals, api, today = _figures(small_product)
    cards = {card["title"]: card["value"] for card in page.context["cards"]}
    assert cards["Presses"] is None and cards["Orders placed"] is None and cards["Customers"] is None
    assert "presses,suppressed" in csv_totals and "placed,suppressed" in csv_totals
    assert "presses,5" not in csv_totals
    assert api["presses"] is None and api["placed"] is None and api["customers"] is None
    assert today["presses"] is None
    # a figure describing one customer (the in-progress press) is suppressed too
    assert api["filtered"] is None
    # and a product row in the portal's table
    row = page.context["products"][0]
    assert row["presses"] is None and row["customers"] is None


def test_the_fifth_customer_reveals_the_figures_that_describe_five(small_product):
    button = make_button(customer=UserFactory(), product=small_product["product"])
    assert small_product["press"](button, "p-5").status_code == 201
    _rollup()

    page, csv_totals, api, today = _figures(small_product)

    assert api["presses"] == 6 and api["placed"] == 5 and api["customers"] == 5
    assert today["presses"] == 6
    assert "presses,6" in csv_totals
    assert {card["title"]: card["value"] for card in page.context["cards"]}["Presses"] == 6
    # still one customer behind the filtered press
    assert api["filtered"] is None


def test_a_heatmap_cell_of_fewer_than_five_customers_is_suppressed(small_product):
    rows = _api(small_product["token"], "heatmap").json()["rows"]
    cells = [v for row in rows for v in row["hours"]]
    assert None in cells
    assert all(v in (0, None) for v in cells)


def test_the_partner_api_is_in_the_openapi_schema(client):
    schema = client.get("/api/schema/", HTTP_ACCEPT="application/json").json()
    for table in API_TABLES:
        operation = schema["paths"][f"/api/v1/partner/figures/{table}"]["get"]
        assert operation["security"] == [{"partnerToken": []}]
        assert {p["name"] for p in operation["parameters"]} == {"start", "end", "product"}
    assert schema["components"]["securitySchemes"]["partnerToken"]["scheme"] == "bearer"
