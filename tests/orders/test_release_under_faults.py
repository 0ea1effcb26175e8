"""Invariant 3 (released once) with real Celery workers that die mid-task, on PostgreSQL and
Redis, against a fake shop over HTTP."""

import re
import time
from datetime import timedelta

import pytest
from django.db import connection, transaction
from django.utils import timezone

from orders import services, tasks
from orders.models import Order, OrderEvent, OrderSource, OrderStatus
from tests.factories import ProductFactory

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(120)]


def _wait_until(predicate, *, timeout: float = 30.0, what: str = "condition", worker=None):
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            log = f"\nworker log:\n{worker.log()[-6000:]}" if worker else ""
            raise AssertionError(f"timed out after {timeout}s waiting for {what}{log}")
        time.sleep(0.05)


def _held_order(customer, product, *, due: bool = False) -> Order:
    now = timezone.now() - timedelta(hours=1) if due else timezone.now()
    with transaction.atomic():
        result = services.order_place(customer_id=customer.pk, product=product, quantity=1, source=OrderSource.WEB, actor="test", hold_seconds=60, now=now)
    return result.order


def _releasing_order(customer, product) -> Order:
    """held -> releasing; the release queues one submit_order task on the broker."""
    order = _held_order(customer, product)
    return services.order_release(order_id=order.pk, actor="test")


def _session_state(worker) -> list[str]:
    """The worker's database sessions, as PostgreSQL sees them."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT state FROM pg_stat_activity WHERE application_name = %s", [worker.application_name])
        return [row[0] for row in cursor.fetchall()]


def _status(order_id: int) -> str:
    return Order.objects.values_list("status", flat=True).get(pk=order_id)


def _events(order, from_status: str, to_status: str) -> int:
    return OrderEvent.objects.filter(order=order, from_status=from_status, to_status=to_status).count()


def test_a_worker_killed_mid_submission_rolls_back_and_the_order_is_submitted_once(customer, product, fake_shop, celery_worker_process):
    # given: the shop takes the order but never answers, so the worker sits in order_submit holding the row lock
    fake_shop.hang_next()
    order = _releasing_order(customer, product)
    worker = celery_worker_process()
    fake_shop.wait_for_requests(1)
    assert _session_state(worker) == ["idle in transaction"]
    # when
    worker.kill()
    # then: the worker's transaction died with it
    order.refresh_from_db()
    assert order.status == OrderStatus.RELEASING
    assert order.submit_attempts == 0
    assert order.commerce_ref == ""
    assert order.version == 2
    assert _events(order, OrderStatus.RELEASING, OrderStatus.SUBMITTED) == 0
    # and the shop has the order, though nobody heard its answer
    assert fake_shop.accepted == {str(order.public_id): "SHOP-0001"}

    # when: the lost task is recovered by the stalled-order sweep, on a fresh worker
    fake_shop.unhang.set()
    Order.objects.filter(pk=order.pk).update(updated_at=timezone.now() - timedelta(hours=1))
    worker = celery_worker_process()
    assert tasks.resubmit_stalled_orders() == 1
    _wait_until(lambda: _status(order.pk) == OrderStatus.SUBMITTED, what="the order to be submitted", worker=worker)
    # then: one submission, under one idempotency key, accepted once by the shop
    order.refresh_from_db()
    assert order.commerce_ref == "SHOP-0001"
    assert order.submit_attempts == 1
    assert order.version == 3
    assert _events(order, OrderStatus.RELEASING, OrderStatus.SUBMITTED) == 1
    assert fake_shop.posts_by_key() == {str(order.public_id): 2}
    assert all(r.signed for r in fake_shop.requests)
    assert fake_shop.accepted == {str(order.public_id): "SHOP-0001"}


def test_a_submit_task_delivered_three_times_submits_once(customer, product, fake_shop, celery_worker_process):
    # given: the release queued one task; the broker hands out two more copies
    order = _releasing_order(customer, product)
    tasks.submit_order.delay(order.pk)
    tasks.submit_order.delay(order.pk)
    # when
    worker = celery_worker_process()
    _wait_until(lambda: worker.log().count("orders.tasks.submit_order[") >= 6, what="three submit tasks to finish", worker=worker)
    # then
    assert len(re.findall(r"orders\.tasks\.submit_order\[[^\]]+\] succeeded in ", worker.log())) == 3, worker.log()
    order.refresh_from_db()
    assert order.status == OrderStatus.SUBMITTED
    assert order.submit_attempts == 1
    assert _events(order, OrderStatus.RELEASING, OrderStatus.SUBMITTED) == 1
    assert fake_shop.posts_by_key() == {str(order.public_id): 1}


def test_a_worker_killed_inside_the_release_sweep_leaves_no_order_half_released(customer, settings, fake_shop, celery_worker_process):
    # given: twelve held orders that are due
    settings.DASH_RELEASE_BATCH = 5
    orders = [_held_order(customer, p, due=True) for p in ProductFactory.create_batch(12)]
    worker = celery_worker_process()
    # when: the sweep runs with the timeline table locked, so the worker stops after changing an
    # order row but before writing its OrderEvent; then it is killed there
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("LOCK TABLE orders_orderevent IN SHARE MODE")
        tasks.release_due_orders.delay()

        def worker_waits_on_the_lock() -> bool:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_stat_clear_snapshot()")  # activity is snapshotted once per transaction
                cursor.execute(
                    "SELECT count(*) FROM pg_stat_activity WHERE application_name = %s AND wait_event_type = 'Lock' AND query LIKE %s",
                    [worker.application_name, "%orders_orderevent%"],
                )
                return cursor.fetchone()[0] == 1

        _wait_until(worker_waits_on_the_lock, what="the sweep to block on the timeline", worker=worker)
        worker.kill(wait_for_db=False)
    worker.wait_disconnected()
    # then: not one order changed; nothing is half-written
    assert Order.objects.filter(status=OrderStatus.HELD, version=1, released_at__isnull=True).count() == 12
    assert OrderEvent.objects.filter(to_status=OrderStatus.RELEASING).count() == 0
    # when: the next sweep runs
    assert services.orders_release_due() == 12
    # then: each order is released once
    for order in orders:
        order.refresh_from_db()
        assert (order.status, order.version) == (OrderStatus.RELEASING, 2)
        assert _events(order, OrderStatus.HELD, OrderStatus.RELEASING) == 1
