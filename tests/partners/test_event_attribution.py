"""The intake records on each event the customer and product the analytics count it for, the
same ones the event's order, device and the catalog give; the rollup reads them from there."""

import importlib
from datetime import timedelta
from types import SimpleNamespace

import pytest
from django.db import connection
from django.utils import timezone
from stdnum import ean

from devices.models import ApplianceSlot, Device, DeviceEvent
from partners.analytics.rollup import analytics_rollup_run
from partners.models import Product, RollupWatermark
from tests.factories import ProductFactory, make_appliance, make_button, make_wand
from tests.partners.recount import attributed, clear_bit_sets, recount, rolled_up

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def _no_bit_sets_left(transactional_db):
    clear_bit_sets()


@pytest.fixture
def send(client):
    def _send(device, event_id: str, type_: str = "press", **fields):
        body = {"event_id": event_id, "type": type_, **fields}
        return client.post("/api/v1/device/events", body, content_type="application/json", HTTP_AUTHORIZATION=f"Device {device.token}")

    return _send


def _every_kind(customer, send):
    """Send one event of every outcome that counts (and one that does not) through the intake."""
    pressed, paused_for, scanned, washed = (ProductFactory() for _ in range(4))
    button = make_button(customer=customer, product=pressed)
    paused_button = make_button(customer=customer, product=paused_for, paused=True)
    unbound = make_button(customer=customer)
    unclaimed = make_button(product=pressed)
    wand = make_wand(customer=customer)
    washer = make_appliance(customer=customer)
    ApplianceSlot.objects.create(
        device=washer, name="detergent", product=washed, quantity=1, capacity=1000, reorder_threshold=100, auto_reorder=True
    )
    unknown = "590123412345" + ean.calc_check_digit("590123412345")

    outcomes = [
        send(button, "b-1").json()["outcome"],
        send(button, "b-2").json()["outcome"],
        send(paused_button, "pb-1").json()["outcome"],
        send(unbound, "u-1").json()["outcome"],
        send(unclaimed, "c-1").json()["outcome"],
        send(wand, "w-1", "scan", gtin=scanned.gtin).json()["outcome"],
        send(wand, "w-2", "scan", gtin=scanned.gtin).json()["outcome"],
        send(wand, "w-3", "scan", gtin=unknown).json()["outcome"],
        send(washer, "a-1", "slot_status", slot="detergent", remaining=50).json()["outcome"],
    ]
    Device.objects.filter(pk=wand.pk).update(paused=True)
    outcomes.append(send(wand, "w-4", "scan", gtin=paused_for.gtin).json()["outcome"])
    return outcomes, (pressed, paused_for, scanned, washed)


def test_every_kind_of_event_records_the_customer_and_product_its_order_device_or_gtin_name(customer, send):
    outcomes, (pressed, paused_for, scanned, washed) = _every_kind(customer, send)

    assert outcomes == [
        "order_placed",
        "order_in_progress",
        "device_paused",
        "unknown_product",
        "device_unclaimed",
        "order_placed",
        "order_in_progress",
        "unknown_product",
        "order_placed",
        "device_paused",
    ]
    by_gtin = dict(Product.objects.values_list("gtin", "pk"))
    events = list(DeviceEvent.objects.select_related("device", "order").order_by("pk"))
    counted = [e for e in events if e.outcome != "device_unclaimed"]  # an unclaimed device's press counts for no one
    recorded = [(e.event_id, e.customer_id, e.product_id) for e in counted]
    assert recorded == [(e.event_id, *attributed(e, by_gtin)) for e in counted]
    # and those are the customer and products themselves (not all None, say)
    named = {e.event_id: e.product_id for e in events}
    assert (named["b-2"], named["pb-1"], named["u-1"], named["w-2"], named["w-3"], named["a-1"], named["w-4"]) == (
        pressed.pk,
        paused_for.pk,
        None,
        scanned.pk,
        None,
        washed.pk,
        paused_for.pk,
    )
    assert {e.event_id for e in events if e.customer_id == customer.pk} == {e.event_id for e in events} - {"c-1"}

    analytics_rollup_run(now=timezone.now() + timedelta(minutes=1))
    assert rolled_up() == recount()


def test_a_device_claimed_by_someone_else_later_leaves_its_earlier_events_with_their_customer(customer, other_customer, send):
    button = make_button(customer=customer, product=ProductFactory(), paused=True)
    assert send(button, "before").json()["outcome"] == "device_paused"
    Device.objects.filter(pk=button.pk).update(customer=other_customer)
    assert send(button, "after").json()["outcome"] == "device_paused"

    owners = dict(DeviceEvent.objects.values_list("event_id", "customer_id"))
    assert owners == {"before": customer.pk, "after": other_customer.pk}


def test_the_migration_fills_in_the_events_the_rollup_has_not_read(customer, send):
    _every_kind(customer, send)
    events = list(DeviceEvent.objects.select_related("device", "order").order_by("pk"))
    DeviceEvent.objects.update(customer=None, product=None)  # as written before the columns
    # the shards have read up to the second and the fourth event: the lowest is what counts
    RollupWatermark.objects.create(feed="device_events", last_id=events[3].pk)
    RollupWatermark.objects.create(feed="device_events:1", last_id=events[1].pk)

    backfill = importlib.import_module("devices.migrations.0007_event_log_customer_and_product_backfill")
    backfill.forwards(None, SimpleNamespace(connection=connection))

    by_gtin = dict(Product.objects.values_list("gtin", "pk"))
    expected = [(e.event_id, None, None) if e.pk <= events[1].pk else (e.event_id, *attributed(e, by_gtin)) for e in events]
    got = list(DeviceEvent.objects.order_by("pk").values_list("event_id", "customer_id", "product_id"))
    assert got == expected
    assert sum(1 for _, c, _ in got if c is not None) == len(events) - 3  # two read, one unclaimed
