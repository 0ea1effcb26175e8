"""The device API besides the intake: stored answers, the status light's orders, heartbeats."""

import pytest
from django.test import Client
from django.utils import timezone

from devices.models import Device
from devices.services import device_revoke_token
from orders.models import OrderStatus
from orders.selectors import order_summary
from orders.services import order_cancel_by_customer, order_release
from tests.factories import ProductFactory, make_button, make_order


def _get(client, path, device=None, token=None):
    token = token or (device.token if device else None)
    headers = {"HTTP_AUTHORIZATION": f"Device {token}"} if token else {}
    return client.get(path, **headers)


def _heartbeat(client, device, body):
    return client.post("/api/v1/device/heartbeat", body, content_type="application/json", HTTP_AUTHORIZATION=f"Device {device.token}")


# --- GET /api/v1/device/events/<event_id> ---------------------------------------------------


@pytest.mark.django_db
def test_event_detail_returns_the_stored_answer_byte_for_byte(client, button, press):
    first = press(button, "evt-1")
    response = _get(client, "/api/v1/device/events/evt-1", button)
    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    assert response.content == first.content


@pytest.mark.django_db
def test_event_detail_keeps_the_original_answer_after_the_order_moved_on(client, button, press):
    first = press(button, "evt-1")
    order_release(order_id=button.customer.orders.get().pk, actor="system")
    response = _get(client, "/api/v1/device/events/evt-1", button)
    assert response.content == first.content
    assert response.json()["order"]["status"] == "held"


@pytest.mark.django_db
def test_event_detail_of_a_refused_press_is_stored_too(client, customer, product, press):
    device = make_button(customer=customer, product=product, paused=True)
    first = press(device, "evt-1")
    response = _get(client, "/api/v1/device/events/evt-1", device)
    assert response.status_code == 200
    assert response.content == first.content
    assert response.json()["outcome"] == "device_paused"


@pytest.mark.django_db
def test_event_detail_is_404_for_an_unknown_event(client, button, press):
    press(button, "evt-1")
    response = _get(client, "/api/v1/device/events/evt-2", button)
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


@pytest.mark.django_db
def test_event_detail_is_404_for_another_devices_event(client, customer, product, button, other_customer, press):
    theirs = make_button(customer=other_customer, product=product)
    press(theirs, "their-evt")
    response = _get(client, "/api/v1/device/events/their-evt", button)
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


# --- Authentication on the read endpoints -----------------------------------------------


@pytest.mark.parametrize("path", ["/api/v1/device/events/evt-1", "/api/v1/device/orders"])
@pytest.mark.parametrize("token", [None, "dt_unknown", "revoked"])
@pytest.mark.django_db
def test_device_endpoints_refuse_missing_unknown_and_revoked_tokens(client, button, press, path, token):
    press(button, "evt-1")
    if token == "revoked":
        device_revoke_token(device_id=button.pk, actor="test")
        token = button.token
    response = _get(client, path, token=token)
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == "Device"
    assert set(response.json()["error"]) == {"code", "detail", "fields"}


@pytest.mark.parametrize("token", [None, "dt_unknown", "revoked"])
@pytest.mark.django_db
def test_heartbeat_refuses_missing_unknown_and_revoked_tokens(client, button, token):
    if token == "revoked":
        device_revoke_token(device_id=button.pk, actor="test")
        token = button.token
    headers = {"HTTP_AUTHORIZATION": f"Device {token}"} if token else {}
    response = client.post("/api/v1/device/heartbeat", {"battery": 50}, content_type="application/json", **headers)
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == "Device"
    button.refresh_from_db()
    assert (button.battery_percent, button.last_seen_at) == (None, None)


@pytest.mark.django_db
def test_customer_session_is_not_a_device(client, customer):
    client.force_login(customer)
    response = client.get("/api/v1/device/orders")
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == "Device"


# --- GET /api/v1/device/orders --------------------------------------------------------------


@pytest.mark.django_db
def test_device_orders_lists_the_customers_in_progress_orders(client, customer, other_customer, product, button):
    # given: orders of this customer in several states, from several sources, and someone else's
    held = make_order(customer=customer, product=product, device_serial=button.serial)
    releasing = make_order(customer=customer, product=ProductFactory())
    order_release(order_id=releasing.pk, actor="system")
    cancelled = make_order(customer=customer, product=ProductFactory())
    order_cancel_by_customer(customer_id=customer.pk, public_id=cancelled.public_id)
    make_order(customer=other_customer, product=product)
    # when
    response = _get(client, "/api/v1/device/orders", button)
    # then
    assert response.status_code == 200
    orders = response.json()["orders"]
    releasing.refresh_from_db()
    held.refresh_from_db()
    assert sorted(orders, key=lambda o: o["id"]) == sorted([order_summary(held), order_summary(releasing)], key=lambda o: o["id"])
    assert {o["status"] for o in orders} == {OrderStatus.HELD, OrderStatus.RELEASING}


@pytest.mark.django_db
def test_device_orders_is_empty_for_an_unclaimed_device(client, customer, product):
    make_order(customer=customer, product=product)
    device = make_button()
    response = _get(client, "/api/v1/device/orders", device)
    assert response.status_code == 200
    assert response.json() == {"orders": []}


# --- POST /api/v1/device/heartbeat ----------------------------------------------------------


@pytest.mark.django_db
def test_heartbeat_records_battery_firmware_and_last_seen(client, button):
    before = timezone.now()
    response = _heartbeat(client, button, {"battery": 87, "firmware": "1.4.2"})
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    button.refresh_from_db()
    assert (button.battery_percent, button.firmware) == (87, "1.4.2")
    assert before <= button.last_seen_at <= timezone.now()
    assert body["server_time"] == button.last_seen_at.isoformat().replace("+00:00", "Z")


@pytest.mark.parametrize("battery", [0, 100])
@pytest.mark.django_db
def test_heartbeat_accepts_the_battery_bounds(client, button, battery):
    assert _heartbeat(client, button, {"battery": battery}).status_code == 200
    assert Device.objects.get(pk=button.pk).battery_percent == battery


@pytest.mark.django_db
def test_heartbeat_without_fields_only_updates_last_seen(client, button):
    Device.objects.filter(pk=button.pk).update(battery_percent=40, firmware="1.0")
    assert _heartbeat(client, button, {}).status_code == 200
    button.refresh_from_db()
    assert (button.battery_percent, button.firmware) == (40, "1.0")
    assert button.last_seen_at is not None


@pytest.mark.parametrize(
    ("body", "field"),
    [({"battery": 101}, "battery"), ({"battery": -1}, "battery"), ({"battery": "full"}, "battery"), ({"firmware": "x" * 41}, "firmware")],
)
@pytest.mark.django_db
def test_heartbeat_with_invalid_fields_is_400_and_changes_nothing(client, button, body, field):
    response = _heartbeat(client, button, body)
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid"
    assert list(error["fields"]) == [field]
    button.refresh_from_db()
    assert (button.battery_percent, button.firmware, button.last_seen_at) == (None, "", None)


@pytest.mark.django_db
def test_device_endpoints_need_no_csrf_token(button):
    # Devices have no cookies or CSRF tokens; a client that enforces CSRF must still get through.
    strict = Client(enforce_csrf_checks=True)
    auth = {"HTTP_AUTHORIZATION": f"Device {button.token}"}
    press = strict.post("/api/v1/device/events", {"event_id": "evt-1", "type": "press"}, content_type="application/json", **auth)
    heartbeat = strict.post("/api/v1/device/heartbeat", {"battery": 50}, content_type="application/json", **auth)
    assert (press.status_code, heartbeat.status_code) == (201, 200)
