"""The customer's appliance slots: the API (/api/v1/me/devices/<serial>/slots), the plain forms
on /devices/, and the one-click order of a "running low" notice."""

from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone

from devices.models import ApplianceSlot
from orders.models import Order, OrderSource
from tests.factories import ProductFactory, make_appliance, make_button

SLOT_FIELDS = ["name", "product_id", "quantity", "capacity", "reorder_threshold", "auto_reorder"]


@pytest.fixture
def api(client, customer):
    client.force_login(customer)
    return client


@pytest.fixture
def washer(customer):
    return make_appliance(customer=customer)


@pytest.fixture
def slot(washer, product):
    return ApplianceSlot.objects.create(device=washer, name="detergent", product=product, capacity=1000, reorder_threshold=100)


def _slots(device) -> list[dict]:
    return list(ApplianceSlot.objects.filter(device=device).order_by("name").values(*SLOT_FIELDS))


def _url(device, name: str = "", suffix: str = "") -> str:
    return f"/api/v1/me/devices/{device.serial}/slots" + (f"/{name}" if name else "") + suffix


# --- API ----------------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_customer_adds_a_slot_bound_to_a_product(api, washer, product):
    response = api.post(
        _url(washer),
        {"name": "detergent", "product_sku": product.sku, "capacity": 1500, "reorder_threshold": 200, "quantity": 2},
        content_type="application/json",
    )
    assert response.status_code == 201
    body = response.json()
    assert body["name"] == "detergent" and body["product"]["sku"] == product.sku and body["product"]["delivery_days"] == 2
    assert (body["capacity"], body["reorder_threshold"], body["quantity"], body["auto_reorder"]) == (1500, 200, 2, True)
    assert body["remaining"] is None and body["prediction"] is None
    assert _slots(washer) == [
        {"name": "detergent", "product_id": product.pk, "quantity": 2, "capacity": 1500, "reorder_threshold": 200, "auto_reorder": True}
    ]


@pytest.mark.django_db
def test_the_slot_list_shows_levels_and_the_prediction(api, washer, slot, client):
    start = timezone.now() - timedelta(days=3)
    with time_machine.travel(start, tick=False) as clock:
        for i in range(7):
            client.post("/api/v1/device/events", {"event_id": f"r-{i}", "type": "slot_status", "slot": "detergent", "remaining": 1000 - 50 * i},
                        content_type="application/json", HTTP_AUTHORIZATION=f"Device {washer.token}")  # fmt: skip
            clock.shift(timedelta(hours=12))
    response = api.get(_url(washer))
    assert response.status_code == 200
    [listed] = response.json()
    assert listed["remaining"] == 700
    assert listed["prediction"]["rate_per_day"] == pytest.approx(100)
    assert listed["prediction"]["readings"] == 7
    assert listed["prediction"]["run_out_at"] is not None


@pytest.mark.django_db
def test_a_customer_changes_a_slot(api, washer, slot):
    other = ProductFactory(max_quantity=4)
    response = api.patch(
        _url(washer, "detergent"),
        {"product_sku": other.sku, "quantity": 4, "auto_reorder": False, "reorder_threshold": 150},
        content_type="application/json",
    )
    assert response.status_code == 200
    assert _slots(washer) == [
        {"name": "detergent", "product_id": other.pk, "quantity": 4, "capacity": 1000, "reorder_threshold": 150, "auto_reorder": False}
    ]


@pytest.mark.django_db
def test_a_customer_removes_a_slot(api, washer, slot):
    assert api.delete(_url(washer, "detergent")).status_code == 204
    assert _slots(washer) == []


@pytest.mark.parametrize(
    ("body", "status", "field"),
    [
        ({"name": "Detergent!", "capacity": 1000, "reorder_threshold": 100}, 400, "name"),
        ({"name": "softener", "capacity": 0, "reorder_threshold": 0}, 400, "capacity"),
        ({"name": "softener", "capacity": 1000, "reorder_threshold": -1}, 400, "reorder_threshold"),
        ({"name": "softener", "capacity": 1000, "reorder_threshold": 1000}, 400, "reorder_threshold"),
        ({"name": "softener", "capacity": 1000, "reorder_threshold": 10, "product_sku": "NOPE"}, 400, "product_sku"),
        ({"name": "softener", "capacity": 1000, "reorder_threshold": 10, "quantity": 0}, 400, "quantity"),
        ({"name": "detergent", "capacity": 1000, "reorder_threshold": 10}, 409, "name"),
        ({"capacity": 1000, "reorder_threshold": 10}, 400, "name"),
    ],
)
@pytest.mark.django_db
def test_an_invalid_slot_is_refused_and_changes_nothing(api, washer, slot, body, status, field):
    before = _slots(washer)
    response = api.post(_url(washer), body, content_type="application/json")
    assert response.status_code == status
    assert field in response.json()["error"]["fields"]
    assert _slots(washer) == before


@pytest.mark.parametrize(
    "body",
    [{"reorder_threshold": 5000}, {"capacity": 50}, {"product_sku": "NOPE"}, {"quantity": 99}, {"capacity": "lots"}],
)
@pytest.mark.django_db
def test_an_invalid_change_is_refused_and_changes_nothing(api, washer, slot, body):
    before = _slots(washer)
    response = api.patch(_url(washer, "detergent"), body, content_type="application/json")
    assert response.status_code == 400
    assert _slots(washer) == before


@pytest.mark.django_db
def test_a_button_has_no_slots(api, customer, product):
    button = make_button(customer=customer, product=product)
    response = api.get(_url(button))
    assert response.status_code == 409 and response.json()["error"]["code"] == "not_an_appliance"


@pytest.mark.django_db
def test_another_customers_appliance_and_slots_are_404(api, other_customer, product):
    theirs = make_appliance(customer=other_customer)
    ApplianceSlot.objects.create(device=theirs, name="detergent", product=product, capacity=1000, reorder_threshold=100)
    before = _slots(theirs)
    for method, url, body in [
        ("get", _url(theirs), None),
        ("post", _url(theirs), {"name": "softener", "capacity": 10, "reorder_threshold": 1}),
        ("get", _url(theirs, "detergent"), None),
        ("patch", _url(theirs, "detergent"), {"capacity": 5}),
        ("delete", _url(theirs, "detergent"), None),
        ("post", _url(theirs, "detergent", "/order"), None),
    ]:
        kwargs = {"content_type": "application/json"} if body is not None else {}
        response = getattr(api, method)(url, body, **kwargs) if body is not None else getattr(api, method)(url)
        assert response.status_code == 404, (method, url)
    assert _slots(theirs) == before and Order.objects.count() == 0
    assert api.get("/devices/").status_code == 200
    assert api.post(f"/devices/{theirs.serial}/slots/detergent/order").status_code == 404
    assert api.post(f"/devices/{theirs.serial}/slots/detergent", {"capacity": 5, "reorder_threshold": 1, "quantity": 1}).status_code == 404
    assert api.post(f"/devices/{theirs.serial}/slots/detergent/remove").status_code == 404
    assert _slots(theirs) == before


@pytest.mark.django_db
def test_an_unknown_slot_is_404(api, washer):
    assert api.get(_url(washer, "bleach")).status_code == 404


@pytest.mark.django_db
def test_anonymous_is_refused_everywhere(client, washer, slot):
    assert client.get(_url(washer)).status_code in (401, 403)
    assert client.post(_url(washer, "detergent", "/order")).status_code in (401, 403)
    page = client.get(f"/devices/{washer.serial}/slots/detergent/order")
    assert page.status_code == 302 and page["Location"].startswith("/accounts/login/")
    assert client.post(f"/devices/{washer.serial}/slots/detergent/order").status_code == 302
    assert (
        client.post(f"/devices/{washer.serial}/slots", {"name": "x", "capacity": 1, "reorder_threshold": 0, "quantity": 1}).status_code
        == 302
    )
    assert Order.objects.count() == 0 and _slots(washer)[0]["capacity"] == 1000


@pytest.mark.django_db(transaction=True)
def test_the_api_order_now_places_one_order_then_finds_it_in_progress(api, washer, slot, product):
    first = api.post(_url(washer, "detergent", "/order"))
    second = api.post(_url(washer, "detergent", "/order"))
    assert first.status_code == 201 and second.status_code == 200
    assert first.json()["id"] == second.json()["id"]
    order = Order.objects.get()
    assert (order.source, order.device_serial, order.product_id) == (OrderSource.APPLIANCE, washer.serial, product.pk)


@pytest.mark.django_db(transaction=True)
def test_order_now_needs_a_product(api, washer, slot):
    ApplianceSlot.objects.filter(pk=slot.pk).update(product=None)
    response = api.post(_url(washer, "detergent", "/order"))
    assert response.status_code == 409 and response.json()["error"]["code"] == "slot_unbound"
    assert Order.objects.count() == 0


# --- Pages ---------------------------------------------------------------------------------


@pytest.mark.django_db
def test_the_devices_page_shows_slots_with_levels_and_forms(api, washer, slot, customer, product):
    ApplianceSlot.objects.filter(pk=slot.pk).update(remaining=420)
    page = api.get("/devices/")
    html = page.content.decode()
    assert page.status_code == 200
    assert f'data-serial="{washer.serial}"' in html and 'data-slot="detergent"' in html
    assert "420" in html and product.name in html
    assert f'action="/devices/{washer.serial}/slots/detergent"' in html
    assert f'action="/devices/{washer.serial}/slots"' in html
    assert 'name="csrfmiddlewaretoken"' in html


@pytest.mark.django_db
def test_a_button_gets_no_slot_section(api, customer, product):
    button = make_button(customer=customer, product=product)
    html = api.get("/devices/").content.decode()
    assert button.serial in html and "data-slot" not in html and "Add a slot" not in html


@pytest.mark.django_db
def test_the_forms_add_change_and_remove_a_slot(api, washer, product):
    added = api.post(
        f"/devices/{washer.serial}/slots",
        {
            "name": "softener",
            "product_sku": product.sku,
            "capacity": "800",
            "reorder_threshold": "80",
            "quantity": "1",
            "auto_reorder": "on",
        },
    )
    assert added.status_code == 302
    assert _slots(washer) == [
        {"name": "softener", "product_id": product.pk, "quantity": 1, "capacity": 800, "reorder_threshold": 80, "auto_reorder": True}
    ]
    changed = api.post(
        f"/devices/{washer.serial}/slots/softener", {"product_sku": "", "capacity": "900", "reorder_threshold": "50", "quantity": "1"}
    )
    assert changed.status_code == 302
    assert _slots(washer) == [
        {"name": "softener", "product_id": None, "quantity": 1, "capacity": 900, "reorder_threshold": 50, "auto_reorder": False}
    ]
    refused = api.post(
        f"/devices/{washer.serial}/slots/softener", {"capacity": "900", "reorder_threshold": "950", "quantity": "1"}, follow=True
    )
    assert "was not changed" in refused.content.decode()
    assert _slots(washer)[0]["reorder_threshold"] == 50
    assert api.post(f"/devices/{washer.serial}/slots/softener/remove").status_code == 302
    assert _slots(washer) == []


@pytest.mark.django_db(transaction=True)
def test_the_one_click_link_shows_the_order_and_a_post_places_it(api, washer, slot, product):
    # the link of the notice (GET) changes nothing
    page = api.get(f"/devices/{washer.serial}/slots/detergent/order")
    assert page.status_code == 200
    assert product.name in page.content.decode() and 'name="csrfmiddlewaretoken"' in page.content.decode()
    assert Order.objects.count() == 0
    # the button on it places the order, once
    placed = api.post(f"/devices/{washer.serial}/slots/detergent/order")
    again = api.post(f"/devices/{washer.serial}/slots/detergent/order", follow=True)
    assert placed.status_code == 302 and placed["Location"] == "/orders/"
    assert "already held" in again.content.decode()
    order = Order.objects.get()
    assert order.source == OrderSource.APPLIANCE and ApplianceSlot.objects.get().cycle_order_id == order.pk


@pytest.mark.django_db
def test_the_one_click_order_needs_the_csrf_token(customer, washer, slot):
    from django.test import Client

    strict = Client(enforce_csrf_checks=True)
    strict.force_login(customer)
    assert strict.post(f"/devices/{washer.serial}/slots/detergent/order").status_code == 403
    assert Order.objects.count() == 0


@pytest.mark.django_db(transaction=True)
def test_unlinking_an_appliance_forgets_its_slots_and_readings(api, washer, slot, client, customer):
    from devices.models import SlotReading
    from devices.services import device_unlink

    client.post(
        "/api/v1/device/events",
        {"event_id": "r-1", "type": "slot_status", "slot": "detergent", "remaining": 500},
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Device {washer.token}",
    )
    assert SlotReading.objects.count() == 1
    device_unlink(customer_id=customer.pk, serial=washer.serial)
    assert ApplianceSlot.objects.count() == 0 and SlotReading.objects.count() == 0
