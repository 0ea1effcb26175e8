"""The devices page: rename, rebind, hold window, press counts and battery (plain forms)."""

import pytest

from devices.models import Device
from tests.factories import ProductFactory, make_button


@pytest.fixture
def browser(client, customer):
    client.force_login(customer)
    return client


def _edit(browser, device, **fields):
    prefix = f"d-{device.serial}-"
    return browser.post(f"/devices/{device.serial}/edit", {prefix + k: v for k, v in fields.items()})


def _binding(device) -> tuple:
    return Device.objects.filter(pk=device.pk).values_list("name", "product_id", "quantity", "hold_seconds").get()


@pytest.mark.django_db
def test_the_edit_form_renames_rebinds_and_sets_the_hold_window(browser, button):
    pods = ProductFactory(name="Dish Pods", price="7.25", max_quantity=4)
    response = _edit(browser, button, name="Kitchen", product_sku=pods.sku, quantity=3, hold_seconds="0")
    assert (response.status_code, response["Location"]) == (302, "/devices/")
    assert _binding(button) == ("Kitchen", pods.pk, 3, 0)
    page = browser.get("/devices/").content.decode()
    assert "3 × Dish Pods" in page and "at 7.25 each (current price)" in page and "Release at once" in page


@pytest.mark.django_db
def test_an_empty_hold_choice_returns_the_device_to_the_customers_default(browser, button, product):
    Device.objects.filter(pk=button.pk).update(hold_seconds=60)
    _edit(browser, button, name="x", product_sku=product.sku, quantity=1, hold_seconds="")
    assert _binding(button)[3] is None


@pytest.mark.parametrize(
    ("fields", "error_field"),
    [
        ({"quantity": 9}, "quantity"),
        ({"quantity": 0}, "quantity"),
        ({"product_sku": "NOPE"}, "product_sku"),
        ({"hold_seconds": "13"}, "hold_seconds"),
    ],
)
@pytest.mark.django_db
def test_the_edit_form_with_bad_values_shows_errors_and_changes_nothing(browser, button, product, fields, error_field):
    before = _binding(button)
    response = _edit(browser, button, **{"name": "New", "product_sku": product.sku, "quantity": 1, "hold_seconds": "", **fields})
    assert response.status_code == 400
    edited = next(d for d in response.context["devices"] if d.pk == button.pk)
    assert error_field in edited.edit_form.errors
    assert _binding(button) == before


@pytest.mark.django_db
def test_the_page_shows_presses_battery_and_last_seen(browser, button, press, client):
    for i in range(3):
        press(button, f"p-{i}")
    Device.objects.filter(pk=button.pk).update(battery_percent=42)
    html = browser.get("/devices/").content.decode()
    assert "42%" in html and "never" not in html.split(button.serial)[1].split("</dl>")[0]
    assert "<dt>Presses</dt><dd>3 " in html


@pytest.mark.django_db
def test_edit_form_on_another_customers_device_is_404(browser, other_customer, product):
    theirs = make_button(customer=other_customer, product=product)
    before = _binding(theirs)
    assert _edit(browser, theirs, name="Mine now", product_sku=product.sku, quantity=1).status_code == 404
    assert _binding(theirs) == before


@pytest.mark.django_db
def test_edit_form_refuses_get_and_anonymous(client, browser, button):
    assert browser.get(f"/devices/{button.serial}/edit").status_code == 405
    client.logout()
    response = client.post(f"/devices/{button.serial}/edit", {f"d-{button.serial}-name": "x"})
    assert response["Location"] == f"/accounts/login/?next=/devices/{button.serial}/edit"
    assert _binding(button)[0] == ""
