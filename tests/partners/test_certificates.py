"""The cells' certificates and bit sets give the same privacy decisions and the same exact
distinct counts as a scan of the membership table, over any range and product set."""

import random
from datetime import timedelta

import pytest
from django.utils import timezone

from devices.demo_history import history_generate
from partners.analytics import selectors
from partners.analytics.feeds import METRICS
from partners.analytics.rollup import analytics_rollup_run
from partners.analytics.selectors import Scope
from tests.factories import PartnerFactory, ProductFactory, UserFactory

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
    for _ in range(10):
        start = last - timedelta(days=rng.randrange(75))
        yield start, min(last, start + timedelta(days=rng.randrange(60)))


def test_certified_decisions_and_bit_set_counts_equal_the_membership_scan(history, settings):
    partner, products, last = history
    threshold = selectors.privacy_threshold()
    clip = lambda n: min(int(n or 0), threshold)  # at or above the threshold only "enough" is certified
    checked = 0
    for start, end in _ranges(last):
        for ids in ((products[0].pk,), tuple(p.pk for p in products)):
            scope = Scope(partner=partner, product_ids=ids, start=start, end=end)
            for group in (None, "day", "source", "product_id"):
                truth = {
                    (row[0] if group else 0): [clip(n) for n in (row[2:] if group else row[1:])] for row in selectors._people(scope, group)
                }
                got = {g: [clip(n) for n in v] for g, v in selectors._per_metric(scope, group, group)[1].items()}
                assert {g: v for g, v in got.items() if any(v)} == {g: v for g, v in truth.items() if any(v)}
                checked += 1
            for by in (None, "source", "product_id"):
                truth = {(row[0] if by else 0): int(row[1] if by else row[0]) for row in selectors._people(scope, by)}
                assert {k: v for k, v in selectors._customers(scope, by).items() if v} == {k: v for k, v in truth.items() if v}
    assert checked > 50
    assert len(METRICS) == 7


def test_a_figure_over_small_cells_is_shown_when_together_they_reach_the_threshold(history):
    partner, products, last = history
    threshold = selectors.privacy_threshold()
    scope = Scope(partner=partner, product_ids=tuple(p.pk for p in products), start=last - timedelta(days=74), end=last)
    # the union of the samples decides: pick a metric whose every cell is below the threshold
    cells = selectors._certified(scope, None, selectors._METRIC_KEYS)
    truth = selectors._people(scope, None)[0][1:]
    for i, metric in enumerate(METRICS):
        assert min(cells[(0, metric)], threshold) == min(truth[i], threshold)
