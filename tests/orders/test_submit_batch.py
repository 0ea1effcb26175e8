"""`orders_submit`: a released batch to the shop — in one transaction for the simulated shop,
order by order for a shop over HTTP."""

from collections import Counter

import pytest
from django.db.models import Count

from orders import services
from orders.commerce import CommerceError
from orders.commerce.simulated import SimulatedBackend
from orders.models import Order, OrderEvent, OrderStatus
from tests.factories import ProductFactory, make_order

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def released(customer):
    orders = [make_order(customer=customer, product=p) for p in ProductFactory.create_batch(5)]
    for order in orders:
        services.order_release(order_id=order.pk, actor="test")
    return orders


def test_a_batch_is_submitted_with_one_timeline_entry_each(settings, released):
    settings.DASH_COMMERCE_BACKEND = "simulated"
    # when
    retries = services.orders_submit(order_ids=[o.pk for o in released])
    # then
    assert retries == {}
    rows = Order.objects.values_list("public_id", "status", "version", "submit_attempts", "commerce_ref", "last_error")
    assert sorted(rows) == sorted((o.public_id, "submitted", 3, 1, f"SIM-{o.public_id.hex[:12].upper()}", "") for o in released)
    assert all(o.submitted_at is not None for o in Order.objects.all())
    entries = OrderEvent.objects.filter(to_status="submitted")
    assert Counter(entries.values_list("order_id", flat=True)) == Counter({o.pk: 1 for o in released})
    assert {(e.actor, e.from_status) for e in entries} == {("commerce", "releasing")}


def test_a_batch_leaves_orders_that_are_not_releasing_alone(settings, customer, released):
    # given: one held order and one already submitted
    settings.DASH_COMMERCE_BACKEND = "simulated"
    held = make_order(customer=customer, product=ProductFactory())
    services.order_submit(order_id=released[0].pk)
    # when
    services.orders_submit(order_ids=[held.pk, *[o.pk for o in released]])
    # then
    assert Order.objects.get(pk=held.pk).status == OrderStatus.HELD
    assert OrderEvent.objects.filter(order_id=released[0].pk, to_status="submitted").count() == 1
    assert Order.objects.filter(status="submitted").count() == 5


def test_a_refused_order_in_a_batch_takes_the_retry_path_and_the_rest_are_submitted(settings, released, monkeypatch):
    # given: the shop refuses one order (a temporary error)
    settings.DASH_COMMERCE_BACKEND = "simulated"
    settings.DASH_COMMERCE_BACKOFF_SECONDS = 2.0
    refused = released[2]
    accept = SimulatedBackend.submit

    def submit(self, order):
        if order.pk == refused.pk:
            raise CommerceError("shop busy")
        return accept(self, order)

    monkeypatch.setattr(SimulatedBackend, "submit", submit)
    # when
    retries = services.orders_submit(order_ids=[o.pk for o in released])
    # then
    assert retries == {refused.pk: 2.0}
    statuses = dict(Order.objects.values_list("pk", "status"))
    assert statuses.pop(refused.pk) == "releasing"
    assert set(statuses.values()) == {"submitted"}
    order = Order.objects.get(pk=refused.pk)
    assert (order.submit_attempts, order.last_error) == (1, "shop busy")


def test_a_shop_over_http_gets_one_request_per_order(settings, released, fake_shop):
    # the fake_shop fixture points DASH_COMMERCE_BACKEND at a local HTTP shop
    retries = services.orders_submit(order_ids=[o.pk for o in released])
    assert retries == {}
    assert fake_shop.posts_by_key() == Counter({str(o.public_id): 1 for o in released})
    per_order = OrderEvent.objects.filter(to_status="submitted").values("order_id").annotate(n=Count("id"))
    assert {row["n"] for row in per_order} == {1} and len(per_order) == 5
