from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
from django.db.models import Q
from django.utils import timezone

from devices.demo_history import history_generate
from devices.models import DeviceEvent
from devices.services import device_events_prune
from orders.models import OrderEvent
from partners.analytics.rollup import analytics_rollup_run
from partners.analytics.selectors import rollup_watermark
from partners.models import CustomerTimeZone, ProductDayStat, RollupWatermark
from tests.factories import PartnerFactory, ProductFactory, UserFactory
from tests.partners.recount import clear_bit_sets, recount, rolled_up

LATER = timedelta(minutes=1)


@pytest.fixture
def shoppers(db):
    partner = PartnerFactory()
    products = [ProductFactory(partner=partner) for _ in range(4)]
    customers = [UserFactory() for _ in range(12)]
    # Two shoppers live elsewhere: their weekday x hour figures are in their own time.
    CustomerTimeZone.objects.create(user=customers[0], time_zone="America/New_York")
    CustomerTimeZone.objects.create(user=customers[1], time_zone="Asia/Tokyo")
    return customers, products


def _generate(customers, products, *, end, days, seed):
    return history_generate(customers=customers, products=products, end=end, days=days, seed=seed, serial_prefix=f"T{seed}")


def test_rollups_equal_a_brute_force_recount(shoppers):
    customers, products = shoppers
    size = _generate(customers, products, end=timezone.now(), days=21, seed=1)
    assert size.events > 100 and size.order_events > 100

    report = analytics_rollup_run(now=timezone.now() + LATER)

    assert report.facts > 0
    assert rolled_up() == recount()


@pytest.mark.parametrize("before", ["on", "off"])
def test_the_fills_planner_options_hold_for_the_feeds_reads_only(shoppers, before):
    from django.db import connection

    from partners.analytics.rollup import FILL_PLANNER, _planner

    customers, products = shoppers
    _generate(customers, products, end=timezone.now(), days=7, seed=4)
    with connection.cursor() as cursor:
        cursor.execute(f"SET LOCAL enable_nestloop = {before}")

    report = analytics_rollup_run(now=timezone.now() + LATER)  # in the test's transaction, on its connection

    assert report.facts > 0 and report.steps["order_events"] > 0  # the order feed (planner: nested loops off) was read
    with connection.cursor() as cursor:
        cursor.execute("SELECT current_setting('enable_nestloop')")
        assert cursor.fetchone()[0] == before
        # and while a feed is read, its options hold
        with _planner(cursor, FILL_PLANNER):
            cursor.execute("SELECT current_setting('enable_nestloop')")
            assert cursor.fetchone()[0] == "off"
    assert rolled_up() == recount()


def test_an_incremental_run_adds_only_what_is_new_and_a_repeated_run_changes_nothing(shoppers):
    customers, products = shoppers
    now = timezone.now()
    # given: three weeks, rolled up in small batches
    _generate(customers[:6], products, end=now - timedelta(days=7), days=21, seed=2)
    analytics_rollup_run(now=now + LATER, batch=97)
    # when: another week arrives, for the same and for new shoppers, and the rollup runs twice
    _generate(customers, products + [ProductFactory()], end=now, days=7, seed=3)
    analytics_rollup_run(now=now + LATER, batch=1000)
    first = rolled_up()
    again = analytics_rollup_run(now=now + LATER)
    # then
    assert again.facts == 0
    assert rolled_up() == first == recount()
    assert rollup_watermark(feed="device_events") == DeviceEvent.objects.latest("pk").pk
    assert rollup_watermark(feed="order_events") == OrderEvent.objects.latest("pk").pk


def test_a_run_leaves_rows_younger_than_the_lag_for_the_next_one(shoppers, settings):
    customers, products = shoppers
    settings.DASH_ANALYTICS_LAG_SECONDS = 3600
    now = timezone.now()
    _generate(customers, products, end=now, days=3, seed=4)
    times = list(DeviceEvent.objects.order_by("pk").values_list("received_at", flat=True))
    middle = times[len(times) // 2]
    young = DeviceEvent.objects.filter(received_at__gte=middle).order_by("pk").first()
    # when: a run an hour after the middle event (the lag is an hour)
    analytics_rollup_run(now=middle + timedelta(hours=1))
    # then: the younger half waits for the next run
    assert 0 < rollup_watermark(feed="device_events") < young.pk
    assert rolled_up() != recount()
    analytics_rollup_run(now=now + timedelta(hours=2))
    assert rolled_up() == recount()


def test_the_prune_only_deletes_events_the_rollups_consumed(shoppers, settings):
    customers, products = shoppers
    settings.DASH_EVENT_RETENTION_HOURS = 24
    now = timezone.now()
    _generate(customers, products, end=now - timedelta(days=3), days=5, seed=5)
    total = DeviceEvent.objects.count()
    # given: nothing rolled up yet -- nothing may go
    assert device_events_prune(now=now) == 0
    # given: the rollups consumed part of the log
    settings.DASH_ANALYTICS_LAG_SECONDS = 0
    times = sorted(DeviceEvent.objects.values_list("received_at", flat=True))
    analytics_rollup_run(now=times[len(times) // 2], batch=10**9)
    consumed = rollup_watermark(feed="device_events")
    assert 0 < consumed < DeviceEvent.objects.latest("pk").pk
    # when
    deleted = device_events_prune(now=now)
    # then: exactly the consumed events went; the figures keep them
    assert deleted > 0
    assert not DeviceEvent.objects.filter(pk__lte=consumed).exists()
    assert DeviceEvent.objects.count() == total - deleted > 0
    presses_before = sum(ProductDayStat.objects.values_list("presses", flat=True))
    analytics_rollup_run(now=now + LATER)
    assert device_events_prune(now=now) == total - deleted
    assert sum(ProductDayStat.objects.values_list("presses", flat=True)) > presses_before


def test_the_beat_task_rolls_up_what_is_older_than_the_lag(shoppers, settings):
    from partners.tasks import rollup_analytics

    customers, products = shoppers
    settings.DASH_ANALYTICS_LAG_SECONDS = 0
    _generate(customers, products, end=timezone.now() - timedelta(seconds=5), days=2, seed=7)

    assert rollup_analytics() > 0
    assert rollup_analytics() == 0
    assert rolled_up() == recount()


def test_a_time_zone_must_be_a_real_one(db):
    from django.core.exceptions import ValidationError

    with pytest.raises(ValidationError):
        CustomerTimeZone(user=UserFactory(), time_zone="Mars/Olympus").full_clean()
    CustomerTimeZone(user=UserFactory(), time_zone="Asia/Tokyo").full_clean()


def test_the_bit_set_spans_of_a_range_cover_each_of_its_days_exactly_once():
    from datetime import date

    from partners.analytics.selectors import span_pieces

    def days_of(span, key):
        if span == "d":
            return [key]
        if span == "w":
            assert key.weekday() == 0
            return [key + timedelta(days=i) for i in range(7)]
        assert key.day == 1
        following = (key + timedelta(days=32)).replace(day=1)
        return [key + timedelta(days=i) for i in range((following - key).days)]

    def keys(span, lo, hi):
        step = {"d": lambda k: k + timedelta(days=1), "w": lambda k: k + timedelta(days=7)}.get(
            span, lambda k: (k + timedelta(days=32)).replace(day=1)
        )
        while lo <= hi:
            yield lo
            lo = step(lo)

    origin = date(2025, 12, 20)
    for offset in range(0, 80, 3):
        for length in (1, 2, 6, 7, 8, 13, 14, 27, 28, 31, 45, 62, 100, 366):
            start = origin + timedelta(days=offset)
            end = start + timedelta(days=length - 1)
            pieces = span_pieces(start, end)
            covered = [d for span, lo, hi in pieces for key in keys(span, lo, hi) for d in days_of(span, key)]
            assert sorted(covered) == [start + timedelta(days=i) for i in range(length)], (start, end, pieces)
    # a month-aligned year reads months, and a 28-day range mostly weeks
    assert {span for span, _, _ in span_pieces(date(2026, 1, 1), date(2026, 12, 31))} == {"m"}
    assert ("w", date(2026, 11, 2), date(2026, 11, 23)) in span_pieces(date(2026, 11, 1), date(2026, 11, 29))


def test_the_month_cells_and_edge_days_of_a_range_cover_each_of_its_days_exactly_once():
    from datetime import date

    from partners.analytics.selectors import month_pieces

    origin = date(2025, 12, 20)
    for offset in range(0, 80, 3):
        for length in (1, 2, 12, 28, 31, 45, 62, 100, 366):
            start = origin + timedelta(days=offset)
            end = start + timedelta(days=length - 1)
            months, days = month_pieces(start, end)
            covered = [lo + timedelta(days=i) for lo, hi in days for i in range((hi - lo).days + 1)]
            if months:
                first, last = months
                assert first.day == last.day == 1 and first <= last
                month = first
                while month <= last:
                    following = (month + timedelta(days=32)).replace(day=1)
                    covered += [month + timedelta(days=i) for i in range((following - month).days)]
                    month = following
            assert sorted(covered) == [start + timedelta(days=i) for i in range(length)], (start, end, months, days)
    assert month_pieces(date(2026, 1, 1), date(2026, 12, 31)) == ((date(2026, 1, 1), date(2026, 12, 1)), [])
    assert month_pieces(date(2026, 11, 2), date(2026, 11, 29)) == (None, [(date(2026, 11, 2), date(2026, 11, 29))])


def test_a_cells_sample_gathers_its_customers_across_batches(shoppers):
    from django.db import connection

    customers, products = shoppers
    if connection.vendor == "postgresql":  # ids far above the watermark: batches start at the first one there is
        with connection.cursor() as cursor:
            cursor.execute("SELECT setval(pg_get_serial_sequence('devices_deviceevent', 'id'), nextval(pg_get_serial_sequence('devices_deviceevent', 'id')) + 100000)")
    # given: one product, so its cells hold several customers, rolled up a few facts at a time
    _generate(customers, products[:1], end=timezone.now(), days=4, seed=8)
    report = analytics_rollup_run(now=timezone.now() + LATER, batch=3)
    rolled = rolled_up()
    # then: cells with more than one customer exist, and their samples hold all of them
    assert any(len(sample) > 1 for sample in rolled["samples"].values())
    assert rolled == recount()
    assert report.batches < 200


@pytest.mark.parametrize(
    ("cell", "batch", "after"),
    [
        ((4, "1,2,3,4"), (1, "4"), (4, "1,2,3,4")),  # a customer already there
        ((4, "1,2,3,4"), (2, "6,5"), (5, "1,2,3,4,5")),  # reaches the sample's size
        ((5, "1,2,3,4,5"), (1, "9"), (5, "1,2,3,4,5")),  # a full sample stays
        ((0, ""), (2, "8,7"), (2, "8,7")),  # an empty cell takes the batch's
        ((3, "1,2,3"), (0, ""), (3, "1,2,3")),  # nothing new
    ],
)
def test_a_batch_merges_its_customers_into_a_cells_sample(db, cell, batch, after):
    from django.db import connection

    from partners.analytics.rollup import _merged

    if connection.vendor != "postgresql":
        pytest.skip("the SQL merge is PostgreSQL's")
    product = ProductFactory()
    upsert = (
        "INSERT INTO partners_productdaystat AS s (product_id, day, source, people_presses, s_presses) VALUES (%s, %s, 'button', %s, %s)"
        f" ON CONFLICT (product_id, day, source) DO UPDATE SET {_merged('people_presses', 's_presses')}"
    )
    day = timezone.localdate()
    with connection.cursor() as cursor:
        cursor.execute(upsert, [product.pk, day, *cell])
        cursor.execute(upsert, [product.pk, day, *batch])
    stat = ProductDayStat.objects.get(product=product, day=day, source="button")
    assert (stat.people_presses, stat.s_presses) == after


@pytest.mark.parametrize(
    ("a", "b", "merged"),
    [("3,1", "2,1,9", "1,2,3,9"), ("", "7", "7"), ("4", "", "4"), ("", "", ""), ("1,2,3,4", "9,8,7,6,5", "1,2,3,4,5")],
)
def test_two_samples_merge_into_the_smallest_distinct_ids(db, a, b, merged):
    from django.db import connection

    if connection.vendor != "postgresql":
        pytest.skip("partners_sample_merge is PostgreSQL's")
    with connection.cursor() as cursor:
        cursor.execute("SELECT partners_sample_merge(%s, %s, 5)", [a, b])
        assert cursor.fetchone()[0] == merged


def test_a_privacy_threshold_the_samples_cannot_decide_is_refused(settings):
    from partners.checks import privacy_threshold_check

    for threshold in (1, 5):
        settings.DASH_PRIVACY_MIN_CUSTOMERS = threshold
        assert privacy_threshold_check(None) == []
    for threshold in (0, 6):
        settings.DASH_PRIVACY_MIN_CUSTOMERS = threshold
        assert [e.id for e in privacy_threshold_check(None)] == ["partners.E001"]


@pytest.mark.django_db(transaction=True)
def test_the_shards_roll_up_in_parallel_on_connections_of_their_own(shoppers):
    from django.db import connection

    from partners.analytics.rollup import shard_feed, shards

    if connection.vendor != "postgresql":
        pytest.skip("SQLite rolls up in one shard")
    clear_bit_sets()
    customers, products = shoppers
    now = timezone.now()
    _generate(customers, products, end=now - timedelta(days=2), days=10, seed=9)
    assert DeviceEvent.objects.count() > 50  # a backlog of more than one batch of 50 ids: the shards take threads
    # when: two runs at once (outside a transaction and with a backlog, so each shard runs in a
    # thread of its own)
    with ThreadPoolExecutor(max_workers=2) as pool:
        runs = [pool.submit(_run_and_close, now + LATER, 50) for _ in range(2)]
        facts = sum(run.result().facts for run in runs)
    # then: every fact counted once, by one of the runs, and every shard's watermark at the end
    assert facts == recount_facts()
    assert rolled_up() == recount()
    last_event = DeviceEvent.objects.latest("pk").pk
    for shard in range(shards()):
        assert RollupWatermark.objects.get(feed=shard_feed("device_events", shard)).last_id == last_event
    assert rollup_watermark(feed="device_events") == last_event
    # and: more history, one run, the same again
    _generate(customers, products, end=now, days=2, seed=10)
    analytics_rollup_run(now=now + LATER)
    assert rolled_up() == recount()
    assert shards() == 2


def test_the_prune_waits_for_the_slowest_shard(shoppers, settings):
    from django.db import connection

    if connection.vendor != "postgresql":
        pytest.skip("SQLite rolls up in one shard")
    customers, products = shoppers
    settings.DASH_EVENT_RETENTION_HOURS = 24
    now = timezone.now()
    _generate(customers, products, end=now - timedelta(days=3), days=5, seed=11)
    analytics_rollup_run(now=now + LATER)
    ids = list(DeviceEvent.objects.order_by("pk").values_list("pk", flat=True))
    # given: shard 1 behind shard 0 (as while it is still working through a batch)
    behind = ids[len(ids) // 3]
    RollupWatermark.objects.filter(feed="device_events:1").update(last_id=behind)
    # then: the prune deletes nothing the lagging shard has not read
    assert rollup_watermark(feed="device_events") == behind
    device_events_prune(now=now)
    assert not DeviceEvent.objects.filter(pk__lte=behind).exists()
    assert DeviceEvent.objects.filter(pk__gt=behind).count() == len(ids) - ids.index(behind) - 1


def _run_and_close(now, batch):
    from django.db import connection

    try:
        return analytics_rollup_run(now=now, batch=batch)
    finally:
        connection.close()


def recount_facts() -> int:
    """Facts the feeds yield: device events of a customer's device (but for supply levels above
    their threshold and unclaimed devices), and the order timeline's placed / cancelled in the
    hold / delivered / failed entries."""
    events = DeviceEvent.objects.exclude(outcome__in=("device_unclaimed", "recorded")).exclude(device__customer=None).count()
    timeline = OrderEvent.objects.filter(
        Q(from_status="") | Q(to_status__in=("delivered", "failed")) | Q(to_status="cancelled", from_status__in=("held", "needs_confirmation"))
    ).count()
    return events + timeline


def test_a_range_reads_its_last_month_whole_only_when_no_fact_can_fall_after_its_end():
    from partners.analytics.selectors import latest_local_day, reach

    latest = latest_local_day()
    assert reach(latest - timedelta(days=1)) == latest - timedelta(days=1)
    following = (latest.replace(day=1) + timedelta(days=32)).replace(day=1)
    assert reach(latest) == following - timedelta(days=1)


def test_the_migrations_fill_the_month_cells_and_partner_bit_sets_as_the_rollup_would(shoppers):
    import importlib
    from types import SimpleNamespace

    from django.db import connection

    customers, products = shoppers
    _generate(customers, products, end=timezone.now(), days=45, seed=4)
    analytics_rollup_run(now=timezone.now() + LATER, batch=150)
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM partners_productmonthstat")
        assert cursor.fetchone()[0] > 0
        cursor.execute("TRUNCATE partners_productmonthstat, partners_productreordermonthcell, partners_partnerbits")

    editor = SimpleNamespace(connection=connection)
    importlib.import_module("partners.migrations.0007_analytics_month_cells").forwards(None, editor)
    importlib.import_module("partners.migrations.0008_analytics_partner_bits").forwards(None, editor)

    assert rolled_up() == recount()


def test_a_database_rolled_up_before_the_shards_starts_each_new_shard_where_the_single_watermark_stood(shoppers):
    from partners.analytics.rollup import shards

    customers, products = shoppers
    _generate(customers, products, end=timezone.now(), days=14, seed=12)
    analytics_rollup_run(now=timezone.now() + LATER)
    if shards() == 1:
        pytest.skip("SQLite rolls up in one shard")
    # given: only the single watermark of before the shards (shard 0's row) is left
    RollupWatermark.objects.filter(feed__contains=":").delete()
    # when
    again = analytics_rollup_run(now=timezone.now() + LATER)
    # then: shard 1 starts there and counts nothing a second time
    assert again.facts == 0
    assert rolled_up() == recount()
