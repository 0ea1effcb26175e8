"""Invariant 2 for appliances: low readings from two appliances and a button at once, on a
live server, make one order."""

import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import orjson
import pytest
import requests

from devices.models import ApplianceSlot, SlotReading
from orders.models import Order
from tests.factories import make_appliance, make_button

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(120)]


def test_low_readings_and_presses_at_once_make_one_order(live_server, customer, product):
    # given: two washers whose detergent slots order the product a button also orders
    washers = [make_appliance(customer=customer) for _ in range(2)]
    for washer in washers:
        ApplianceSlot.objects.create(device=washer, name="detergent", product=product, capacity=1000, reorder_threshold=100)
    button = make_button(customer=customer, product=product)
    sends = [
        (w, {"event_id": f"{w.serial}-{n}", "type": "slot_status", "slot": "detergent", "remaining": 50 - n})
        for n in range(8)
        for w in washers
    ]
    sends += [(button, {"event_id": f"press-{n}", "type": "press"}) for n in range(8)]
    barrier = threading.Barrier(len(sends))

    def send(device, body):
        barrier.wait(30)
        url = f"{live_server.url}/api/v1/device/events"
        return requests.post(
            url,
            data=orjson.dumps(body),
            headers={"Authorization": f"Device {device.token}", "Content-Type": "application/json"},
            timeout=60,
        )

    # when
    with ThreadPoolExecutor(len(sends)) as pool:
        answers = [f.result() for f in [pool.submit(send, device, body) for device, body in sends]]
    # then
    assert [a.status_code for a in answers if a.status_code >= 300] == []
    outcomes = Counter(a.json()["outcome"] for a in answers)
    assert outcomes == {"order_placed": 1, "order_in_progress": 23}
    order = Order.objects.get()
    assert {a.json()["order"]["id"] for a in answers} == {str(order.public_id)}
    assert SlotReading.objects.count() == 16
    assert set(ApplianceSlot.objects.values_list("cycle_order_id", flat=True)) == {order.pk}
