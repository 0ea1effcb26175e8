"""Without JavaScript: the customer signs in, presses the button, reloads, finds the held
order and removes it with the plain form."""

import uuid

import pytest
import requests
from allauth.account.models import EmailAddress

from orders.models import Order, OrderStatus


@pytest.mark.django_db(transaction=True)
@pytest.mark.timeout(120)
def test_without_javascript_the_plain_forms_remove_the_pressed_order(live_server, page_without_js, artifacts, customer, button):
    page = page_without_js
    # given a customer who signs in with e-mail and password
    EmailAddress.objects.create(user=customer, email=customer.email, verified=True, primary=True)
    page.goto(f"{live_server.url}/accounts/login/")
    page.get_by_label("Email").fill(customer.email)
    page.get_by_label("Password").fill("correct horse battery")
    page.get_by_role("button", name="Sign In").click()
    page.wait_for_url(f"{live_server.url}/orders/")
    assert page.get_by_text("Nothing is waiting").is_visible()

    # when the button is pressed through the device API
    answer = requests.post(
        f"{live_server.url}/api/v1/device/events",
        json={"event_id": uuid.uuid4().hex, "type": "press"},
        headers={"Authorization": f"Device {button.token}"},
        timeout=10,
    )
    assert answer.status_code == 201, answer.text
    page.reload()

    # then the held order is there, and Remove cancels it
    card = page.locator("article.card", has_text="Laundry Pods")
    assert card.is_visible()
    page.screenshot(path=str(artifacts / "orders-page-held-no-js.png"), full_page=True)
    card.get_by_role("button", name="Remove").click()
    page.wait_for_url(f"{live_server.url}/orders/")
    assert page.get_by_text("Removed: no order will be placed.").is_visible()
    assert Order.objects.get().status == OrderStatus.CANCELLED
