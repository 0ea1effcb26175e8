"""The customer watches a washer's supplies on /devices/, adds a slot with the form, and places
the one-click order a "running low" notice links to, in a real browser."""

import uuid
from datetime import timedelta

import pytest
import requests
import time_machine
from allauth.account.models import EmailAddress
from django.utils import timezone

from devices.models import ApplianceSlot
from orders.models import Order, OrderSource
from tests.factories import make_appliance


@pytest.mark.django_db(transaction=True)
@pytest.mark.timeout(120)
def test_customer_sees_the_prediction_adds_a_slot_and_orders_with_one_click(live_server, page, artifacts, customer, product, client):
    # given: a washer whose detergent slot has two days of readings
    washer = make_appliance(customer=customer, name="Washer")
    ApplianceSlot.objects.create(device=washer, name="detergent", product=product, capacity=1000, reorder_threshold=100, auto_reorder=False)
    start = timezone.now() - timedelta(days=2)
    with time_machine.travel(start, tick=False) as clock:
        for i in range(5):
            body = {"event_id": uuid.uuid4().hex, "type": "slot_status", "slot": "detergent", "remaining": 900 - 50 * i}
            assert (
                client.post(
                    "/api/v1/device/events", body, content_type="application/json", HTTP_AUTHORIZATION=f"Device {washer.token}"
                ).status_code
                == 200
            )
            clock.shift(timedelta(hours=12))
    EmailAddress.objects.create(user=customer, email=customer.email, verified=True, primary=True)
    page.goto(f"{live_server.url}/accounts/login/")
    page.get_by_label("Email").fill(customer.email)
    page.get_by_label("Password").fill("correct horse battery")
    page.get_by_role("button", name="Sign In").click()
    page.wait_for_url(f"{live_server.url}/orders/")

    # when: the devices page
    page.goto(f"{live_server.url}/devices/")
    row = page.locator('tr[data-slot="detergent"]')
    # then: level, usage and run-out (700 left at 100 a day: 7 days after the last reading)
    assert "700 / 1000" in row.inner_text()
    assert row.locator("td.rate").inner_text().strip() == "100.0"
    assert row.locator("td.run-out").inner_text().strip() == "7.0 days"

    # when: a softener slot is added with the form
    section = page.locator(f'section[data-serial="{washer.serial}"]')
    section.get_by_text("Add a slot").click()
    form = section.locator("form", has=page.get_by_role("button", name="Add slot"))
    form.get_by_label("Name").fill("softener")
    form.get_by_label("Product").select_option(product.sku)
    form.get_by_label("Capacity").fill("800")
    form.get_by_label("Reorder at").fill("80")
    form.get_by_role("button", name="Add slot").click()
    page.wait_for_url(f"{live_server.url}/devices/")
    # then
    assert page.get_by_text("Slot softener added.").is_visible()
    assert page.locator('tr[data-slot="softener"]').is_visible()
    page.screenshot(path=str(artifacts / "devices-page-appliance.png"), full_page=True)
    assert ApplianceSlot.objects.get(name="softener").capacity == 800

    # when: the one-click order (the link of a "running low" notice)
    page.goto(f"{live_server.url}/devices/{washer.serial}/slots/detergent/order")
    assert Order.objects.count() == 0
    page.get_by_role("button", name="Place the order").click()
    page.wait_for_url(f"{live_server.url}/orders/")
    # then
    order = Order.objects.get()
    assert (order.source, order.product_id, order.device_serial) == (OrderSource.APPLIANCE, product.pk, washer.serial)
    assert (
        requests.get(f"{live_server.url}/devices/{washer.serial}/slots/detergent/order", allow_redirects=False, timeout=10).status_code
        == 302
    )
