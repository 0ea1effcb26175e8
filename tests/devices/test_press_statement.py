"""A press for an order in progress is recorded by the intake's context statement itself
(devices.services._PRESS_SQL, PostgreSQL): the same decision and the same answer, byte for
byte, as the code path (`_decide_and_record`) that every other outcome and SQLite take."""

from datetime import UTC, datetime

import orjson
import pytest

from devices import services
from devices.credentials import hash_token
from devices.intake import parse_event
from devices.models import DeviceEvent
from devices.selectors import intake_context
from devices.throttle import throttle_window
from orders.models import Order, OrderStatus
from tests.factories import ProductFactory, make_button, make_order

pytestmark = pytest.mark.django_db

NAMES = [
    "Washing powder",
    'Soap "extra" \\ mild / 2',
    "Line\nbreak\ttab\x01\x1f control",
    "Crème brûlée 😀 \u2028 end",
]
STATES = {
    "held": {"status": OrderStatus.HELD, "hold_until": datetime(2026, 11, 27, 21, 30, 5, 123456, tzinfo=UTC)},
    "held to the second": {"status": OrderStatus.HELD, "hold_until": datetime(2026, 11, 27, 21, 30, 5, tzinfo=UTC)},
    "releasing": {"status": OrderStatus.RELEASING, "hold_until": datetime(2026, 11, 27, 21, 30, 0, 500, tzinfo=UTC)},
    "submitted": {"status": OrderStatus.SUBMITTED},
    "shipped": {"status": OrderStatus.SHIPPED, "version": 7},
    "needs confirmation": {"status": OrderStatus.NEEDS_CONFIRMATION, "hold_until": None},
}


def _press(event_id: str) -> bytes:
    return orjson.dumps({"event_id": event_id, "type": "press"})


def _by_statement(device, event_id: str) -> services._Admitted:
    event = parse_event(_press(event_id), "application/json")
    return services._admit(token_hash=hash_token(device.token), event=event, record_press=True)


def _by_code(device, event_id: str) -> services.IntakeAnswer:
    event = parse_event(_press(event_id), "application/json")
    now = datetime.now(UTC)
    ctx = intake_context(token_hash=hash_token(device.token), event_id=event_id, window=throttle_window(now=now))
    return services._decide_and_record(ctx, event, now)


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("state", list(STATES))
def test_the_statement_answers_a_press_for_an_order_in_progress_as_the_code_does(customer, name, state):
    # given a button whose product has an order in progress, in each state it can be in
    product = ProductFactory(name=name)
    device = make_button(customer=customer, product=product, quantity=3)
    order = make_order(customer=customer, product=product, quantity=3)
    Order.objects.filter(pk=order.pk).update(**STATES[state])

    # when one press is recorded by the statement and another by the code
    admitted = _by_statement(device, "by-statement")
    by_code = _by_code(device, "by-code")

    # then the statement recorded it, and both answers are the same bytes but for the event id
    assert admitted.recorded is not None
    assert admitted.recorded.replace(b'"by-statement"', b'"by-code"') == by_code.body
    assert by_code.status == 200
    answer = orjson.loads(admitted.recorded)
    assert answer["outcome"] == "order_in_progress"
    assert answer["order"]["status"] == str(STATES[state]["status"])
    stored = DeviceEvent.objects.get(event_id="by-statement")
    assert bytes(stored.response_body) == admitted.recorded
    assert (stored.status_code, stored.outcome, stored.order_id, stored.customer_id, stored.product_id) == (
        200,
        "order_in_progress",
        order.pk,
        customer.pk,
        product.pk,
    )
    assert stored.payload == {"event_id": "by-statement", "type": "press"}
    assert stored.body_hash == parse_event(_press("by-statement"), "application/json").body_hash


def test_every_other_press_is_left_to_the_code(customer, other_customer, settings):
    # given presses that are not for an order in progress: no order yet, a paused button, a
    # retired product, an unclaimed button, a replay, a throttled device
    settings.DASH_DEVICE_BURST = 2
    product = ProductFactory()
    first_press = make_button(customer=customer, product=product)
    paused = make_button(customer=other_customer, product=product, paused=True)
    make_order(customer=other_customer, product=product)
    retired = ProductFactory(active=False)
    on_retired = make_button(customer=customer, product=retired)
    unclaimed = make_button(product=product)
    throttled = make_button(customer=other_customer, product=ProductFactory())
    for n in range(2):
        services.device_event_ingest(token=throttled.token, raw=_press(f"t-{n}"), content_type="application/json")
    events = DeviceEvent.objects.count()

    # when the statement runs for each
    admitted = [_by_statement(device, "e-1") for device in (first_press, paused, on_retired, unclaimed)]
    replay = _by_statement(throttled, "t-0")
    with pytest.raises(services.IntakeError) as refused:
        _by_statement(throttled, "t-2")

    # then it recorded none of them
    assert [a.recorded for a in admitted] == [None] * 4
    assert isinstance(replay, services.IntakeAnswer) and replay.headers == {"Idempotent-Replayed": "true"}
    assert refused.value.status == 429
    assert DeviceEvent.objects.count() == events
