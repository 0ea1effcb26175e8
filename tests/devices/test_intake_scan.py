"""A wand's barcode scan: validated GTIN, catalog lookup, the press's order invariants."""

import pytest
from stdnum import ean

from devices.models import DeviceEvent
from orders.models import Order, OrderStatus
from tests.factories import ProductFactory, make_button, make_order, make_wand


@pytest.fixture
def wand(customer):
    return make_wand(customer=customer)


@pytest.fixture
def scan(client):
    def _scan(device, event_id: str, gtin, **extra):
        body = {"event_id": event_id, "type": "scan", "gtin": gtin, **extra}
        return client.post("/api/v1/device/events", body, content_type="application/json", HTTP_AUTHORIZATION=f"Device {device.token}")

    return _scan


@pytest.mark.django_db(transaction=True)
def test_a_scan_of_a_catalog_gtin_places_a_held_order_from_the_scan(wand, product, scan):
    response = scan(wand, "scan-1", product.gtin)
    assert response.status_code == 201
    body = response.json()
    assert body["outcome"] == "order_placed"
    assert body["order"]["product"] == {"sku": product.sku, "name": product.name}
    assert body["order"]["quantity"] == 1
    order = Order.objects.get()
    assert (order.status, order.source, order.device_serial, order.customer_id) == (OrderStatus.HELD, "scan", wand.serial, wand.customer_id)
    assert DeviceEvent.objects.get().order_id == order.pk


@pytest.mark.django_db(transaction=True)
def test_a_second_scan_or_a_press_while_the_order_is_in_progress_places_nothing(customer, wand, product, scan, press):
    button = make_button(customer=customer, product=product)
    first = scan(wand, "scan-1", product.gtin)
    again = scan(wand, "scan-2", product.gtin)
    pressed = press(button, "press-1")
    assert (first.status_code, again.status_code, pressed.status_code) == (201, 200, 200)
    assert again.json()["outcome"] == pressed.json()["outcome"] == "order_in_progress"
    assert again.json()["order"]["id"] == first.json()["order"]["id"] == pressed.json()["order"]["id"]
    assert Order.objects.count() == 1


@pytest.mark.django_db(transaction=True)
def test_a_scan_orders_the_quantity_the_customer_set_for_that_product(customer, wand, scan):
    # given the customer's button orders three of this product
    product = ProductFactory(max_quantity=5)
    make_button(customer=customer, product=product, quantity=3)
    # when the wand scans it
    response = scan(wand, "scan-qty", product.gtin)
    # then the order is for three
    assert response.json()["order"]["quantity"] == 3


@pytest.mark.django_db(transaction=True)
def test_an_unknown_gtin_answers_unknown_product_and_is_kept_as_unmet_demand(wand, scan):
    body = "590123412345"
    gtin = body + ean.calc_check_digit(body)
    response = scan(wand, "scan-unknown", gtin)
    assert response.status_code == 422
    assert response.json()["outcome"] == "unknown_product"
    assert response.json()["order"] is None
    event = DeviceEvent.objects.get()
    assert (event.type, event.outcome, event.payload["gtin"]) == ("scan", "unknown_product", gtin)
    assert not Order.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_an_inactive_product_is_an_unknown_product(wand, scan):
    product = ProductFactory(active=False)
    response = scan(wand, "scan-inactive", product.gtin)
    assert (response.status_code, response.json()["outcome"]) == (422, "unknown_product")


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    "gtin",
    [None, "", "12345", "400638133393", "4006381333932", "40063813339311", 4006381333931, "4006-381333931", "abcdefghijklm"],
)
def test_a_scan_without_a_valid_gtin_is_malformed_and_records_nothing(wand, scan, gtin):
    response = scan(wand, "scan-bad", gtin)
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "malformed"
    assert list(error["fields"]) == ["gtin"]
    assert not DeviceEvent.objects.exists()
    assert not Order.objects.exists()


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("gtin", ["96385074", "012345678905", "4006381333931", "00012345678905"])
def test_every_gtin_length_is_accepted(customer, wand, scan, gtin):
    ProductFactory(gtin=gtin)
    assert scan(wand, f"scan-{gtin}", gtin).status_code == 201


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    ("wand_kwargs", "status", "outcome"), [({"customer": None}, 409, "device_unclaimed"), ({"paused": True}, 409, "device_paused")]
)
def test_an_unclaimed_or_paused_wand_places_nothing(customer, product, scan, wand_kwargs, status, outcome):
    device = make_wand(**{"customer": customer, **wand_kwargs})
    response = scan(device, "scan-x", product.gtin)
    assert (response.status_code, response.json()["outcome"]) == (status, outcome)
    assert not Order.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_a_replayed_scan_returns_the_first_answer_and_a_changed_gtin_is_refused(wand, product, scan):
    other = ProductFactory()
    first = scan(wand, "scan-r", product.gtin)
    replay = scan(wand, "scan-r", product.gtin)
    reused = scan(wand, "scan-r", other.gtin)
    assert (replay.status_code, replay.content, replay["Idempotent-Replayed"]) == (201, first.content, "true")
    assert (reused.status_code, reused.json()["error"]["code"]) == (422, "event_id_reused")
    assert Order.objects.count() == 1


@pytest.mark.django_db(transaction=True)
def test_a_button_cannot_scan(customer, product, scan):
    button = make_button(customer=customer, product=product)
    response = scan(button, "scan-b", product.gtin)
    assert (response.status_code, response.json()["error"]["code"]) == (422, "type_not_supported")


@pytest.mark.django_db(transaction=True)
def test_a_scan_after_the_previous_order_was_delivered_orders_again(customer, wand, product, scan):
    order = make_order(customer=customer, product=product)
    Order.objects.filter(pk=order.pk).update(status=OrderStatus.DELIVERED)
    assert scan(wand, "scan-again", product.gtin).status_code == 201
