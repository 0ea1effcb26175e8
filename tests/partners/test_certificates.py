"""The cells' certificates and bit sets give the same privacy decisions and the same exact
distinct counts as a brute-force recount of who did what, over any range and product set."""

import random
from collections import defaultdict
from datetime import timedelta

import pytest
from django.utils import timezone

from devices.demo_history import history_generate
from partners.analytics import selectors
from partners.analytics.feeds import METRICS
from partners.analytics.rollup import DEVICES_DIM, analytics_rollup_run
from partners.analytics.selectors import Scope
from tests.factories import PartnerFactory, ProductFactory, UserFactory
from tests.partners.recount import BITS, recount

pytestmark = pytest.mark.django_db


@pytest.fixture
def history():
    partner = PartnerFactory()
    products = [ProductFactory(partner=partner) for _ in range(3)]
    customers = [UserFactory() for _ in range(9)]
    end = timezone.now()
    history_generate(customers=customers, products=products, end=end, days=75, seed=11, serial_prefix="C")
    analytics_rollup_run(now=end + timedelta(minutes=1), batch=300)
    return partner, products, timezone.localdate(end)


def _ranges(last):
    rng = random.Random(3)
    yield last - timedelta(days=74), last  # whole months inside, and days at both edges
    yield last, last
    # ending after the latest local day any fact can have: its month is read whole (selectors.reach)
    yield last - timedelta(days=40), last + timedelta(days=3)
    for _ in range(10):
        start = last - timedelta(days=rng.randrange(75))
        yield start, min(last, start + timedelta(days=rng.randrange(60)))


def _truth(members: dict, scope: Scope, group: str | None) -> tuple[dict, dict]:
    """({group value: [distinct customers per metric]}, {group value: distinct customers}) over
    the scope, counted from the recount's membership."""
    per_metric, anyone = defaultdict(lambda: [set() for _ in METRICS]), defaultdict(set)
    for (product, day, customer, source), (flags, _hours) in members.items():
        if product in scope.product_ids and scope.start <= day <= scope.end:
            g = {None: 0, "day": day, "source": source, "product_id": product}[group]
            anyone[g].add(customer)
            for i, metric in enumerate(METRICS):
                if flags & BITS[metric]:
                    per_metric[g][i].add(customer)
    return {g: [len(c) for c in sets] for g, sets in per_metric.items()}, {g: len(c) for g, c in anyone.items()}


def test_certified_decisions_and_bit_set_counts_equal_a_brute_force_recount(history, settings):
    partner, products, last = history
    truth_all = recount(raw=True)
    members, devices_of = truth_all["members"], truth_all["devices"]
    threshold = selectors.privacy_threshold()
    clip = lambda n: min(int(n or 0), threshold)  # at or above the threshold only "enough" is certified
    checked = 0
    for start, end in _ranges(last):
        for ids in ((products[0].pk,), tuple(p.pk for p in products)):
            # all of the partner's products: its own bit sets (partners_partnerbits)
            scope = Scope(partner=partner, product_ids=ids, start=start, end=end, whole_partner=len(ids) == len(products))
            for group in (None, "day", "source", "product_id"):
                truth = {g: [clip(n) for n in v] for g, v in _truth(members, scope, group)[0].items()}
                got = {g: [clip(n) for n in v] for g, v in selectors._per_metric(scope, group)[1].items()}
                assert {g: v for g, v in got.items() if any(v)} == {g: v for g, v in truth.items() if any(v)}
                checked += 1
            for by in (None, "source", "product_id"):
                truth = _truth(members, scope, by)[1]
                assert {k: v for k, v in selectors._customers(scope, by).items() if v} == {k: v for k, v in truth.items() if v}
            # active devices, read as totals reads them (the partner's own bit sets for its whole catalog)
            devices = {d for (product, day, d) in devices_of if product in ids and start <= day <= end}
            found = selectors._distinct(scope, dims=("", DEVICES_DIM), by="dim")
            assert found.get(DEVICES_DIM, 0) == len(devices)
    assert checked > 50
    assert len(METRICS) == 7


def test_the_heatmap_and_the_reorders_over_month_and_day_cells_equal_a_brute_force_recount(history):
    partner, products, last = history
    truth = recount(raw=True)
    threshold = selectors.privacy_threshold()
    shown = lambda n, people: n if people >= threshold or not n else None
    for start, end in _ranges(last):
        scope = Scope(partner=partner, product_ids=tuple(p.pk for p in products), start=start, end=end)
        presses, people = defaultdict(int), defaultdict(set)
        for (product, day, source), columns in truth["days"].items():
            if start <= day <= end:
                for h in range(24):
                    presses[(day.isoweekday(), h)] += columns[f"h{h:02d}"]
        for (product, day, customer, source), (_flags, hours) in truth["members"].items():
            if start <= day <= end:
                for h in range(24):
                    if hours >> h & 1:
                        people[(day.isoweekday(), h)].add(customer)
        expected = [[shown(presses[(wd, h)], len(people[(wd, h)])) for h in range(24)] for wd in range(1, 8)]
        assert [row["hours"] for row in selectors.heatmap(scope=scope)] == expected, (start, end)

        reorders, seconds, buckets, who, per_bucket = 0, 0, defaultdict(int), set(), defaultdict(set)
        for (product, day, customer, bucket), (n, secs) in truth["reorders"].items():
            if start <= day <= end:
                reorders, seconds = reorders + n, seconds + secs
                buckets[bucket] += n
                who.add(customer)
                per_bucket[bucket].add(customer)
        got = selectors.reorders(scope=scope)
        assert got["reorders"] == shown(reorders, len(who)), (start, end)
        assert [b["reorders"] for b in got["buckets"]] == [shown(buckets[i], len(per_bucket[i])) for i in range(len(got["buckets"]))]
        if reorders and len(who) >= threshold:
            assert got["mean_days"] == round(seconds / reorders / 86400, 1)


def test_a_figure_over_small_cells_is_shown_when_together_they_reach_the_threshold(history):
    partner, products, last = history
    threshold = selectors.privacy_threshold()
    scope = Scope(partner=partner, product_ids=tuple(p.pk for p in products), start=last - timedelta(days=74), end=last)
    # the union of the samples decides: pick a metric whose every cell is below the threshold
    cells = selectors._certified(scope, None, selectors._METRIC_KEYS)
    truth = _truth(recount(raw=True)["members"], scope, None)[0][0]
    for i, metric in enumerate(METRICS):
        assert min(cells[(0, metric)], threshold) == min(truth[i], threshold)
