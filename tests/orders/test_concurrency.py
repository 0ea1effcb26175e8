"""Invariant 3 (released once) under races: release sweeps and submissions running in two
threads at the same time, on PostgreSQL, against a fake shop over HTTP."""

import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
from django.db import connection, transaction
from django.db.models import Count
from django.utils import timezone

from orders import services
from orders.models import Order, OrderEvent, OrderSource, OrderStatus
from tests.factories import ProductFactory

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(120)]

ORDERS = 30


def _in_two_threads(work):
    """Run work() in two threads released together; each closes its own database connection."""
    barrier = threading.Barrier(2)

    def run():
        try:
            barrier.wait(30)
            return work()
        finally:
            connection.close()

    with ThreadPoolExecutor(2) as pool:
        futures = [pool.submit(run) for _ in range(2)]
        return [f.result() for f in futures]


def _transitions(from_status: str, to_status: str) -> Counter:
    rows = OrderEvent.objects.filter(from_status=from_status, to_status=to_status).values("order_id").annotate(n=Count("id"))
    return Counter({row["order_id"]: row["n"] for row in rows})


@pytest.fixture
def due_orders(customer):
    """Thirty held orders of one customer whose hold has ended."""
    placed = timezone.now() - timedelta(hours=1)
    orders = []
    for product in ProductFactory.create_batch(ORDERS):
        with transaction.atomic():
            result = services.order_place(
                customer_id=customer.pk, product=product, quantity=1, source=OrderSource.WEB, actor="test", hold_seconds=60, now=placed
            )
        orders.append(result.order)
    return orders


def test_two_release_sweeps_at_once_release_each_order_once(settings, due_orders):
    # given: small batches, so the two sweeps interleave many times
    settings.DASH_RELEASE_BATCH = 3
    # when
    released = _in_two_threads(services.orders_release_due)
    # then
    assert sum(released) == ORDERS
    ids = [o.pk for o in due_orders]
    assert _transitions(OrderStatus.HELD, OrderStatus.RELEASING) == Counter(dict.fromkeys(ids, 1))
    assert set(Order.objects.values_list("status", "version")) == {(OrderStatus.RELEASING, 2)}
    assert OrderEvent.objects.count() == 2 * ORDERS  # placed + released, nothing else


def test_two_submitters_at_once_send_each_order_to_the_shop_once(settings, due_orders, fake_shop):
    # given: every order released
    assert services.orders_release_due() == ORDERS
    ids = [o.pk for o in due_orders]

    def submit_all():
        return [services.order_submit(order_id=pk).retry_in for pk in ids]

    # when: two workers submit the same orders, in the same sequence, at the same time
    results = _in_two_threads(submit_all)
    # then
    assert results == [[None] * ORDERS] * 2
    assert fake_shop.posts_by_key() == Counter({str(o.public_id): 1 for o in due_orders})
    assert all(r.signed and r.status == 200 for r in fake_shop.requests)
    assert _transitions(OrderStatus.RELEASING, OrderStatus.SUBMITTED) == Counter(dict.fromkeys(ids, 1))
    assert set(Order.objects.values_list("status", "version", "submit_attempts")) == {(OrderStatus.SUBMITTED, 3, 1)}
    refs = dict(Order.objects.values_list("public_id", "commerce_ref"))
    assert {str(k): v for k, v in refs.items()} == fake_shop.accepted


def test_two_batch_submitters_at_once_submit_each_order_once(settings, due_orders):
    # given: every order released, and the simulated shop (which takes a batch in one transaction)
    settings.DASH_COMMERCE_BACKEND = "simulated"
    assert services.orders_release_due() == ORDERS
    ids = [o.pk for o in due_orders]
    halves = [ids[: ORDERS * 2 // 3], ids[ORDERS // 3 :]]  # overlapping batches, as duplicated tasks would be
    queue = iter(halves)
    lock = threading.Lock()

    def submit_next():
        with lock:
            batch = next(queue)
        return services.orders_submit(order_ids=batch)

    # when
    results = _in_two_threads(submit_next)
    # then
    assert results == [{}, {}]
    assert _transitions(OrderStatus.RELEASING, OrderStatus.SUBMITTED) == Counter(dict.fromkeys(ids, 1))
    assert set(Order.objects.values_list("status", "version", "submit_attempts")) == {(OrderStatus.SUBMITTED, 3, 1)}
