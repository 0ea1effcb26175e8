from datetime import timedelta

import pytest
from django.core import mail
from django.utils import timezone

from orders.errors import SettingsError
from orders.models import CustomerSettings, Order
from orders.notices import notice_send
from orders.selectors import customer_settings
from orders.services import customer_settings_update
from tests.factories import make_button


def _hold_of(response) -> timedelta:
    order = Order.objects.get(public_id=response.json()["order"]["id"])
    return order.hold_until - order.created_at


@pytest.mark.django_db(transaction=True)
def test_a_customer_without_settings_gets_the_defaults(customer, settings):
    # when
    found = customer_settings(customer_id=customer.pk)
    # then
    assert found.pk is not None and found._state.adding
    assert found.default_hold_seconds is None and found.email_notices is True and found.time_zone == "UTC"
    assert CustomerSettings.objects.count() == 0


@pytest.mark.django_db(transaction=True)
def test_the_customer_default_hold_applies_to_a_press(customer, product, press, settings):
    # given
    settings.DASH_HOLD_SECONDS = 1800
    customer_settings_update(customer_id=customer.pk, default_hold_seconds=120)
    button = make_button(customer=customer, product=product)
    # when
    answer = press(button, "evt-1")
    # then
    assert answer.status_code == 201
    assert _hold_of(answer) == timedelta(seconds=120)


@pytest.mark.django_db(transaction=True)
def test_a_device_hold_overrides_the_customer_default(customer, product, press):
    customer_settings_update(customer_id=customer.pk, default_hold_seconds=120)
    button = make_button(customer=customer, product=product, hold_seconds=15)
    answer = press(button, "evt-1")
    assert _hold_of(answer) == timedelta(seconds=15)


@pytest.mark.django_db(transaction=True)
def test_back_to_the_site_default_hold(customer, product, press, settings):
    settings.DASH_HOLD_SECONDS = 300
    customer_settings_update(customer_id=customer.pk, default_hold_seconds=0)
    customer_settings_update(customer_id=customer.pk, default_hold_seconds=None)
    answer = press(make_button(customer=customer, product=product), "evt-1")
    assert _hold_of(answer) == timedelta(seconds=300)


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"default_hold_seconds": -1}, "default_hold_seconds"),
        ({"default_hold_seconds": 8 * 24 * 3600}, "default_hold_seconds"),
        ({"time_zone": "Mars/Olympus"}, "time_zone"),
    ],
)
@pytest.mark.django_db
def test_invalid_settings_are_refused_and_change_nothing(customer, changes, field):
    customer_settings_update(customer_id=customer.pk, default_hold_seconds=60, time_zone="Europe/Berlin")
    with pytest.raises(SettingsError) as refused:
        customer_settings_update(customer_id=customer.pk, email_notices=False, **changes)
    assert list(refused.value.fields) == [field]
    row = CustomerSettings.objects.get(customer=customer)
    assert (row.default_hold_seconds, row.email_notices, row.time_zone) == (60, True, "Europe/Berlin")


@pytest.mark.django_db
def test_a_notice_is_mailed_with_an_absolute_link(customer, settings):
    settings.DASH_SITE_URL = "https://dash.example.test"
    sent = notice_send(customer_id=customer.pk, kind="order_placed", subject="Order placed", lines=["1 x Pods"], link="/orders/#o-1")
    assert sent is True
    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.to == [customer.email]
    assert message.subject == "Dash: Order placed"
    assert "https://dash.example.test/orders/#o-1" in message.body
    assert "1 x Pods" in message.alternatives[0].content


@pytest.mark.django_db
def test_no_notice_when_the_customer_turned_them_off(customer):
    customer_settings_update(customer_id=customer.pk, email_notices=False)
    assert notice_send(customer_id=customer.pk, kind="order_placed", subject="x", lines=[]) is False
    assert mail.outbox == []


@pytest.mark.django_db
def test_settings_update_touches_only_what_was_given(customer):
    customer_settings_update(customer_id=customer.pk, default_hold_seconds=0, time_zone="America/New_York")
    customer_settings_update(customer_id=customer.pk, email_notices=False)
    row = CustomerSettings.objects.get(customer=customer)
    assert (row.default_hold_seconds, row.email_notices, row.time_zone) == (0, False, "America/New_York")
    assert row.updated_at <= timezone.now()


@pytest.mark.django_db
def test_the_time_zone_reaches_the_partner_figures(customer):
    from partners.models import CustomerTimeZone

    customer_settings_update(customer_id=customer.pk, time_zone="Asia/Tokyo")
    customer_settings_update(customer_id=customer.pk, time_zone="America/Chicago")
    assert CustomerTimeZone.objects.get(user=customer).time_zone == "America/Chicago"
