"""`type: slot_status` from an appliance: readings, reorders, running-low notices, refusals."""

from datetime import UTC, datetime, timedelta

import orjson
import pytest
import time_machine
from django.core import mail

from devices.models import ApplianceSlot, DeviceEvent, SlotReading
from orders.models import IN_PROGRESS, Order, OrderSource, OrderStatus
from orders.services import order_cancel
from tests.device_pool import device_pool_call
from tests.factories import ProductFactory, make_appliance, make_button

T0 = datetime(2026, 3, 2, 7, 0, tzinfo=UTC)


@pytest.fixture
def detergent(db):
    return ProductFactory(name="Liquid Detergent", price="15.49", max_quantity=3, delivery_days=2)


@pytest.fixture
def washer(customer):
    return make_appliance(customer=customer, hold_seconds=600)


@pytest.fixture
def slot(washer, detergent):
    return ApplianceSlot.objects.create(
        device=washer, name="detergent", product=detergent, quantity=1, capacity=1000, reorder_threshold=100, auto_reorder=True
    )


@pytest.fixture
def reading(client):
    def _reading(device, event_id: str, remaining, slot: str = "detergent", **extra):
        body = {"event_id": event_id, "type": "slot_status", "slot": slot, "remaining": remaining, **extra}
        return client.post("/api/v1/device/events", body, content_type="application/json", HTTP_AUTHORIZATION=f"Device {device.token}")

    return _reading


def _in_progress(customer, product) -> int:
    return Order.objects.filter(customer=customer, product=product, status__in=IN_PROGRESS).count()


@pytest.mark.django_db(transaction=True)
def test_a_level_above_the_threshold_is_recorded_with_a_prediction(slot, washer, reading):
    response = reading(washer, "r-1", 800)
    body = response.json()
    assert response.status_code == 200
    assert body["outcome"] == "recorded" and body["order"] is None
    assert set(body) == {"event_id", "outcome", "detail", "order", "prediction"}
    assert body["prediction"]["remaining"] == 800 and body["prediction"]["readings"] == 1
    assert body["prediction"]["rate_per_day"] is None  # one reading: nothing to fit yet
    slot.refresh_from_db()
    assert slot.remaining == 800 and slot.cycle_started_at is not None
    assert SlotReading.objects.filter(slot=slot).count() == 1
    assert DeviceEvent.objects.get().type == "slot_status"


@pytest.mark.django_db(transaction=True)
def test_at_the_threshold_an_order_is_placed_like_a_press_and_then_it_is_in_progress(slot, washer, detergent, customer, reading):
    # when
    first = reading(washer, "r-1", 100)
    second = reading(washer, "r-2", 90)
    # then
    assert first.status_code == 201 and first.json()["outcome"] == "order_placed"
    order = Order.objects.get()
    assert (order.source, order.device_serial, order.quantity, order.status) == (OrderSource.APPLIANCE, washer.serial, 1, OrderStatus.HELD)
    assert order.hold_until - order.created_at == timedelta(seconds=600)  # the device's hold window
    assert first.json()["order"]["id"] == str(order.public_id)
    assert second.status_code == 200 and second.json()["outcome"] == "order_in_progress"
    assert second.json()["order"]["id"] == str(order.public_id)
    assert order.events.get().reason.startswith("slot detergent: 100 left")
    assert ApplianceSlot.objects.get().cycle_order_id == order.pk


@pytest.mark.django_db(transaction=True)
def test_no_second_order_in_a_cycle_even_after_the_first_ended(slot, washer, detergent, customer, reading):
    reading(washer, "r-1", 100)
    order_cancel(order_id=Order.objects.get().pk, actor="test", reason="changed my mind")
    # when: still low, same cycle
    again = reading(washer, "r-2", 80)
    # then
    assert again.status_code == 200 and again.json()["outcome"] == "recorded"
    assert "reordered in this cycle" in again.json()["detail"]
    assert Order.objects.count() == 1


@pytest.mark.django_db(transaction=True)
def test_a_refill_starts_a_new_cycle_that_may_order_again(slot, washer, detergent, customer, reading):
    reading(washer, "r-1", 100)
    order_cancel(order_id=Order.objects.get().pk, actor="test", reason="bought some at the shop")
    # when: refilled, then used up again
    refilled = reading(washer, "r-2", 1000)
    low = reading(washer, "r-3", 50)
    # then
    assert refilled.json()["outcome"] == "recorded" and refilled.json()["prediction"]["readings"] == 1
    assert low.status_code == 201 and low.json()["outcome"] == "order_placed"
    assert Order.objects.count() == 2 and _in_progress(customer, detergent) == 1


@pytest.mark.django_db(transaction=True)
def test_a_button_order_in_progress_is_this_cycles_order(slot, washer, detergent, customer, reading, press):
    button = make_button(customer=customer, product=detergent)
    placed = press(button, "p-1")
    low = reading(washer, "r-1", 100)
    assert placed.status_code == 201
    assert low.status_code == 200 and low.json()["outcome"] == "order_in_progress"
    assert low.json()["order"]["id"] == placed.json()["order"]["id"]
    assert Order.objects.count() == 1


@pytest.mark.django_db(transaction=True)
def test_the_predicted_run_out_reorders_before_the_threshold(slot, washer, detergent, reading):
    # given: 100 a day used from 1000; delivery 2 days + 1 day margin; threshold 100
    answers = []
    with time_machine.travel(T0, tick=False) as clock:
        for day in range(8):
            answers.append(reading(washer, f"r-{day}", 1000 - 100 * day))
            clock.shift(timedelta(days=1))
    outcomes = [a.json()["outcome"] for a in answers]
    # then: run-out is day 10; the order is placed on day 7 (10 - 3), at 300 left, far above 100
    assert outcomes == ["recorded"] * 7 + ["order_placed"]
    prediction = answers[-1].json()["prediction"]
    assert prediction["rate_per_day"] == pytest.approx(100)
    assert prediction["run_out_at"] == "2026-03-12T07:00:00Z"
    assert "predicted to run out 2026-03-12T07:00:00Z" in Order.objects.get().events.get().reason


@pytest.mark.django_db(transaction=True)
def test_auto_reorder_off_sends_one_running_low_notice_per_cycle(slot, washer, customer, reading, eager_tasks):
    ApplianceSlot.objects.filter(pk=slot.pk).update(auto_reorder=False)
    # when: low twice, refilled, low again
    first = reading(washer, "r-1", 90)
    reading(washer, "r-2", 80)
    reading(washer, "r-3", 1000)
    reading(washer, "r-4", 60)
    # then
    assert first.status_code == 200 and first.json()["outcome"] == "recorded"
    assert "auto-reorder is off" in first.json()["detail"]
    assert Order.objects.count() == 0
    assert len(mail.outbox) == 2
    message = mail.outbox[0]
    assert message.to == [customer.email]
    assert message.subject == "Dash: Detergent is running low"
    assert f"/devices/{washer.serial}/slots/detergent/order" in message.body


@pytest.mark.django_db(transaction=True)
def test_a_slot_without_a_product_records_and_orders_nothing(slot, washer, reading):
    ApplianceSlot.objects.filter(pk=slot.pk).update(product=None)
    response = reading(washer, "r-1", 10)
    assert response.status_code == 200 and response.json()["outcome"] == "recorded"
    assert "not bound to a product" in response.json()["detail"]
    assert Order.objects.count() == 0


@pytest.mark.django_db(transaction=True)
def test_the_capacity_the_appliance_reports_is_kept(slot, washer, reading):
    reading(washer, "r-1", 1500, capacity=2000)
    assert ApplianceSlot.objects.get().capacity == 2000


@pytest.mark.django_db(transaction=True)
def test_a_replayed_reading_is_answered_again_and_stored_once(slot, washer, reading):
    first = reading(washer, "r-1", 100)
    replay = reading(washer, "r-1", 100)
    assert replay.status_code == first.status_code == 201
    assert replay.content == first.content and replay["Idempotent-Replayed"] == "true"
    assert SlotReading.objects.count() == 1 and Order.objects.count() == 1
    reused = reading(washer, "r-1", 99)
    assert reused.status_code == 422 and reused.json()["error"]["code"] == "event_id_reused"


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"remaining": -1}, "remaining"),
        ({"remaining": "lots"}, "remaining"),
        ({"remaining": True}, "remaining"),
        ({"remaining": None}, "remaining"),
        ({"slot": ""}, "slot"),
        ({"slot": "Detergent!"}, "slot"),
        ({"slot": 7}, "slot"),
        ({"slot": "x" * 33}, "slot"),
        ({"capacity": 0}, "capacity"),
        ({"capacity": -5}, "capacity"),
        ({"capacity": "big"}, "capacity"),
        ({"remaining": 600, "capacity": 500}, "remaining"),
    ],
)
@pytest.mark.django_db(transaction=True)
def test_invalid_fields_are_400_and_change_nothing(slot, washer, client, changes, field):
    body = {"event_id": "r-bad", "type": "slot_status", "slot": "detergent", "remaining": 50, **changes}
    response = client.post(
        "/api/v1/device/events", orjson.dumps(body), content_type="application/json", HTTP_AUTHORIZATION=f"Device {washer.token}"
    )
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "malformed"
    assert field in response.json()["error"]["fields"]
    assert DeviceEvent.objects.count() == 0 and SlotReading.objects.count() == 0 and Order.objects.count() == 0
    fresh = ApplianceSlot.objects.get()
    assert (fresh.remaining, fresh.capacity, fresh.cycle_started_at) == (None, 1000, None)


@pytest.mark.django_db(transaction=True)
def test_a_missing_remaining_is_400(slot, washer, client):
    body = {"event_id": "r-bad", "type": "slot_status", "slot": "detergent"}
    response = client.post("/api/v1/device/events", body, content_type="application/json", HTTP_AUTHORIZATION=f"Device {washer.token}")
    assert response.status_code == 400 and "remaining" in response.json()["error"]["fields"]


@pytest.mark.django_db(transaction=True)
def test_an_unknown_slot_is_422_records_nothing_and_can_be_sent_again_once_set_up(slot, washer, detergent, reading):
    # when
    refused = reading(washer, "r-1", 100, slot="softener")
    # then
    assert refused.status_code == 422
    error = refused.json()["error"]
    assert error["code"] == "unknown_slot" and "softener" in error["detail"] and "detergent" in error["detail"]
    assert DeviceEvent.objects.count() == 0 and SlotReading.objects.count() == 0
    # and: the same event is accepted once the customer adds the slot
    ApplianceSlot.objects.create(device=washer, name="softener", product=detergent, capacity=500, reorder_threshold=50)
    assert reading(washer, "r-1", 400, slot="softener").status_code == 200


@pytest.mark.django_db(transaction=True)
def test_a_button_cannot_send_slot_status(customer, product, reading):
    button = make_button(customer=customer, product=product)
    response = reading(button, "r-1", 10)
    assert response.status_code == 422 and response.json()["error"]["code"] == "type_not_supported"
    assert DeviceEvent.objects.count() == 0


@pytest.mark.django_db(transaction=True)
def test_an_unclaimed_or_paused_appliance_records_no_level(customer, reading):
    unclaimed = make_appliance()
    paused = make_appliance(customer=customer, paused=True)
    ApplianceSlot.objects.create(device=paused, name="detergent", capacity=1000, reorder_threshold=100)
    a = reading(unclaimed, "r-1", 10)
    b = reading(paused, "r-1", 10)
    assert (a.status_code, a.json()["outcome"]) == (409, "device_unclaimed")
    assert (b.status_code, b.json()["outcome"]) == (409, "device_paused")
    assert SlotReading.objects.count() == 0 and Order.objects.count() == 0


@pytest.mark.django_db(transaction=True)
def test_the_device_pool_answers_a_reading_like_the_site(slot, washer, client):
    body = orjson.dumps({"event_id": "r-1", "type": "slot_status", "slot": "detergent", "remaining": 500})
    status, _, content = device_pool_call("/api/v1/device/events", token=washer.token, body=body)
    assert status == 200 and orjson.loads(content)["outcome"] == "recorded"
    replay = client.post("/api/v1/device/events", body, content_type="application/json", HTTP_AUTHORIZATION=f"Device {washer.token}")
    assert replay.content == content and replay["Idempotent-Replayed"] == "true"


@pytest.mark.django_db(transaction=True)
def test_buffered_readings_sent_in_a_burst_are_placed_at_their_own_times(slot, washer, reading):
    # given: an appliance that was offline for a day and a half sends its six readings at once
    with time_machine.travel(T0, tick=False):
        answers = [reading(washer, f"r-{i}", 900 - 25 * i, occurred_at=(T0 - timedelta(hours=6 * (5 - i))).isoformat()) for i in range(6)]
    # then: the fit sees 25 ml per 6 hours
    prediction = answers[-1].json()["prediction"]
    assert prediction["rate_per_day"] == pytest.approx(100)
    assert prediction["run_out_at"] == "2026-03-10T01:00:00Z"  # 775 left at T0, 100 a day: 7.75 days
    assert SlotReading.objects.order_by("at").values_list("at", flat=True).first() == T0 - timedelta(hours=30)


@pytest.mark.django_db(transaction=True)
def test_a_late_reading_joins_the_history_without_moving_the_level(slot, washer, reading):
    with time_machine.travel(T0, tick=False) as clock:
        reading(washer, "r-1", 500)
        clock.shift(timedelta(hours=1))
        late = reading(washer, "r-0", 1000, occurred_at=(T0 - timedelta(hours=5)).isoformat())  # older, and higher
    assert late.status_code == 200 and late.json()["outcome"] == "recorded"
    fresh = ApplianceSlot.objects.get()
    assert (fresh.remaining, fresh.last_reading_at) == (500, T0)  # no refill, no new cycle
    assert SlotReading.objects.count() == 2


@pytest.mark.django_db(transaction=True)
def test_an_implausible_device_time_is_replaced_by_the_arrival_time(slot, washer, reading):
    with time_machine.travel(T0, tick=False):
        reading(washer, "r-1", 500, occurred_at="2031-01-01T00:00:00Z")
        reading(washer, "r-2", 490, occurred_at="2020-01-01T00:00:00Z")
    assert set(SlotReading.objects.values_list("at", flat=True)) == {T0}
