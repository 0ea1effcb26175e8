"""The http commerce backend against a fake shop, and the shop's signed status callbacks
through a live server."""

import json
import time

import pytest
import requests
from django.db import transaction

from orders import services
from orders.commerce import signing
from orders.errors import OrderStateError
from orders.models import Order, OrderEvent, OrderSource, OrderStatus
from tests.conftest import FakeShop

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(120)]


def _releasing_order(customer, product) -> Order:
    with transaction.atomic():
        order = services.order_place(customer_id=customer.pk, product=product, quantity=2, source=OrderSource.WEB, actor="test").order
    return services.order_release(order_id=order.pk, actor="test")


def _events(order, from_status: str, to_status: str) -> int:
    return OrderEvent.objects.filter(order=order, from_status=from_status, to_status=to_status).count()


# --- Submission -------------------------------------------------------------------------


def test_a_shop_that_answers_500_then_200_gets_one_order_under_one_key(customer, product, fake_shop):
    # given
    fake_shop.answer_with(500)
    order = _releasing_order(customer, product)
    # when: the submit task runs, is retried, runs again
    first = services.order_submit(order_id=order.pk)
    second = services.order_submit(order_id=order.pk)
    # then
    assert first.retry_in is not None
    assert second.retry_in is None
    requests_seen = fake_shop.requests
    assert [r.status for r in requests_seen] == [500, 200]
    assert [r.key for r in requests_seen] == [str(order.public_id)] * 2
    assert requests_seen[0].body == requests_seen[1].body
    assert all(r.signed for r in requests_seen)
    assert json.loads(requests_seen[1].body) == {
        "order_id": str(order.public_id), "sku": product.sku, "gtin": product.gtin, "quantity": 2,
        "unit_price": str(product.price), "customer_ref": f"cust-{customer.pk}",
    }  # fmt: skip
    order.refresh_from_db()
    assert order.status == OrderStatus.SUBMITTED
    assert order.submit_attempts == 2
    assert order.commerce_ref == "SHOP-0001"
    assert order.last_error == ""
    assert _events(order, OrderStatus.RELEASING, OrderStatus.SUBMITTED) == 1
    assert fake_shop.accepted == {str(order.public_id): "SHOP-0001"}


def test_the_worker_retries_a_500_and_submits_once(settings, customer, product, fake_shop, celery_worker_process):
    # given: the worker's backoff is short, so its retry comes quickly
    settings.DASH_COMMERCE_BACKOFF_SECONDS = 0.2
    fake_shop.answer_with(500, 503)
    # when: the release queues the submit task
    order = _releasing_order(customer, product)
    worker = celery_worker_process()
    deadline = time.monotonic() + 30
    while Order.objects.values_list("status", flat=True).get(pk=order.pk) != OrderStatus.SUBMITTED:
        assert time.monotonic() < deadline, worker.log()[-3000:]
        time.sleep(0.05)
    # then
    order.refresh_from_db()
    assert order.submit_attempts == 3
    assert [r.status for r in fake_shop.requests] == [500, 503, 200]
    assert fake_shop.posts_by_key() == {str(order.public_id): 3}
    assert _events(order, OrderStatus.RELEASING, OrderStatus.SUBMITTED) == 1


def test_a_shop_that_keeps_failing_fails_the_order_and_an_operator_retry_brings_it_back(settings, customer, product, fake_shop):
    # given
    settings.DASH_COMMERCE_MAX_ATTEMPTS = 3
    fake_shop.answer_with(500, 502, 503)
    order = _releasing_order(customer, product)
    # when
    retries = [services.order_submit(order_id=order.pk).retry_in for _ in range(3)]
    # then
    assert retries[0] is not None and retries[1] > retries[0]
    assert retries[2] is None
    order.refresh_from_db()
    assert order.status == OrderStatus.FAILED
    assert order.submit_attempts == 3
    assert "503" in order.last_error
    assert _events(order, OrderStatus.RELEASING, OrderStatus.FAILED) == 1
    assert fake_shop.posts_by_key() == {str(order.public_id): 3}
    # a failed order is not submitted again by a late task
    assert services.order_submit(order_id=order.pk).retry_in is None
    assert len(fake_shop.requests) == 3
    # when: an operator retries
    services.order_retry_submission(order_id=order.pk, actor="operator:ops")
    # then
    order.refresh_from_db()
    assert (order.status, order.submit_attempts, order.last_error) == (OrderStatus.RELEASING, 0, "")
    assert _events(order, OrderStatus.FAILED, OrderStatus.RELEASING) == 1
    services.order_submit(order_id=order.pk)
    order.refresh_from_db()
    assert order.status == OrderStatus.SUBMITTED
    assert fake_shop.posts_by_key() == {str(order.public_id): 4}


def test_a_shop_that_refuses_the_order_fails_it_at_once(customer, product, fake_shop):
    # given
    fake_shop.answer_with(422)
    order = _releasing_order(customer, product)
    # when
    result = services.order_submit(order_id=order.pk)
    # then
    assert result.retry_in is None
    order.refresh_from_db()
    assert order.status == OrderStatus.FAILED
    assert order.submit_attempts == 1
    assert "422" in order.last_error
    assert _events(order, OrderStatus.RELEASING, OrderStatus.FAILED) == 1
    assert len(fake_shop.requests) == 1


# --- Callbacks --------------------------------------------------------------------------


@pytest.fixture
def submitted_order(customer, product, fake_shop):
    order = _releasing_order(customer, product)
    services.order_submit(order_id=order.pk)
    order.refresh_from_db()
    assert order.status == OrderStatus.SUBMITTED
    return order


@pytest.fixture
def callback(live_server):
    """POST a status callback to the live server, signed with the shop's secret unless told otherwise."""

    def _callback(body: bytes | dict, *, headers: dict | None = None, signed_body: bytes | None = None):
        raw = body if isinstance(body, bytes) else json.dumps(body).encode()
        sig = signing.sign(FakeShop.SECRET, raw if signed_body is None else signed_body) if headers is None else headers
        return requests.post(f"{live_server.url}/api/v1/commerce/events", data=raw, headers={"Content-Type": "application/json", **sig}, timeout=30)

    return _callback


def _snapshot(order) -> tuple:
    order.refresh_from_db()
    return order.status, order.version, order.updated_at, order.shipped_at, OrderEvent.objects.filter(order=order).count()


def test_signed_callbacks_ship_and_deliver_the_order_and_repeats_change_nothing(submitted_order, callback):
    # given
    body = {"order_id": str(submitted_order.public_id), "status": "shipped"}
    # when
    shipped = callback(body)
    # then
    assert shipped.status_code == 200
    assert shipped.json() == {"order_id": str(submitted_order.public_id), "status": "shipped"}
    submitted_order.refresh_from_db()
    assert submitted_order.status == OrderStatus.SHIPPED
    assert submitted_order.shipped_at is not None
    assert _events(submitted_order, OrderStatus.SUBMITTED, OrderStatus.SHIPPED) == 1
    # when: the shop repeats itself
    before = _snapshot(submitted_order)
    again = callback(body)
    # then
    assert again.status_code == 200
    assert again.json()["status"] == "shipped"
    assert _snapshot(submitted_order) == before
    # when
    delivered = callback({"order_id": str(submitted_order.public_id), "status": "delivered", "note": "left at the door"})
    # then
    assert delivered.status_code == 200
    submitted_order.refresh_from_db()
    assert submitted_order.status == OrderStatus.DELIVERED
    assert submitted_order.delivered_at is not None
    event = OrderEvent.objects.get(order=submitted_order, from_status=OrderStatus.SHIPPED, to_status=OrderStatus.DELIVERED)
    assert (event.actor, event.reason) == ("commerce", "left at the door")
    # a late "shipped" after delivery changes nothing
    before = _snapshot(submitted_order)
    assert callback(body).status_code == 200
    assert _snapshot(submitted_order) == before


def test_a_report_for_an_order_not_yet_submitted_answers_409_and_is_applied_when_sent_again(customer, product, fake_shop, callback):
    # given: the shop reports before our submission committed (the order is still releasing)
    order = _releasing_order(customer, product)
    body = {"order_id": str(order.public_id), "status": "delivered"}
    before = _snapshot(order)
    # when
    early = callback(body)
    # then: the shop is told to send it again, and nothing changed
    assert early.status_code == 409
    assert early.json()["error"]["code"] == "not_submitted"
    assert _snapshot(order) == before
    # when: the submission commits and the shop sends the report again
    services.order_submit(order_id=order.pk)
    again = callback(body)
    # then
    assert (again.status_code, again.json()["status"]) == (200, "delivered")
    assert _events(order, OrderStatus.SUBMITTED, OrderStatus.DELIVERED) == 1


@pytest.mark.parametrize(
    "forge",
    [
        pytest.param(lambda raw: signing.sign("not-the-shop-secret", raw), id="wrong-secret"),
        pytest.param(lambda raw: {}, id="missing-signature"),
        pytest.param(lambda raw: {signing.TIMESTAMP_HEADER: signing.sign(FakeShop.SECRET, raw)[signing.TIMESTAMP_HEADER]}, id="missing-signature-header"),
        pytest.param(lambda raw: signing.sign(FakeShop.SECRET, raw, int(time.time()) - 301), id="stale-timestamp"),
        pytest.param(lambda raw: signing.sign(FakeShop.SECRET, raw, int(time.time()) + 301), id="future-timestamp"),
        pytest.param(lambda raw: {**signing.sign(FakeShop.SECRET, raw), signing.TIMESTAMP_HEADER: "not-a-time"}, id="garbled-timestamp"),
        pytest.param(
            lambda raw: {**signing.sign(FakeShop.SECRET, raw), signing.TIMESTAMP_HEADER: str(int(time.time()) - 1)}, id="timestamp-swapped"
        ),
    ],
)
def test_a_callback_without_a_good_signature_changes_nothing(submitted_order, callback, forge):
    # given
    raw = json.dumps({"order_id": str(submitted_order.public_id), "status": "shipped"}).encode()
    before = _snapshot(submitted_order)
    # when
    answer = callback(raw, headers=forge(raw))
    # then
    assert answer.status_code == 401
    assert answer.json()["error"]["code"] == "bad_signature"
    assert _snapshot(submitted_order) == before


def test_a_tampered_callback_body_changes_nothing(submitted_order, callback):
    # given: the shop signed "shipped"; someone on the way rewrote it to "cancelled"
    signed = json.dumps({"order_id": str(submitted_order.public_id), "status": "shipped"}).encode()
    tampered = signed.replace(b"shipped", b"cancelled")
    before = _snapshot(submitted_order)
    # when
    answer = callback(tampered, signed_body=signed)
    # then
    assert answer.status_code == 401
    assert _snapshot(submitted_order) == before


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        pytest.param(b'{"order_id": "', 400, "malformed", id="broken-json"),
        pytest.param(b"", 400, "malformed", id="empty-body"),
        pytest.param(b"[1, 2]", 400, None, id="not-an-object"),
        pytest.param(b'{"status": "shipped"}', 400, None, id="no-order-id"),
        pytest.param(b'{"order_id": "not-a-uuid", "status": "shipped"}', 400, None, id="bad-order-id"),
        pytest.param(b'{"order_id": "ORDER", "status": "lost"}', 400, None, id="unknown-status"),
        pytest.param(b'{"order_id": "ORDER", "status": "submitted"}', 400, None, id="status-not-from-the-shop"),
        pytest.param(b'{"order_id": "00000000-0000-4000-8000-000000000000", "status": "shipped"}', 404, "not_found", id="unknown-order"),
    ],
)
def test_a_signed_but_malformed_or_unknown_callback_changes_nothing(submitted_order, callback, body, status, code):
    # given
    raw = body.replace(b"ORDER", str(submitted_order.public_id).encode())
    before = _snapshot(submitted_order)
    # when
    answer = callback(raw)
    # then
    assert answer.status_code == status, answer.content
    assert "error" in answer.json()
    if code:
        assert answer.json()["error"]["code"] == code
    assert _snapshot(submitted_order) == before


def test_a_callback_for_an_order_not_yet_submitted_changes_nothing(customer, product, fake_shop, callback):
    # given: a held order (the shop never had it)
    with transaction.atomic():
        order = services.order_place(customer_id=customer.pk, product=product, quantity=1, source=OrderSource.WEB, actor="test").order
    before = _snapshot(order)
    # when
    answer = callback({"order_id": str(order.public_id), "status": "delivered"})
    # then
    assert answer.status_code in (200, 409)
    assert _snapshot(order) == before


def test_order_retry_submission_refuses_an_order_that_has_not_failed(submitted_order):
    with pytest.raises(OrderStateError):
        services.order_retry_submission(order_id=submitted_order.pk, actor="operator:ops")
    assert Order.objects.get(pk=submitted_order.pk).status == OrderStatus.SUBMITTED

