import pytest

from devices.models import DeviceEvent
from orders.models import Order, OrderEvent


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
