"""Invariants 1 and 2 under load: threads hammering the device API of a live server on
PostgreSQL, all released together by a barrier."""

import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import orjson
import pytest
import requests

from devices.models import DeviceEvent
from orders.models import Order, OrderEvent
from tests.factories import make_button

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(120)]


def _fire_together(live_server, sends: list[tuple[object, dict]]) -> list[requests.Response]:
    """POST every (device, body) at once, one thread each; answers in the order given."""
    barrier = threading.Barrier(len(sends))
    url = f"{live_server.url}/api/v1/device/events"

    def send(device, body):
        barrier.wait(30)
        return requests.post(url, data=orjson.dumps(body), headers={"Authorization": f"Device {device.token}", "Content-Type": "application/json"}, timeout=60)

    with ThreadPoolExecutor(len(sends)) as pool:
        futures = [pool.submit(send, device, body) for device, body in sends]
        return [f.result() for f in futures]


def test_twenty_presses_from_each_of_three_devices_make_one_order(live_server, customer, product):
    # given: three buttons of one customer, all bound to one product
    buttons = [make_button(customer=customer, product=product) for _ in range(3)]
    sends = [(b, {"event_id": f"{b.serial}-{n}", "type": "press"}) for n in range(20) for b in buttons]
    # when
    answers = _fire_together(live_server, sends)
    # then
    assert [a.status_code for a in answers if a.status_code >= 500] == []
    outcomes = Counter(a.json()["outcome"] for a in answers)
    assert outcomes == {"order_placed": 1, "order_in_progress": 59}
    order = Order.objects.get()
    assert {a.json()["order"]["id"] for a in answers} == {str(order.public_id)}
    assert Counter(a.status_code for a in answers) == {201: 1, 200: 59}
    assert OrderEvent.objects.filter(order=order).count() == 1
    assert DeviceEvent.objects.count() == 60
    assert DeviceEvent.objects.filter(order=order).count() == 60
    # every stored answer is the one that was sent
    stored = dict(DeviceEvent.objects.values_list("event_id", "response_body"))
    assert all(bytes(stored[body["event_id"]]) == answer.content for (_, body), answer in zip(sends, answers, strict=True))


def test_one_event_sent_ten_times_at_once_is_recorded_once_and_answered_alike(live_server, button):
    # when
    answers = _fire_together(live_server, [(button, {"event_id": "evt-twin", "type": "press"})] * 10)
    # then
    event = _recorded_once_and_answered_alike(answers, "evt-twin", status=201)
    assert DeviceEvent.objects.get() == event
    assert Order.objects.count() == 1
    assert OrderEvent.objects.count() == 1


def test_a_burst_from_two_customers_makes_one_order_each(live_server, customer, other_customer, product):
    # given: the same product, on buttons of two different customers
    buttons = [make_button(customer=c, product=product) for c in (customer, customer, other_customer, other_customer)]
    sends = [(b, {"event_id": f"{b.serial}-{n}", "type": "press"}) for n in range(10) for b in buttons]
    # when
    answers = _fire_together(live_server, sends)
    # then
    assert [a.status_code for a in answers if a.status_code >= 500] == []
    assert Counter(a.json()["outcome"] for a in answers) == {"order_placed": 2, "order_in_progress": 38}
    assert sorted(Order.objects.values_list("customer_id", flat=True)) == sorted([customer.pk, other_customer.pk])
    for c in (customer, other_customer):
        order = Order.objects.get(customer=c)
        answered = {a.json()["order"]["id"] for (device, _), a in zip(sends, answers, strict=True) if device.customer_id == c.pk}
        assert answered == {str(order.public_id)}
    assert DeviceEvent.objects.count() == 40


def test_a_flood_from_one_device_is_cut_at_the_burst_give_or_take_the_requests_in_flight(live_server, settings, button):
    # given: a burst of 10; 60 presses sent at once by 60 threads, in waves the server runs concurrently
    settings.DASH_DEVICE_BURST = 10
    settings.DASH_DEVICE_RATE_PER_MINUTE = 6
    sends = [(button, {"event_id": f"flood-{n}", "type": "press"}) for n in range(60)]
    # when
    answers = _fire_together(live_server, sends)
    # then: every request has a clean answer; what passed is the burst plus at most one per
    # request that was in flight at the same moment; everything recorded was answered, and back
    assert [a.status_code for a in answers if a.status_code >= 500] == []
    passed = [a for a in answers if a.status_code != 429]
    assert 10 <= len(passed) < 60, len(passed)
    assert all(a.headers["Retry-After"].isdigit() for a in answers if a.status_code == 429)
    assert DeviceEvent.objects.count() == len(passed)
    assert Order.objects.count() == 1
    # and once the flood is over, the device is held to the burst exactly
    assert requests.post(
        f"{live_server.url}/api/v1/device/events",
        data=orjson.dumps({"event_id": "after", "type": "press"}),
        headers={"Authorization": f"Device {button.token}", "Content-Type": "application/json"},
        timeout=30,
    ).status_code == 429


def test_one_press_for_an_order_in_progress_sent_ten_times_at_once_is_recorded_once(live_server, button):
    # given the button's order in progress (the one-statement route records these presses)
    placed = _fire_together(live_server, [(button, {"event_id": "first", "type": "press"})])[0]
    assert placed.status_code == 201
    # when
    answers = _fire_together(live_server, [(button, {"event_id": "evt-twin", "type": "press"})] * 10)
    # then
    event = _recorded_once_and_answered_alike(answers, "evt-twin", status=200)
    assert event.outcome == "order_in_progress"
    assert DeviceEvent.objects.count() == 2
    assert Order.objects.count() == 1


def _recorded_once_and_answered_alike(answers, event_id: str, *, status: int) -> DeviceEvent:
    """The one event recorded for `event_id`, after checking that every concurrent send of it
    got its stored answer with `status`, and all but the first as a replay."""
    assert [a.status_code for a in answers if a.status_code >= 500] == []
    event = DeviceEvent.objects.get(event_id=event_id)
    assert all(a.content == bytes(event.response_body) for a in answers)
    assert all(a.status_code == event.status_code == status for a in answers)
    assert Counter(a.headers.get("Idempotent-Replayed") for a in answers) == {None: 1, "true": 9}
    return event
