from datetime import timedelta

import pytest
from django.utils import timezone

from devices.models import DeviceEvent
from devices.services import device_events_prune
from devices.tasks import prune_device_events
from orders.models import Order
from partners.analytics.rollup import analytics_rollup_run


def _age(event_ids: list[str], hours: float) -> None:
    DeviceEvent.objects.filter(event_id__in=event_ids).update(received_at=timezone.now() - timedelta(hours=hours))


@pytest.fixture
def events(button, press):
    for i in range(6):
        press(button, f"evt-{i}")
    assert DeviceEvent.objects.count() == 6
    # The prune deletes only what the analytics rollups have consumed.
    analytics_rollup_run(now=timezone.now() + timedelta(minutes=1))


@pytest.mark.parametrize(("retention", "expected_kept"), [(24, {"evt-3", "evt-4", "evt-5"}), (2, {"evt-5"}), (48, {"evt-2", "evt-3", "evt-4", "evt-5"})])
@pytest.mark.django_db
def test_prune_deletes_events_older_than_the_retention_window(settings, events, retention, expected_kept):
    # given
    settings.DASH_EVENT_RETENTION_HOURS = retention
    _age(["evt-0", "evt-1"], hours=72)
    _age(["evt-2"], hours=25)
    _age(["evt-3", "evt-4"], hours=23)
    # when
    deleted = device_events_prune()
    # then
    assert deleted == 6 - len(expected_kept)
    assert set(DeviceEvent.objects.values_list("event_id", flat=True)) == expected_kept


@pytest.mark.django_db
def test_prune_works_through_every_batch(settings, events):
    settings.DASH_EVENT_RETENTION_HOURS = 24
    _age([f"evt-{i}" for i in range(5)], hours=30)
    assert device_events_prune(batch=2) == 5
    assert list(DeviceEvent.objects.values_list("event_id", flat=True)) == ["evt-5"]


@pytest.mark.django_db
def test_prune_keeps_the_orders_the_events_touched(settings, events):
    settings.DASH_EVENT_RETENTION_HOURS = 24
    _age([f"evt-{i}" for i in range(6)], hours=30)
    assert device_events_prune() == 6
    assert Order.objects.count() == 1
    assert Order.objects.get().events.count() == 1


@pytest.mark.django_db
def test_prune_uses_the_given_time(settings, events):
    settings.DASH_EVENT_RETENTION_HOURS = 24
    assert device_events_prune() == 0
    assert device_events_prune(now=timezone.now() + timedelta(hours=25)) == 6


@pytest.mark.django_db
def test_pruned_event_id_can_be_used_again(settings, events, button, press):
    settings.DASH_EVENT_RETENTION_HOURS = 24
    _age(["evt-0"], hours=30)
    device_events_prune()
    response = press(button, "evt-0", occurred_at="2026-11-26T09:30:00Z")
    assert response.status_code == 200
    assert not response.has_header("Idempotent-Replayed")


@pytest.mark.django_db
def test_prune_task_returns_the_count(settings, events):
    settings.DASH_EVENT_RETENTION_HOURS = 24
    _age(["evt-0", "evt-1"], hours=30)
    assert prune_device_events() == 2
    assert DeviceEvent.objects.count() == 4


@pytest.mark.django_db
def test_prune_stops_at_an_event_that_is_not_old_yet(settings, events):
    # given: evt-1 committed late, with a newer time than the events after it
    settings.DASH_EVENT_RETENTION_HOURS = 24
    _age(["evt-0", "evt-2", "evt-3"], hours=30)
    # when
    deleted = device_events_prune()
    # then: oldest first, and nothing past the first young one until a later run
    assert deleted == 1
    assert set(DeviceEvent.objects.values_list("event_id", flat=True)) == {"evt-1", "evt-2", "evt-3", "evt-4", "evt-5"}
    _age(["evt-1"], hours=30)
    assert device_events_prune() == 3
