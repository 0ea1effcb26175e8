"""Silent devices and low batteries: the customer is told once per episode (the beat sweep)."""

from datetime import timedelta

import pytest
from django.core import mail
from django.utils import timezone

from devices.health import devices_check_health
from devices.models import Device
from devices.tasks import check_device_health
from orders.services import customer_settings_update
from tests.factories import make_appliance, make_button


@pytest.fixture
def intervals(settings):
    settings.DASH_SILENT_AFTER_HOURS = {"button": 72.0, "appliance": 12.0}
    settings.DASH_BATTERY_LOW_PERCENT = 15


def _seen(device: Device, ago: timedelta, battery: int | None = None) -> None:
    Device.objects.filter(pk=device.pk).update(
        last_seen_at=timezone.now() - ago, claimed_at=timezone.now() - timedelta(days=30), battery_percent=battery
    )


def _heartbeat(client, device, body):
    return client.post("/api/v1/device/heartbeat", body, content_type="application/json", HTTP_AUTHORIZATION=f"Device {device.token}")


@pytest.mark.django_db(transaction=True)
def test_a_silent_appliance_is_reported_once_per_episode(customer, client, intervals, eager_tasks):
    washer = make_appliance(customer=customer, name="Washer")
    _seen(washer, timedelta(hours=13))
    # when: the sweep runs three times
    first = devices_check_health()
    devices_check_health()
    check_device_health()  # the beat task
    # then: one mail
    assert first.silent == 1
    assert len(mail.outbox) == 1
    assert mail.outbox[0].subject == "Dash: Washer has gone quiet" and mail.outbox[0].to == [customer.email]
    assert Device.objects.get(pk=washer.pk).silence_notified_at is not None
    # when: it is heard from again (a heartbeat), then goes silent again
    assert _heartbeat(client, washer, {"battery": 80}).status_code == 200
    assert devices_check_health().ended == 1
    assert Device.objects.get(pk=washer.pk).silence_notified_at is None
    _seen(washer, timedelta(hours=20), battery=80)
    devices_check_health()
    # then: a second episode, a second mail
    assert len(mail.outbox) == 2


@pytest.mark.django_db(transaction=True)
def test_each_kind_has_its_own_expected_interval(customer, product, intervals, eager_tasks):
    washer = make_appliance(customer=customer)
    button = make_button(customer=customer, product=product)
    _seen(washer, timedelta(hours=13))
    _seen(button, timedelta(hours=13))
    assert devices_check_health().silent == 1
    assert Device.objects.get(pk=button.pk).silence_notified_at is None
    _seen(button, timedelta(hours=73))
    assert devices_check_health().silent == 1
    assert len(mail.outbox) == 2


@pytest.mark.django_db(transaction=True)
def test_unclaimed_paused_and_recently_seen_devices_are_not_reported(customer, intervals, eager_tasks):
    unclaimed = make_appliance()
    paused = make_appliance(customer=customer, paused=True)
    fresh = make_appliance(customer=customer)
    _seen(unclaimed, timedelta(days=9))
    _seen(paused, timedelta(days=9))
    _seen(fresh, timedelta(hours=11))
    assert devices_check_health().silent == 0
    assert mail.outbox == []


@pytest.mark.django_db(transaction=True)
def test_a_device_never_seen_is_silent_from_its_claim(customer, intervals, eager_tasks):
    washer = make_appliance(customer=customer)
    Device.objects.filter(pk=washer.pk).update(claimed_at=timezone.now() - timedelta(hours=13))
    assert devices_check_health().silent == 1


@pytest.mark.django_db(transaction=True)
def test_a_low_battery_is_reported_once_until_it_is_replaced(customer, client, intervals, eager_tasks):
    washer = make_appliance(customer=customer, name="Washer")
    # when: low, then a point or two up and down around the mark
    for battery in (14, 16, 13):
        assert _heartbeat(client, washer, {"battery": battery}).status_code == 200
        devices_check_health()
    # then: one mail
    assert [m.subject for m in mail.outbox] == ["Dash: Washer: battery low"]
    assert "14%" in mail.outbox[0].body
    # when: a new battery, then it runs down again
    _heartbeat(client, washer, {"battery": 100})
    assert devices_check_health().ended == 1
    _heartbeat(client, washer, {"battery": 9})
    devices_check_health()
    assert len(mail.outbox) == 2


@pytest.mark.django_db(transaction=True)
def test_notices_honour_the_customers_setting(customer, intervals, eager_tasks):
    customer_settings_update(customer_id=customer.pk, email_notices=False)
    washer = make_appliance(customer=customer)
    _seen(washer, timedelta(hours=13), battery=5)
    sweep = devices_check_health()
    assert (sweep.silent, sweep.battery_low) == (1, 1)
    assert mail.outbox == []
    assert devices_check_health() == type(sweep)(silent=0, battery_low=0, ended=0)  # the episode is still on


@pytest.mark.django_db(transaction=True)
def test_an_unlinked_device_ends_its_episodes(customer, intervals, eager_tasks):
    from devices.services import device_unlink

    washer = make_appliance(customer=customer)
    _seen(washer, timedelta(hours=13), battery=5)
    devices_check_health()
    device_unlink(customer_id=customer.pk, serial=washer.serial)
    assert devices_check_health().ended == 2
    fresh = Device.objects.get(pk=washer.pk)
    assert fresh.silence_notified_at is None and fresh.battery_notified_at is None


@pytest.mark.django_db
def test_the_devices_page_shows_last_seen_and_battery(client, customer):
    washer = make_appliance(customer=customer)
    Device.objects.filter(pk=washer.pk).update(
        last_seen_at=timezone.now().replace(year=2026, month=3, day=4, hour=10, minute=30), battery_percent=42
    )
    client.force_login(customer)
    html = client.get("/devices/").content.decode()
    assert '<dt>Last seen</dt><dd><time datetime="2026-03-04T10:30' in html and "Mar 4, 10:30</time>" in html
    assert "<dt>Battery</dt><dd>42%</dd>" in html
