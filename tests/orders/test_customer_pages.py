"""The customer's pages: the orders page with its filtered presses, settings, sign-in pages in
the site's look, and the e-mail notices the lifecycle sends."""

import re
from datetime import timedelta

import pytest
from django.core import mail
from django.utils import timezone

from orders.models import CustomerSettings, Order, OrderStatus
from orders.notices import order_notices_send
from orders.services import customer_settings_update, order_apply_commerce_status, order_release, order_submit
from tests.factories import ProductFactory, make_button, make_order


@pytest.fixture
def browser(client, customer):
    client.force_login(customer)
    return client


def _text(response) -> str:
    return re.sub(r"\s+", " ", response.content.decode())


# --- Filtered presses --------------------------------------------------------------------------


@pytest.mark.django_db
def test_presses_filtered_while_an_order_is_on_its_way_are_explained(browser, customer, other_customer, product, press):
    # given a held order and three more presses of the customer's two buttons
    first, second = make_button(customer=customer, product=product), make_button(customer=customer, product=product)
    assert press(first, "p-1").status_code == 201
    for device, event_id in ((first, "p-2"), (second, "p-3"), (first, "p-4")):
        assert press(device, event_id).json()["outcome"] == "order_in_progress"
    # and another customer's presses, which must not count
    theirs = make_button(customer=other_customer, product=product)
    press(theirs, "t-1"), press(theirs, "t-2")
    order = Order.objects.get(customer=customer)
    # when
    page, api = browser.get("/orders/"), browser.get(f"/api/v1/me/orders/{order.public_id}")
    # then
    assert "Pressed 3 more times while this order was on its way — no extra order was placed." in _text(page)
    assert api.json()["filtered_presses"] == 3
    assert browser.get("/api/v1/me/orders").json()[0]["filtered_presses"] == 3


@pytest.mark.django_db
def test_an_order_nobody_pressed_again_says_nothing_about_filtered_presses(browser, customer, product, press):
    press(make_button(customer=customer, product=product), "p-1")
    assert "more time" not in _text(browser.get("/orders/"))
    assert browser.get("/api/v1/me/orders").json()[0]["filtered_presses"] == 0


@pytest.mark.django_db
def test_orders_page_has_the_live_script_and_the_countdown(browser, customer, product):
    order = make_order(customer=customer, product=product, quantity=2, device_serial="BTN-KITCHEN")
    html = browser.get("/orders/").content.decode()
    assert f'data-order-id="{order.public_id}"' in html and 'data-version="1"' in html
    assert "data-hold-until=" in html and "/static/js/orders-live.js" in html
    assert "24.98" in html and "BTN-KITCHEN" in html


@pytest.mark.django_db
def test_orders_page_shows_times_in_the_customers_zone(browser, customer, product):
    customer_settings_update(customer_id=customer.pk, time_zone="Asia/Kolkata")  # UTC+05:30, no DST
    order = make_order(customer=customer, product=product)
    html = browser.get("/orders/").content.decode()
    assert 'data-time-zone="Asia/Kolkata"' in html
    assert order.hold_until.astimezone(__import__("zoneinfo").ZoneInfo("Asia/Kolkata")).strftime("%H:%M:%S") in html


# --- Settings ------------------------------------------------------------------------------


@pytest.mark.django_db
def test_settings_page_shows_the_defaults(browser):
    response = browser.get("/settings/")
    assert response.status_code == 200
    form = response.context["form"]
    assert form.initial == {"default_hold_seconds": "", "email_notices": True, "time_zone": "UTC"}
    assert '<label for="id_default_hold_seconds">' in response.content.decode()


@pytest.mark.parametrize(("hold", "expected"), [("0", 0), ("300", 300), ("", None)])
@pytest.mark.django_db
def test_settings_form_saves_and_redirects(browser, customer, hold, expected):
    response = browser.post("/settings/", {"default_hold_seconds": hold, "time_zone": "Europe/Berlin"}, follow=True)
    assert response.redirect_chain == [("/settings/", 302)]
    row = CustomerSettings.objects.get(customer=customer)
    assert (row.default_hold_seconds, row.email_notices, row.time_zone) == (expected, False, "Europe/Berlin")
    assert "Your settings are saved." in [str(m) for m in response.context["messages"]]


@pytest.mark.parametrize(
    "body", [{"default_hold_seconds": "17", "time_zone": "UTC"}, {"default_hold_seconds": "", "time_zone": "Mars/Olympus"}]
)
@pytest.mark.django_db
def test_settings_form_with_bad_values_shows_errors_and_changes_nothing(browser, customer, body):
    customer_settings_update(customer_id=customer.pk, default_hold_seconds=60, time_zone="Europe/Paris")
    response = browser.post("/settings/", {**body, "email_notices": "on"})
    assert response.status_code == 200
    assert response.context["form"].errors
    row = CustomerSettings.objects.get(customer=customer)
    assert (row.default_hold_seconds, row.email_notices, row.time_zone) == (60, True, "Europe/Paris")


@pytest.mark.parametrize("method", ["get", "post"])
@pytest.mark.django_db
def test_anonymous_is_sent_to_login_from_settings(client, customer, method):
    response = client.get("/settings/") if method == "get" else client.post("/settings/", {"time_zone": "Europe/Berlin"})
    assert response.status_code == 302
    assert response["Location"] == "/accounts/login/?next=/settings/"
    assert not CustomerSettings.objects.exists()


# --- Accounts (allauth) in the site's look ---------------------------------------------------


@pytest.mark.parametrize("path", ["/accounts/login/", "/accounts/signup/", "/accounts/password/reset/"])
@pytest.mark.django_db
def test_account_pages_wear_the_site_layout(client, path):
    html = client.get(path).content.decode()
    assert 'class="auth-form"' in html and "/static/css/dash.css" in html and 'href="#main"' in html
    assert re.search(r'<label for="id_(email|login)">Email', html)


@pytest.mark.django_db
def test_sign_up_with_email_signs_in_and_lands_on_the_orders_page(client):
    response = client.post(
        "/accounts/signup/",
        {"email": "carol@example.test", "password1": "a long pass phrase 9", "password2": "a long pass phrase 9"},
        follow=True,
    )
    assert response.redirect_chain[-1] == ("/orders/", 302)
    assert response.context["user"].email == "carol@example.test"


@pytest.mark.django_db
def test_password_reset_mails_a_link(client, customer):
    response = client.post("/accounts/password/reset/", {"email": customer.email})
    assert response.status_code == 302
    assert len(mail.outbox) == 1 and "/accounts/password/reset/key/" in mail.outbox[0].body


# --- E-mail notices --------------------------------------------------------------------------


def _sweep() -> int:
    """The notice sweep, as beat runs it, once the timeline entries are past the lag."""
    return order_notices_send(now=timezone.now() + timedelta(seconds=60))


@pytest.mark.django_db(transaction=True)
def test_a_new_order_mails_a_review_link_then_release_and_delivery_mail_too(customer, product, press, settings):
    settings.DASH_SITE_URL = "https://dash.example.test"
    button = make_button(customer=customer, product=product, hold_seconds=600)
    # when a press places an order
    press(button, "p-1")
    press(button, "p-2")  # filtered: no second mail
    order = Order.objects.get()
    assert mail.outbox == []  # nothing on the press path: the sweep sends
    # then one mail with a link to review it
    assert _sweep() == 1
    assert [m.subject for m in mail.outbox] == ["Dash: Order placed: 1 × Laundry Pods"]
    assert f"https://dash.example.test/orders/#order-{order.public_id}" in mail.outbox[0].body
    assert "goes to the shop in 10 minutes unless you remove it" in mail.outbox[0].body
    assert _sweep() == 0  # sent once
    # and when it is released and delivered
    order_release(order_id=order.pk, actor="system")
    order_submit(order_id=order.pk)
    order_apply_commerce_status(public_id=order.public_id, status=OrderStatus.SHIPPED)
    order_apply_commerce_status(public_id=order.public_id, status=OrderStatus.DELIVERED)
    assert _sweep() == 2
    assert [m.subject for m in mail.outbox][1:] == ["Dash: On its way to the shop: 1 × Laundry Pods", "Dash: Delivered: 1 × Laundry Pods"]


@pytest.mark.django_db(transaction=True)
def test_the_release_sweep_mails_each_released_order(customer):
    from orders.services import orders_release_due

    for _ in range(2):
        make_order(customer=customer, product=ProductFactory(), hold_seconds=0)
    assert orders_release_due() == 2
    assert _sweep() == 4
    assert sorted(m.subject.split(":")[1].strip() for m in mail.outbox) == ["On its way to the shop"] * 2 + ["Order placed"] * 2


@pytest.mark.django_db(transaction=True)
def test_no_mail_when_notices_are_off(customer, product, press):
    customer_settings_update(customer_id=customer.pk, email_notices=False)
    press(make_button(customer=customer, product=product), "p-1")
    assert Order.objects.count() == 1
    assert _sweep() == 0 and mail.outbox == []


@pytest.mark.django_db(transaction=True)
def test_entries_younger_than_the_lag_wait_for_the_next_sweep(customer, product, press, settings):
    settings.DASH_NOTICE_LAG_SECONDS = 30
    press(make_button(customer=customer, product=product), "p-1")
    assert order_notices_send() == 0
    assert order_notices_send(now=timezone.now() + timedelta(seconds=31)) == 1


@pytest.mark.django_db(transaction=True)
def test_a_mail_server_that_fails_keeps_the_notices_for_the_next_sweep(customer, product, press, monkeypatch):
    press(make_button(customer=customer, product=product), "p-1")
    from django.core.mail.backends.locmem import EmailBackend

    def down(self, messages):
        raise OSError("mail server down")

    with monkeypatch.context() as patched:
        patched.setattr(EmailBackend, "send_messages", down)
        with pytest.raises(OSError):
            _sweep()
    assert _sweep() == 1
    assert len(mail.outbox) == 1
