"""The partner portal in a real browser: the charts render under the content security policy."""

import pytest
from django.utils import timezone

from devices.demo_history import history_generate
from partners.analytics.rollup import analytics_rollup_run
from partners.models import PartnerMembership
from tests.factories import PartnerFactory, ProductFactory, UserFactory

TRANSPARENT = "rgba(0, 0, 0, 0)"


@pytest.mark.django_db(transaction=True)
@pytest.mark.timeout(120)
def test_the_overview_draws_its_colours_without_a_policy_violation(live_server, page, artifacts):
    # given: a partner with four weeks of shoppers' history, rolled up, and a member
    partner = PartnerFactory(slug="brand-a")
    products = [ProductFactory(partner=partner) for _ in range(3)]
    shoppers = [UserFactory(username=f"shopper{i}") for i in range(40)]
    history_generate(customers=shoppers, products=products, end=timezone.now(), days=28, seed=11)
    analytics_rollup_run(now=timezone.now() + timezone.timedelta(minutes=1))
    member = UserFactory(username="ann", email="ann@brand-a.example")
    PartnerMembership.objects.create(user=member, partner=partner, role="admin")
    violations = []
    page.on("console", lambda m: violations.append(m.text) if "Content Security Policy" in m.text else None)

    # when
    page.goto(f"{live_server.url}/accounts/login/")
    page.get_by_label("Email").fill(member.email)
    page.get_by_label("Password").fill("correct horse battery")
    page.get_by_role("button", name="Sign In").click()
    page.wait_for_load_state()
    page.goto(f"{live_server.url}/partners/brand-a/")

    # then: the legend swatches and heatmap cells take the colours their style attributes give
    swatches = page.locator(".legend .swatch")
    assert swatches.count() > 0
    assert swatches.first.evaluate("e => getComputedStyle(e).backgroundColor") != TRANSPARENT
    cells = page.locator(".heatmap td[style]")
    assert cells.count() > 0
    assert {cells.nth(i).evaluate("e => getComputedStyle(e).getPropertyValue('--a').trim()") for i in range(cells.count())} != {"0"}
    assert violations == []
    page.screenshot(path=str(artifacts / "partner-overview.png"), full_page=True)
