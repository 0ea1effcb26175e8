"""The order lifecycle through its services: hold, release, approve, cancel, submit, ship,
deliver, fail, retry. Every transition bumps `version` once and writes one OrderEvent."""

from datetime import timedelta

import pytest
from django.utils import timezone

from orders import tasks
from orders.errors import OrderStateError
from orders.models import Order, OrderEvent, OrderStatus
from orders.services import (
    order_apply_commerce_status,
    order_approve,
    order_cancel,
    order_cancel_by_customer,
    order_release,
    order_retry_submission,
    order_submit,
    orders_release_due,
)
from tests.factories import ProductFactory, make_order

S = OrderStatus


def _fail(order, settings):
    """Submit to an http shop with no URL: a permanent commerce error, so the order fails."""
    backend = settings.DASH_COMMERCE_BACKEND
    settings.DASH_COMMERCE_BACKEND, settings.DASH_COMMERCE_URL = "http", ""
    order_submit(order_id=order.pk)
    settings.DASH_COMMERCE_BACKEND = backend


def _drive(order, to: str, settings) -> None:
    """Move a held order to `to` through the services (the arrange step)."""
    paths = {
        S.HELD: [],
        S.RELEASING: [lambda: order_release(order_id=order.pk, actor="system")],
        S.SUBMITTED: [lambda: order_release(order_id=order.pk, actor="system"), lambda: order_submit(order_id=order.pk)],
        S.FAILED: [lambda: order_release(order_id=order.pk, actor="system"), lambda: _fail(order, settings)],
        S.CANCELLED: [lambda: order_cancel(order_id=order.pk, actor="test", reason="test")],
    }
    paths[S.SHIPPED] = [*paths[S.SUBMITTED], lambda: order_apply_commerce_status(public_id=order.public_id, status=S.SHIPPED)]
    paths[S.DELIVERED] = [*paths[S.SHIPPED], lambda: order_apply_commerce_status(public_id=order.public_id, status=S.DELIVERED)]
    if to == S.NEEDS_CONFIRMATION:  # only voice and scans lead here; arrange the row directly
        Order.objects.filter(pk=order.pk).update(status=to)
    for step in paths.get(to, []):
        step()
    order.refresh_from_db()
    assert order.status == to


def _snapshot(order) -> tuple[int, int]:
    order.refresh_from_db()
    return order.version, order.events.count()


@pytest.fixture
def order(customer, product):
    return make_order(customer=customer, product=product, device_serial="BTN-TEST")


TRANSITIONS = [
    (S.HELD, lambda o: order_release(order_id=o.pk, actor="system"), S.RELEASING, "system"),
    (S.HELD, lambda o: order_approve(customer_id=o.customer_id, public_id=o.public_id), S.RELEASING, "customer"),
    (S.NEEDS_CONFIRMATION, lambda o: order_approve(customer_id=o.customer_id, public_id=o.public_id), S.HELD, "customer"),
    (S.HELD, lambda o: order_cancel_by_customer(customer_id=o.customer_id, public_id=o.public_id), S.CANCELLED, "customer"),
    (S.NEEDS_CONFIRMATION, lambda o: order_cancel_by_customer(customer_id=o.customer_id, public_id=o.public_id), S.CANCELLED, "customer"),
    (S.RELEASING, lambda o: order_submit(order_id=o.pk), S.SUBMITTED, "commerce"),
    (S.SUBMITTED, lambda o: order_apply_commerce_status(public_id=o.public_id, status=S.SHIPPED), S.SHIPPED, "commerce"),
    (S.SUBMITTED, lambda o: order_apply_commerce_status(public_id=o.public_id, status=S.DELIVERED), S.DELIVERED, "commerce"),
    (S.SHIPPED, lambda o: order_apply_commerce_status(public_id=o.public_id, status=S.DELIVERED), S.DELIVERED, "commerce"),
    (S.SHIPPED, lambda o: order_apply_commerce_status(public_id=o.public_id, status=S.CANCELLED), S.CANCELLED, "commerce"),
    (S.FAILED, lambda o: order_retry_submission(order_id=o.pk, actor="operator:ops"), S.RELEASING, "operator:ops"),
    (S.FAILED, lambda o: order_cancel(order_id=o.pk, actor="operator:ops", reason="x", allowed=(S.FAILED,)), S.CANCELLED, "operator:ops"),
]


@pytest.mark.parametrize(("start", "action", "end", "actor"), TRANSITIONS, ids=[f"{t[0]}->{t[2]}-{i}" for i, t in enumerate(TRANSITIONS)])
@pytest.mark.django_db
def test_every_transition_bumps_version_once_and_writes_one_timeline_entry(settings, order, start, action, end, actor):
    # given
    _drive(order, start, settings)
    version, events = _snapshot(order)
    # when
    action(order)
    # then
    assert _snapshot(order) == (version + 1, events + 1)
    assert order.status == end
    last = order.events.last()
    assert (last.from_status, last.to_status, last.actor) == (start, end, actor)
    assert last.reason


@pytest.mark.django_db
def test_submission_failure_is_one_transition_to_failed(settings, order):
    _drive(order, S.RELEASING, settings)
    version, events = _snapshot(order)
    _fail(order, settings)
    assert _snapshot(order) == (version + 1, events + 1)
    assert order.status == S.FAILED
    assert order.submit_attempts == 1
    assert "DASH_COMMERCE_URL" in order.last_error
    assert (order.events.last().from_status, order.events.last().to_status) == (S.RELEASING, S.FAILED)


# --- Release -----------------------------------------------------------------------------------


@pytest.mark.django_db
def test_release_moves_held_to_releasing_and_refuses_a_second_time(order):
    released = order_release(order_id=order.pk, actor="system")
    assert released.status == S.RELEASING
    assert released.released_at is not None
    with pytest.raises(OrderStateError) as refused:
        order_release(order_id=order.pk, actor="system")
    assert refused.value.code == "not_held"
    assert _snapshot(order) == (2, 2)


@pytest.mark.parametrize("state", [S.CANCELLED, S.SUBMITTED, S.DELIVERED, S.FAILED])
@pytest.mark.django_db
def test_release_refuses_orders_that_are_not_held(settings, order, state):
    _drive(order, state, settings)
    before = _snapshot(order)
    with pytest.raises(OrderStateError):
        order_release(order_id=order.pk, actor="system")
    assert _snapshot(order) == before
    assert order.status == state


@pytest.mark.django_db
def test_release_due_releases_only_held_orders_whose_hold_ended(settings, customer, other_customer):
    # given
    past = timezone.now() - timedelta(hours=1)
    due = make_order(customer=customer, product=ProductFactory(), hold_seconds=60, now=past)
    due_now = make_order(customer=other_customer, product=ProductFactory(), hold_seconds=0)
    not_due = make_order(customer=customer, product=ProductFactory(), hold_seconds=600)
    cancelled_due = make_order(customer=customer, product=ProductFactory(), hold_seconds=0, now=past)
    order_cancel(order_id=cancelled_due.pk, actor="test", reason="test")
    releasing = make_order(customer=customer, product=ProductFactory(), hold_seconds=0, now=past)
    order_release(order_id=releasing.pk, actor="system")
    # when
    released = orders_release_due()
    # then
    assert released == 2
    statuses = dict(Order.objects.values_list("pk", "status"))
    assert statuses == {due.pk: S.RELEASING, due_now.pk: S.RELEASING, not_due.pk: S.HELD, cancelled_due.pk: S.CANCELLED, releasing.pk: S.RELEASING}
    assert OrderEvent.objects.filter(order_id__in=[due.pk, due_now.pk], to_status=S.RELEASING, actor="system").count() == 2
    assert OrderEvent.objects.filter(order=releasing, to_status=S.RELEASING).count() == 1
    assert orders_release_due() == 0


@pytest.mark.django_db
def test_release_due_works_through_every_batch(customer):
    past = timezone.now() - timedelta(minutes=5)
    orders = [make_order(customer=customer, product=ProductFactory(), hold_seconds=0, now=past) for _ in range(5)]
    assert orders_release_due(batch=2) == 5
    assert set(Order.objects.filter(pk__in=[o.pk for o in orders]).values_list("status", flat=True)) == {S.RELEASING}


@pytest.mark.django_db
def test_release_due_uses_the_given_time(customer, product):
    order = make_order(customer=customer, product=product, hold_seconds=600)
    assert orders_release_due(now=timezone.now() + timedelta(seconds=599)) == 0
    assert orders_release_due(now=timezone.now() + timedelta(seconds=601)) == 1
    order.refresh_from_db()
    assert order.status == S.RELEASING


@pytest.mark.django_db
def test_release_due_orders_task_returns_the_count(customer, product):
    make_order(customer=customer, product=product, hold_seconds=0)
    assert tasks.release_due_orders() == 1
    assert tasks.release_due_orders() == 0


@pytest.mark.django_db
def test_release_order_task_ignores_an_order_already_gone(customer, product):
    order = make_order(customer=customer, product=product, hold_seconds=0)
    order_cancel_by_customer(customer_id=customer.pk, public_id=order.public_id)
    tasks.release_order(order.pk)
    assert _snapshot(order) == (2, 2)
    assert order.status == S.CANCELLED


# --- Approve and cancel -----------------------------------------------------------------------


@pytest.mark.django_db
def test_approve_releases_a_held_order_at_once(order):
    approved = order_approve(customer_id=order.customer_id, public_id=order.public_id)
    assert approved.status == S.RELEASING
    assert approved.released_at is not None
    assert order.events.last().reason == "approved by customer"


@pytest.mark.django_db
def test_confirming_an_order_that_needs_confirmation_holds_it_until_now(settings, order):
    _drive(order, S.NEEDS_CONFIRMATION, settings)
    before = timezone.now()
    confirmed = order_approve(customer_id=order.customer_id, public_id=order.public_id)
    assert confirmed.status == S.HELD
    assert before <= confirmed.hold_until <= timezone.now()
    assert orders_release_due() == 1


@pytest.mark.parametrize("state", [S.RELEASING, S.SUBMITTED, S.CANCELLED])
@pytest.mark.django_db
def test_approve_refuses_orders_past_the_hold(settings, order, state):
    _drive(order, state, settings)
    before = _snapshot(order)
    with pytest.raises(OrderStateError) as refused:
        order_approve(customer_id=order.customer_id, public_id=order.public_id)
    assert refused.value.code == "not_held"
    assert _snapshot(order) == before


@pytest.mark.parametrize("state", [S.RELEASING, S.SUBMITTED, S.SHIPPED, S.DELIVERED, S.FAILED, S.CANCELLED])
@pytest.mark.django_db
def test_customer_cannot_cancel_once_the_order_left_the_hold(settings, order, state):
    _drive(order, state, settings)
    before = _snapshot(order)
    with pytest.raises(OrderStateError) as refused:
        order_cancel_by_customer(customer_id=order.customer_id, public_id=order.public_id)
    assert refused.value.code == "not_cancellable"
    assert _snapshot(order) == before
    assert order.status == state


@pytest.mark.parametrize("service", [order_approve, order_cancel_by_customer])
@pytest.mark.django_db
def test_customer_services_do_not_find_another_customers_order(order, other_customer, service):
    with pytest.raises(Order.DoesNotExist):
        service(customer_id=other_customer.pk, public_id=order.public_id)
    assert _snapshot(order) == (1, 1)
    assert order.status == S.HELD


# --- Submission and the simulated shop ------------------------------------------------------


@pytest.mark.django_db
def test_submit_with_the_simulated_shop_submits_once(settings, order):
    settings.DASH_COMMERCE_BACKEND = "simulated"
    _drive(order, S.RELEASING, settings)
    # when
    first = order_submit(order_id=order.pk)
    after_first = _snapshot(order)
    second = order_submit(order_id=order.pk)
    # then
    assert first.retry_in is None and second.retry_in is None
    assert order.status == S.SUBMITTED
    assert order.commerce_ref == f"SIM-{order.public_id.hex[:12].upper()}"
    assert order.submit_attempts == 1
    assert order.submitted_at is not None
    assert after_first == (3, 3)
    assert _snapshot(order) == after_first
    assert order.events.last().actor == "commerce"


@pytest.mark.django_db
def test_submit_does_nothing_for_a_held_order(order):
    result = order_submit(order_id=order.pk)
    assert result.retry_in is None
    assert _snapshot(order) == (1, 1)
    assert (order.status, order.submit_attempts, order.commerce_ref) == (S.HELD, 0, "")


@pytest.mark.django_db
def test_submit_order_task_submits_a_releasing_order(settings, order):
    _drive(order, S.RELEASING, settings)
    tasks.submit_order(order.pk)
    tasks.submit_order(order.pk)
    order.refresh_from_db()
    assert order.status == S.SUBMITTED
    assert order.events.filter(to_status=S.SUBMITTED).count() == 1


@pytest.mark.django_db
def test_simulated_shop_ships_then_delivers_then_a_press_orders_again(settings, customer, product, button, press):
    # given
    settings.DASH_SIM_SHIP_SECONDS = 0
    settings.DASH_SIM_DELIVER_SECONDS = 0
    first = press(button, "evt-1")
    order = Order.objects.get()
    order_approve(customer_id=customer.pk, public_id=order.public_id)
    order_submit(order_id=order.pk)
    # when / then
    tasks.advance_simulated_commerce()
    order.refresh_from_db()
    assert order.status == S.SHIPPED
    assert order.shipped_at is not None
    assert press(button, "evt-2").json()["outcome"] == "order_in_progress"
    tasks.advance_simulated_commerce()
    order.refresh_from_db()
    assert order.status == S.DELIVERED
    assert order.delivered_at is not None
    assert list(order.events.values_list("to_status", flat=True)) == [S.HELD, S.RELEASING, S.SUBMITTED, S.SHIPPED, S.DELIVERED]
    again = press(button, "evt-3")
    assert again.status_code == 201
    assert again.json()["order"]["id"] != first.json()["order"]["id"]


@pytest.mark.django_db
def test_simulated_shop_waits_for_its_delays(settings, order):
    settings.DASH_SIM_SHIP_SECONDS = 3600
    _drive(order, S.SUBMITTED, settings)
    tasks.advance_simulated_commerce()
    assert _snapshot(order) == (3, 3)
    assert order.status == S.SUBMITTED


@pytest.mark.django_db
def test_simulated_progress_is_off_with_another_backend(settings, order):
    _drive(order, S.SUBMITTED, settings)
    settings.DASH_COMMERCE_BACKEND = "http"
    settings.DASH_SIM_SHIP_SECONDS = 0
    tasks.advance_simulated_commerce()
    order.refresh_from_db()
    assert order.status == S.SUBMITTED


@pytest.mark.parametrize(
    ("state", "reported"),
    [
        (S.SHIPPED, S.SHIPPED),
        (S.DELIVERED, S.DELIVERED),
        (S.DELIVERED, S.SHIPPED),
        (S.DELIVERED, S.CANCELLED),
        (S.CANCELLED, S.SHIPPED),
        (S.FAILED, S.DELIVERED),
    ],
)
@pytest.mark.django_db
def test_commerce_status_that_is_repeated_or_stale_changes_nothing(settings, order, state, reported):
    _drive(order, state, settings)
    before = Order.objects.values().get(pk=order.pk)
    events = order.events.count()
    result = order_apply_commerce_status(public_id=order.public_id, status=reported)
    assert result.status == state
    assert Order.objects.values().get(pk=order.pk) == before
    assert order.events.count() == events


@pytest.mark.parametrize(("state", "reported"), [(S.HELD, S.SHIPPED), (S.HELD, S.DELIVERED), (S.RELEASING, S.SHIPPED)])
@pytest.mark.django_db
def test_commerce_status_for_an_order_not_yet_submitted_is_refused_and_changes_nothing(settings, order, state, reported):
    _drive(order, state, settings)
    before = Order.objects.values().get(pk=order.pk)
    events = order.events.count()
    with pytest.raises(OrderStateError) as refused:
        order_apply_commerce_status(public_id=order.public_id, status=reported)
    assert refused.value.code == "not_submitted"
    assert Order.objects.values().get(pk=order.pk) == before
    assert order.events.count() == events


@pytest.mark.django_db
def test_unknown_commerce_status_is_refused(settings, order):
    _drive(order, S.SUBMITTED, settings)
    with pytest.raises(OrderStateError) as refused:
        order_apply_commerce_status(public_id=order.public_id, status="lost_at_sea")
    assert refused.value.code == "bad_status"
    assert _snapshot(order) == (3, 3)


@pytest.mark.django_db
def test_delivered_straight_from_submitted_sets_shipped_at_too(settings, order):
    _drive(order, S.SUBMITTED, settings)
    delivered = order_apply_commerce_status(public_id=order.public_id, status=S.DELIVERED)
    assert delivered.delivered_at is not None
    assert delivered.shipped_at == delivered.delivered_at


# --- Failure and retry -------------------------------------------------------------------------


@pytest.mark.django_db
def test_retry_gives_a_failed_order_a_fresh_budget_and_it_submits(settings, order):
    _drive(order, S.FAILED, settings)
    retried = order_retry_submission(order_id=order.pk, actor="operator:ops")
    assert (retried.status, retried.submit_attempts, retried.last_error) == (S.RELEASING, 0, "")
    order_submit(order_id=order.pk)
    order.refresh_from_db()
    assert order.status == S.SUBMITTED


@pytest.mark.parametrize("state", [S.HELD, S.RELEASING, S.SUBMITTED, S.DELIVERED, S.CANCELLED])
@pytest.mark.django_db
def test_retry_is_only_for_failed_orders(settings, order, state):
    _drive(order, state, settings)
    before = _snapshot(order)
    with pytest.raises(OrderStateError) as refused:
        order_retry_submission(order_id=order.pk, actor="operator:ops")
    assert refused.value.code == "not_failed"
    assert _snapshot(order) == before


@pytest.mark.django_db
def test_transient_commerce_error_keeps_the_order_releasing_with_backoff(settings, order):
    # given: a shop that refuses connections (nothing listens on port 9 of localhost)
    _drive(order, S.RELEASING, settings)
    settings.DASH_COMMERCE_BACKEND, settings.DASH_COMMERCE_URL, settings.DASH_COMMERCE_TIMEOUT = "http", "http://127.0.0.1:9/orders", 2.0
    settings.DASH_COMMERCE_BACKOFF_SECONDS, settings.DASH_COMMERCE_MAX_ATTEMPTS = 2.0, 3
    # when / then
    assert order_submit(order_id=order.pk).retry_in == 2.0
    assert order_submit(order_id=order.pk).retry_in == 4.0
    order.refresh_from_db()
    assert (order.status, order.submit_attempts, order.version) == (S.RELEASING, 2, 2)
    assert order.last_error.startswith("shop unreachable")
    assert order_submit(order_id=order.pk).retry_in is None
    order.refresh_from_db()
    assert (order.status, order.submit_attempts, order.version) == (S.FAILED, 3, 3)


# --- Stalled releases ------------------------------------------------------------------------


@pytest.mark.django_db
def test_resubmit_stalled_orders_requeues_only_old_releasing_orders(settings, customer):
    stalled = make_order(customer=customer, product=ProductFactory())
    fresh = make_order(customer=customer, product=ProductFactory())
    old_held = make_order(customer=customer, product=ProductFactory())
    for o in (stalled, fresh):
        order_release(order_id=o.pk, actor="system")
    an_hour_ago = timezone.now() - timedelta(hours=1)
    Order.objects.filter(pk__in=[stalled.pk, old_held.pk]).update(updated_at=an_hour_ago)
    assert tasks.resubmit_stalled_orders() == 1
    # re-queuing changes no state: the submit task does that
    assert Order.objects.get(pk=stalled.pk).status == S.RELEASING


@pytest.mark.django_db
def test_every_transition_logs_the_order_id_and_the_device_serial(order, caplog):
    caplog.set_level("INFO", logger="orders.services")
    # one by one (the customer approves) and in a batch (the release sweep)
    order_release(order_id=order.pk, actor="customer")
    Order.objects.filter(pk=order.pk).update(status=S.HELD, hold_until=timezone.now() - timedelta(seconds=1))
    orders_release_due()

    lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith("order_transition")]
    assert lines == [f"order_transition order={order.public_id} device=BTN-TEST from=held to=releasing actor={actor}" for actor in ("customer", "system")]
