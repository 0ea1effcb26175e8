from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone

from devices.models import Device, DeviceEvent
from orders.models import Order, OrderEvent, OrderStatus
from orders.selectors import iso
from orders.services import (
    order_apply_commerce_status,
    order_cancel_by_customer,
    order_release,
    order_submit,
)
from orders.tasks import release_order
from tests.factories import make_button


@pytest.mark.django_db(transaction=True)
def test_first_press_places_a_held_order_and_second_answers_in_progress(button, press):
    # when
    first = press(button, "evt-1")
    second = press(button, "evt-2")
    # then
    assert first.status_code == 201
    assert first.json()["outcome"] == "order_placed"
    assert first.json()["order"]["status"] == "held"
    assert second.status_code == 200
    assert second.json()["outcome"] == "order_in_progress"
    assert second.json()["order"]["id"] == first.json()["order"]["id"]
    assert Order.objects.count() == 1
    assert OrderEvent.objects.filter(to_status="held").count() == 1
    assert DeviceEvent.objects.count() == 2


@pytest.mark.django_db(transaction=True)
def test_replay_returns_the_first_answer_byte_for_byte(button, press):
    first = press(button, "evt-1")
    press(button, "evt-2")
    replay = press(button, "evt-1")
    assert replay.status_code == first.status_code == 201
    assert replay.content == first.content
    assert replay["Idempotent-Replayed"] == "true"
    assert Order.objects.count() == 1


# --- Outcomes ------------------------------------------------------------------------------

ANSWER_KEYS = {"event_id", "outcome", "detail", "order"}
ORDER_KEYS = {"id", "status", "product", "quantity", "hold_until", "version"}


@pytest.mark.django_db(transaction=True)
def test_order_placed_answer_has_exactly_the_contract_shape(button, product, press):
    response = press(button, "evt-shape")
    body = response.json()
    assert response.status_code == 201
    assert response["Content-Type"] == "application/json"
    assert set(body) == ANSWER_KEYS
    assert set(body["order"]) == ORDER_KEYS
    assert body["order"]["product"] == {"sku": product.sku, "name": "Laundry Pods"}
    order = Order.objects.get()
    assert body == {
        "event_id": "evt-shape",
        "outcome": "order_placed",
        "detail": body["detail"],
        "order": {
            "id": str(order.public_id),
            "status": "held",
            "product": {"sku": product.sku, "name": "Laundry Pods"},
            "quantity": 1,
            "hold_until": iso(order.hold_until),
            "version": 1,
        },
    }
    assert isinstance(body["detail"], str) and body["detail"]


@pytest.mark.parametrize(
    ("device_hold", "setting_hold", "expected_hold"),
    [(None, 600, 600), (None, 1800, 1800), (120, 600, 120), (0, 600, 0)],
)
@pytest.mark.django_db(transaction=True)
def test_order_is_held_for_the_device_hold_or_the_default(settings, customer, product, press, device_hold, setting_hold, expected_hold):
    # given
    settings.DASH_HOLD_SECONDS = setting_hold
    device = make_button(customer=customer, product=product, quantity=2, hold_seconds=device_hold)
    before = timezone.now()
    # when
    response = press(device, "evt-hold")
    after = timezone.now()
    # then
    assert response.status_code == 201
    order = Order.objects.get()
    assert order.status == OrderStatus.HELD
    assert order.quantity == 2
    assert order.customer_id == customer.pk
    assert order.device_serial == device.serial
    assert order.source == "button"
    assert order.hold_until - order.created_at == timedelta(seconds=expected_hold)
    assert before + timedelta(seconds=expected_hold) <= order.hold_until <= after + timedelta(seconds=expected_hold)
    assert response.json()["order"]["hold_until"] == iso(order.hold_until)


@pytest.mark.django_db(transaction=True)
def test_placed_order_writes_one_timeline_entry_by_the_device(button, press):
    press(button, "evt-1")
    order = Order.objects.get()
    event = OrderEvent.objects.get(order=order)
    assert (event.from_status, event.to_status) == ("", "held")
    assert event.actor == f"device:{button.serial}"
    assert event.at == order.created_at
    stored = DeviceEvent.objects.get()
    assert (stored.event_id, stored.outcome, stored.status_code, stored.order_id) == ("evt-1", "order_placed", 201, order.pk)


@pytest.mark.django_db(transaction=True)
def test_quantity_is_capped_at_the_products_maximum(customer, product, press):
    device = make_button(customer=customer, product=product, quantity=9)  # product.max_quantity == 3
    response = press(device, "evt-1")
    assert response.status_code == 201
    assert response.json()["order"]["quantity"] == 3
    assert Order.objects.get().quantity == 3


@pytest.mark.django_db(transaction=True)
def test_second_button_of_the_same_customer_and_product_answers_in_progress(customer, product, button, press):
    # given
    kitchen = make_button(customer=customer, product=product)
    first = press(button, "evt-1")
    # when
    second = press(kitchen, "evt-1")
    # then
    assert second.status_code == 200
    body = second.json()
    assert set(body) == ANSWER_KEYS
    assert body["outcome"] == "order_in_progress"
    assert body["order"] == first.json()["order"]
    assert Order.objects.count() == 1
    assert DeviceEvent.objects.get(device_id=kitchen.pk).order_id == Order.objects.get().pk


@pytest.mark.django_db(transaction=True)
def test_in_progress_answer_shows_the_orders_current_state(button, press):
    press(button, "evt-1")
    order = Order.objects.get()
    order_release(order_id=order.pk, actor="system")
    response = press(button, "evt-2")
    assert response.status_code == 200
    assert response.json()["order"]["status"] == "releasing"
    assert response.json()["order"]["version"] == 2


@pytest.mark.django_db(transaction=True)
def test_another_customer_with_the_same_product_gets_their_own_order(button, other_customer, product, press):
    theirs = make_button(customer=other_customer, product=product)
    mine = press(button, "evt-1")
    their_answer = press(theirs, "evt-1")
    assert mine.status_code == their_answer.status_code == 201
    assert mine.json()["order"]["id"] != their_answer.json()["order"]["id"]
    assert set(Order.objects.values_list("customer_id", flat=True)) == {button.customer_id, other_customer.pk}


@pytest.mark.parametrize(
    ("arrange", "status", "outcome"),
    [
        (lambda c, p: make_button(customer=None, product=None), 409, "device_unclaimed"),
        (lambda c, p: make_button(customer=c, product=p, paused=True), 409, "device_paused"),
        (lambda c, p: make_button(customer=c, product=None), 422, "unknown_product"),
    ],
    ids=["unclaimed", "paused", "no_product"],
)
@pytest.mark.django_db(transaction=True)
def test_press_that_cannot_order_is_recorded_with_its_outcome(customer, product, press, arrange, status, outcome):
    device = arrange(customer, product)
    response = press(device, "evt-1")
    assert response.status_code == status
    body = response.json()
    assert set(body) == ANSWER_KEYS
    assert (body["event_id"], body["outcome"], body["order"]) == ("evt-1", outcome, None)
    assert body["detail"]
    assert Order.objects.count() == 0
    stored = DeviceEvent.objects.get()
    assert (stored.outcome, stored.status_code, stored.order_id) == (outcome, status, None)
    assert bytes(stored.response_body) == response.content


@pytest.mark.django_db(transaction=True)
def test_button_bound_to_an_inactive_product_answers_unknown_product(button, product, press):
    product.active = False
    product.save(update_fields=["active"])
    response = press(button, "evt-1")
    assert response.status_code == 422
    assert response.json()["outcome"] == "unknown_product"
    assert Order.objects.count() == 0


@pytest.mark.parametrize("final_status", ["delivered", "cancelled", "failed"])
@pytest.mark.django_db(transaction=True)
def test_press_after_the_order_ended_places_a_new_order(settings, button, press, final_status):
    # given
    first = press(button, "evt-1")
    order = Order.objects.get()
    if final_status == "cancelled":
        order_cancel_by_customer(customer_id=button.customer_id, public_id=order.public_id)
    else:
        order_release(order_id=order.pk, actor="system")
        if final_status == "failed":  # an http shop without a URL refuses permanently
            settings.DASH_COMMERCE_BACKEND, settings.DASH_COMMERCE_URL = "http", ""
        order_submit(order_id=order.pk)
        order_apply_commerce_status(public_id=order.public_id, status=OrderStatus.DELIVERED)
    # when
    second = press(button, "evt-2")
    # then
    assert second.status_code == 201
    assert second.json()["outcome"] == "order_placed"
    assert second.json()["order"]["id"] != first.json()["order"]["id"]
    assert sorted(Order.objects.values_list("status", flat=True)) == sorted([final_status, "held"])


@pytest.mark.django_db(transaction=True)
def test_zero_hold_places_the_order_and_release_task_releases_it(customer, product, press):
    # given
    device = make_button(customer=customer, product=product, hold_seconds=0)
    response = press(device, "evt-1")
    assert response.status_code == 201
    assert response.json()["order"]["status"] == "held"
    order = Order.objects.get()
    assert order.hold_until == order.created_at
    # when
    release_order(order.pk)
    release_order(order.pk)  # a duplicate delivery is harmless
    # then
    order.refresh_from_db()
    assert order.status == OrderStatus.RELEASING
    assert order.version == 2
    assert list(order.events.values_list("from_status", "to_status", "actor")) == [("", "held", f"device:{device.serial}"), ("held", "releasing", "system")]


@pytest.mark.django_db(transaction=True)
def test_press_updates_last_seen_and_stores_occurred_at(button, press):
    assert button.last_seen_at is None
    press(button, "evt-1", occurred_at="2026-11-26T09:30:00Z")
    button.refresh_from_db()
    assert button.last_seen_at is not None
    assert DeviceEvent.objects.get().occurred_at == datetime(2026, 11, 26, 9, 30, tzinfo=UTC)


@pytest.mark.django_db(transaction=True)
def test_event_id_of_64_characters_is_accepted(button, press):
    event_id = "a1._:-" + "x" * 58
    assert len(event_id) == 64
    response = press(button, event_id)
    assert response.status_code == 201
    assert response.json()["event_id"] == event_id


# --- Replays -------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_replay_after_the_state_changed_still_returns_the_first_answer(customer, product, press):
    # given: a press while paused, then the customer unpauses
    device = make_button(customer=customer, product=product, paused=True)
    first = press(device, "evt-1")
    Device.objects.filter(pk=device.pk).update(paused=False)
    # when
    replay = press(device, "evt-1")
    fresh = press(device, "evt-2")
    # then
    assert (replay.status_code, replay.content) == (409, first.content)
    assert replay["Idempotent-Replayed"] == "true"
    assert fresh.status_code == 201
    assert not fresh.has_header("Idempotent-Replayed")
    assert DeviceEvent.objects.count() == 2


@pytest.mark.django_db(transaction=True)
def test_replay_of_an_in_progress_answer_is_byte_for_byte(button, press):
    press(button, "evt-1")
    first = press(button, "evt-2")
    order_release(order_id=Order.objects.get().pk, actor="system")  # the order moved on meanwhile
    replay = press(button, "evt-2")
    assert (replay.status_code, replay.content) == (200, first.content)
    assert replay.json()["order"]["status"] == "held"
    assert replay["Idempotent-Replayed"] == "true"


@pytest.mark.django_db(transaction=True)
def test_same_event_id_with_a_different_body_is_refused_and_changes_nothing(button, press):
    # given
    first = press(button, "evt-1")
    stored_before = DeviceEvent.objects.values().get()
    order_before = Order.objects.values().get()
    # when
    response = press(button, "evt-1", occurred_at="2026-11-26T09:30:00Z")
    # then
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "event_id_reused"
    assert set(response.json()["error"]) == {"code", "detail", "fields"}
    assert "event_id" in response.json()["error"]["fields"]
    assert not response.has_header("Idempotent-Replayed")
    assert DeviceEvent.objects.values().get() == stored_before
    assert Order.objects.values().get() == order_before
    assert OrderEvent.objects.count() == 1
    # and the original is still replayable
    assert press(button, "evt-1").content == first.content


@pytest.mark.django_db(transaction=True)
def test_same_json_with_other_key_order_and_spacing_is_a_replay(button, post_event):
    first = post_event(b'{"event_id":"evt-1","type":"press","occurred_at":"2026-11-26T09:30:00Z"}', token=button.token)
    again = post_event(
        b'{\n  "occurred_at" : "2026-11-26T09:30:00Z",\n  "type": "press",   "event_id": "evt-1"\n}\n', token=button.token
    )
    assert first.status_code == 201
    assert (again.status_code, again.content) == (201, first.content)
    assert again["Idempotent-Replayed"] == "true"
    assert Order.objects.count() == 1
    assert DeviceEvent.objects.count() == 1


@pytest.mark.django_db(transaction=True)
def test_event_ids_are_scoped_per_device(customer, product, button, press):
    other = make_button(customer=customer, product=product)
    first = press(button, "evt-1")
    second = press(other, "evt-1")
    assert first.status_code == 201
    assert second.status_code == 200
    assert not second.has_header("Idempotent-Replayed")
    assert DeviceEvent.objects.count() == 2
