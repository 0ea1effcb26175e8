"""The operators' console: order and device admin, their actions, and provisioning."""

import re

import pytest

from devices.models import Device, DeviceEvent
from orders.models import Order, OrderStatus
from orders.services import order_release, order_submit
from tests.factories import ProductFactory, make_button, make_order


def _rows(response) -> set[int]:
    return {obj.pk for obj in response.context["cl"].result_list}


def _messages(response) -> list[str]:
    return [str(m) for m in response.context["messages"]]


def _act(admin_client, url: str, action: str, objs, **extra):
    return admin_client.post(url, {"action": action, "_selected_action": [o.pk for o in objs], **extra}, follow=True)


@pytest.fixture
def orders(customer, other_customer, product):
    """alice: a held order from her button; bob: a held order and a releasing one."""
    mine = make_order(customer=customer, product=product, device_serial="BTN-ALICE00001")
    theirs = make_order(customer=other_customer, product=product, device_serial="BTN-BOB0000001")
    releasing = make_order(customer=other_customer, product=ProductFactory())
    order_release(order_id=releasing.pk, actor="system")
    return {"mine": mine, "theirs": theirs, "releasing": releasing}


# --- Orders ------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_order_changelist_lists_every_order(admin_client, orders):
    response = admin_client.get("/admin/orders/order/")
    assert response.status_code == 200
    assert _rows(response) == {o.pk for o in orders.values()}


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ({"q": "alice@example.test"}, {"mine"}),
        ({"q": "bob@example.test"}, {"theirs", "releasing"}),
        ({"q": "BTN-BOB0000001"}, {"theirs"}),
        ({"q": "BTN-ALICE00001"}, {"mine"}),
        ({"status__exact": "held"}, {"mine", "theirs"}),
        ({"status__exact": "releasing"}, {"releasing"}),
        ({"status__exact": "held", "q": "bob@example.test"}, {"theirs"}),
    ],
)
@pytest.mark.django_db
def test_order_changelist_filters_and_search(admin_client, orders, query, expected):
    response = admin_client.get("/admin/orders/order/", query)
    assert response.status_code == 200
    assert _rows(response) == {orders[name].pk for name in expected}


@pytest.mark.django_db
def test_order_search_by_public_id_is_exact(admin_client, orders):
    response = admin_client.get("/admin/orders/order/", {"q": str(orders["theirs"].public_id)})
    assert _rows(response) == {orders["theirs"].pk}


@pytest.mark.django_db
def test_order_changelist_filters_by_partner(admin_client, orders):
    partner = orders["releasing"].product.partner
    response = admin_client.get("/admin/orders/order/", {"product__partner__id__exact": partner.pk})
    assert _rows(response) == {orders["releasing"].pk}


@pytest.mark.django_db
def test_order_change_page_shows_the_timeline(admin_client, orders):
    order = orders["releasing"]
    response = admin_client.get(f"/admin/orders/order/{order.pk}/change/")
    assert response.status_code == 200
    formset = response.context["inline_admin_formsets"][0].formset
    assert [(f.instance.from_status, f.instance.to_status, f.instance.actor) for f in formset.forms] == [("", "held", "test"), ("held", "releasing", "system")]
    assert "hold ended" in response.content.decode()


@pytest.mark.django_db
def test_orders_cannot_be_added_or_deleted_in_the_admin(admin_client, orders):
    assert admin_client.get("/admin/orders/order/add/").status_code == 403
    assert admin_client.get(f"/admin/orders/order/{orders['mine'].pk}/delete/").status_code == 403
    assert Order.objects.count() == 3


@pytest.mark.django_db
def test_release_now_action_releases_held_orders_and_reports_the_rest(admin_client, orders):
    response = _act(admin_client, "/admin/orders/order/", "release_now", [orders["mine"], orders["releasing"]])
    assert response.status_code == 200
    mine = Order.objects.get(pk=orders["mine"].pk)
    assert mine.status == OrderStatus.RELEASING
    last = mine.events.last()
    assert (last.actor, last.reason) == ("operator:admin", "released by operator")
    assert Order.objects.get(pk=orders["releasing"].pk).version == 2  # refused, unchanged
    messages = _messages(response)
    assert "Released: 1 order(s)." in messages
    assert any(str(orders["releasing"].public_id) in m for m in messages)


@pytest.mark.django_db
def test_cancel_action_cancels_held_orders_but_not_releasing_ones(admin_client, orders):
    response = _act(admin_client, "/admin/orders/order/", "cancel", [orders["theirs"], orders["releasing"]])
    assert Order.objects.get(pk=orders["theirs"].pk).status == OrderStatus.CANCELLED
    assert Order.objects.get(pk=orders["theirs"].pk).events.last().actor == "operator:admin"
    assert Order.objects.get(pk=orders["releasing"].pk).status == OrderStatus.RELEASING
    assert "Cancelled: 1 order(s)." in _messages(response)


@pytest.mark.django_db
def test_cancel_action_cancels_failed_orders(settings, admin_client, orders):
    settings.DASH_COMMERCE_BACKEND, settings.DASH_COMMERCE_URL = "http", ""
    order_submit(order_id=orders["releasing"].pk)
    assert Order.objects.get(pk=orders["releasing"].pk).status == OrderStatus.FAILED
    _act(admin_client, "/admin/orders/order/", "cancel", [orders["releasing"]])
    assert Order.objects.get(pk=orders["releasing"].pk).status == OrderStatus.CANCELLED


@pytest.mark.django_db
def test_retry_submission_action_requeues_failed_orders_only(settings, admin_client, orders):
    # given: a failed order (an http shop with no URL fails permanently)
    settings.DASH_COMMERCE_BACKEND, settings.DASH_COMMERCE_URL = "http", ""
    order_submit(order_id=orders["releasing"].pk)
    # when
    response = _act(admin_client, "/admin/orders/order/", "retry_submission", [orders["releasing"], orders["mine"]])
    # then
    failed = Order.objects.get(pk=orders["releasing"].pk)
    assert (failed.status, failed.submit_attempts, failed.last_error) == (OrderStatus.RELEASING, 0, "")
    assert failed.events.last().actor == "operator:admin"
    assert Order.objects.get(pk=orders["mine"].pk).status == OrderStatus.HELD
    assert "Retried: 1 order(s)." in _messages(response)


@pytest.mark.django_db
def test_customers_cannot_use_the_admin(client, customer, orders):
    client.force_login(customer)
    response = client.post("/admin/orders/order/", {"action": "release_now", "_selected_action": [orders["mine"].pk]})
    assert response.status_code == 302
    assert response["Location"].startswith("/admin/login/")
    assert Order.objects.get(pk=orders["mine"].pk).status == OrderStatus.HELD


# --- Devices -----------------------------------------------------------------------------------


@pytest.mark.django_db
def test_device_changelist_search_by_serial_and_customer_email(admin_client, button, other_customer, product):
    theirs = make_button(customer=other_customer, product=product)
    assert _rows(admin_client.get("/admin/devices/device/", {"q": theirs.serial})) == {theirs.pk}
    assert _rows(admin_client.get("/admin/devices/device/", {"q": "alice@example.test"})) == {button.pk}


@pytest.mark.django_db
def test_pause_action_pauses_claimed_devices_only(admin_client, button, press):
    unclaimed = make_button()
    response = _act(admin_client, "/admin/devices/device/", "pause", [button, unclaimed])
    assert "Paused 1 device(s)." in _messages(response)
    assert Device.objects.get(pk=button.pk).paused is True
    assert Device.objects.get(pk=unclaimed.pk).paused is False
    assert press(button, "evt-1").json()["outcome"] == "device_paused"


@pytest.mark.django_db
def test_unpause_action(admin_client, customer, product):
    device = make_button(customer=customer, product=product, paused=True)
    _act(admin_client, "/admin/devices/device/", "unpause", [device])
    assert Device.objects.get(pk=device.pk).paused is False


@pytest.mark.django_db
def test_revoke_token_action_stops_the_device_at_once(admin_client, button, press):
    assert press(button, "evt-1").status_code == 201
    response = _act(admin_client, "/admin/devices/device/", "revoke_token", [button])
    assert "Revoked 1 token(s)." in _messages(response)
    assert Device.objects.get(pk=button.pk).token_revoked_at is not None
    refused = press(button, "evt-2")
    assert refused.status_code == 401
    assert refused["WWW-Authenticate"] == "Device"


@pytest.mark.django_db
def test_issue_token_action_gives_a_working_new_token(admin_client, button, press):
    _act(admin_client, "/admin/devices/device/", "revoke_token", [button])
    response = _act(admin_client, "/admin/devices/device/", "issue_token", [button])
    old_token = button.token
    button.token = re.search(r"new token (dt_\S+)", " ".join(_messages(response))).group(1)
    assert press(button, "evt-1").status_code == 201
    button.token = old_token
    assert press(button, "evt-2").status_code == 401


@pytest.mark.django_db
def test_provisioning_through_the_admin_shows_the_token_once(admin_client, press):
    # when
    response = admin_client.post("/admin/devices/device/add/", {"kind": "button", "provisioned_for": ""}, follow=True)
    # then
    assert response.status_code == 200
    device = Device.objects.get()
    assert device.kind == "button"
    assert device.customer_id is None
    message = next(m for m in _messages(response) if m.startswith("Provisioned"))
    assert device.serial in message and device.claim_code in message
    token = re.search(r"Token (dt_\S+)", message).group(1)
    assert device.token_hash not in message
    device.token = token
    answer = press(device, "evt-1")
    assert answer.status_code == 409
    assert answer.json()["outcome"] == "device_unclaimed"


@pytest.mark.django_db
def test_provisioning_needs_a_valid_kind(admin_client):
    response = admin_client.post("/admin/devices/device/add/", {"kind": "toaster", "provisioned_for": ""})
    assert response.status_code == 200
    assert "kind" in response.context["adminform"].form.errors
    assert Device.objects.count() == 0


# --- The device event log ----------------------------------------------------------------------


@pytest.mark.django_db
def test_device_event_admin_is_read_only(admin_client, button, press):
    press(button, "evt-1")
    event = DeviceEvent.objects.get()
    assert admin_client.get("/admin/devices/deviceevent/").status_code == 200
    assert admin_client.get("/admin/devices/deviceevent/add/").status_code == 403
    assert admin_client.post("/admin/devices/deviceevent/add/", {"event_id": "forged"}).status_code == 403
    assert admin_client.post(f"/admin/devices/deviceevent/{event.pk}/delete/", {"post": "yes"}).status_code == 403
    view = admin_client.get(f"/admin/devices/deviceevent/{event.pk}/change/")
    assert view.status_code == 200
    assert view.context["has_change_permission"] is False
    changed = admin_client.post(f"/admin/devices/deviceevent/{event.pk}/change/", {"outcome": "forged"})
    assert changed.status_code == 403
    assert DeviceEvent.objects.values_list("event_id", "outcome").get() == ("evt-1", "order_placed")
