"""The customer's devices: the API (/api/v1/me/devices) and the plain pages (/devices/)."""

import pytest

from devices.models import Device
from devices.services import device_provision
from tests.factories import ProductFactory, make_button

DEVICE_FIELDS = ["customer_id", "product_id", "quantity", "name", "paused", "hold_seconds", "claim_code", "claimed_at"]


def _state(device: Device) -> dict:
    return Device.objects.filter(pk=device.pk).values(*DEVICE_FIELDS).get()


@pytest.fixture
def unclaimed():
    return make_button()


@pytest.fixture
def api(client, customer):
    client.force_login(customer)
    return client


def _claim(api, **body):
    return api.post("/api/v1/me/devices/claim", body, content_type="application/json")


# --- Claiming -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "transform",
    [lambda c: c, lambda c: c.lower(), lambda c: c.replace("-", ""), lambda c: f"  {c.lower().replace('-', ' ')}  "],
    ids=["as_printed", "lowercase", "no_dashes", "spaces"],
)
@pytest.mark.django_db
def test_claim_links_a_button_to_the_customer_and_product(api, customer, product, unclaimed, transform):
    # when
    response = _claim(api, claim_code=transform(unclaimed.claim_code), product_sku=product.sku, quantity=2, hold_seconds=60)
    # then
    assert response.status_code == 201
    assert response.json() == {
        "serial": unclaimed.serial,
        "kind": "button",
        "name": "Laundry Pods",
        "paused": False,
        "product": {"sku": product.sku, "name": "Laundry Pods", "price": "12.49"},
        "quantity": 2,
        "hold_seconds": 60,
        "last_seen_at": None,
        "battery_percent": None,
    }
    device = Device.objects.get(pk=unclaimed.pk)
    assert (device.customer_id, device.product_id, device.quantity, device.hold_seconds) == (customer.pk, product.pk, 2, 60)
    assert device.claimed_at is not None


@pytest.mark.django_db
def test_claimed_button_places_orders_for_its_new_owner(api, customer, product, unclaimed, press):
    _claim(api, claim_code=unclaimed.claim_code, product_sku=product.sku)
    response = press(unclaimed, "evt-1")
    assert response.status_code == 201
    assert customer.orders.get().product_id == product.pk


@pytest.mark.django_db
def test_claiming_a_wand_needs_no_product(api, customer):
    wand = device_provision(kind="wand").device
    response = _claim(api, claim_code=wand.claim_code)
    assert response.status_code == 201
    assert (response.json()["kind"], response.json()["product"], response.json()["name"]) == ("wand", None, "Wand")
    assert Device.objects.get(pk=wand.pk).customer_id == customer.pk


@pytest.mark.django_db
def test_claiming_a_button_needs_a_product(api, unclaimed):
    before = _state(unclaimed)
    response = _claim(api, claim_code=unclaimed.claim_code)
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "product_required"
    assert list(error["fields"]) == ["product_sku"]
    assert _state(unclaimed) == before


@pytest.mark.parametrize(
    ("body", "code", "field"),
    [
        ({"product_sku": "NOPE-1"}, "unknown_product", "product_sku"),
        ({"quantity": 4}, "bad_quantity", "quantity"),  # product.max_quantity == 3
        ({"quantity": 0}, "invalid", "quantity"),
    ],
)
@pytest.mark.django_db
def test_claim_with_a_bad_binding_is_400_and_changes_nothing(api, product, unclaimed, body, code, field):
    before = _state(unclaimed)
    response = _claim(api, claim_code=unclaimed.claim_code, **{"product_sku": product.sku, **body})
    assert response.status_code == 400
    assert response.json()["error"]["code"] == code
    assert field in response.json()["error"]["fields"]
    assert _state(unclaimed) == before


@pytest.mark.django_db
def test_claim_with_an_inactive_product_is_refused(api, unclaimed):
    retired = ProductFactory(active=False)
    response = _claim(api, claim_code=unclaimed.claim_code, product_sku=retired.sku)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "unknown_product"
    assert Device.objects.get(pk=unclaimed.pk).customer_id is None


@pytest.mark.parametrize("code", ["AAAA-BBBB-CCCC-DDDD", "", "x"])
@pytest.mark.django_db
def test_claim_with_a_wrong_code_is_400(api, product, unclaimed, code):
    before = _state(unclaimed)
    response = _claim(api, claim_code=code, product_sku=product.sku)
    assert response.status_code == 400
    assert response.json()["error"]["code"] in {"bad_claim_code", "invalid"}
    assert "claim_code" in response.json()["error"]["fields"]
    assert _state(unclaimed) == before


@pytest.mark.django_db
def test_claim_of_someone_elses_device_is_bad_claim_code_and_changes_nothing(api, other_customer, product):
    theirs = make_button(customer=other_customer, product=product)
    before = _state(theirs)
    response = _claim(api, claim_code=theirs.claim_code, product_sku=ProductFactory().sku)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "bad_claim_code"
    assert _state(theirs) == before


@pytest.mark.django_db
def test_claiming_your_own_device_again_is_409(api, button, product):
    before = _state(button)
    response = _claim(api, claim_code=button.claim_code, product_sku=product.sku)
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "already_claimed"
    assert _state(button) == before


# --- Listing, updating, pausing, unlinking ----------------------------------------------------


@pytest.mark.django_db
def test_device_list_shows_only_own_devices(api, button, other_customer, product):
    make_button(customer=other_customer, product=product)
    make_button()
    response = api.get("/api/v1/me/devices")
    assert response.status_code == 200
    assert [d["serial"] for d in response.json()] == [button.serial]


@pytest.mark.django_db
def test_device_detail(api, button):
    response = api.get(f"/api/v1/me/devices/{button.serial}")
    assert response.status_code == 200
    assert response.json()["serial"] == button.serial


@pytest.mark.parametrize("paused", [True, False])
@pytest.mark.django_db
def test_pause_and_unpause(api, button, paused):
    Device.objects.filter(pk=button.pk).update(paused=not paused)
    response = api.post(f"/api/v1/me/devices/{button.serial}/{'pause' if paused else 'unpause'}")
    assert response.status_code == 200
    assert response.json()["paused"] is paused
    assert Device.objects.get(pk=button.pk).paused is paused


@pytest.mark.django_db
def test_paused_button_answers_device_paused_until_unpaused(api, button, press):
    api.post(f"/api/v1/me/devices/{button.serial}/pause")
    assert press(button, "evt-1").json()["outcome"] == "device_paused"
    api.post(f"/api/v1/me/devices/{button.serial}/unpause")
    assert press(button, "evt-2").json()["outcome"] == "order_placed"


@pytest.mark.django_db
def test_patch_rebinds_the_button(api, button):
    new_product = ProductFactory(max_quantity=5)
    response = api.patch(
        f"/api/v1/me/devices/{button.serial}", {"product_sku": new_product.sku, "quantity": 4, "name": "Pantry", "hold_seconds": 0}, content_type="application/json"
    )
    assert response.status_code == 200
    device = Device.objects.get(pk=button.pk)
    assert (device.product_id, device.quantity, device.name, device.hold_seconds) == (new_product.pk, 4, "Pantry", 0)
    assert response.json()["product"]["sku"] == new_product.sku


@pytest.mark.django_db
def test_patch_with_a_quantity_over_the_products_maximum_is_400(api, button):
    before = _state(button)
    response = api.patch(f"/api/v1/me/devices/{button.serial}", {"quantity": 4}, content_type="application/json")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "bad_quantity"
    assert _state(button) == before


@pytest.mark.django_db
def test_unlink_returns_the_device_to_unclaimed_with_a_fresh_code(api, customer, button, press):
    press(button, "evt-1")
    old_code = button.claim_code
    response = api.delete(f"/api/v1/me/devices/{button.serial}")
    assert response.status_code == 204
    device = Device.objects.get(pk=button.pk)
    assert (device.customer_id, device.product_id, device.paused, device.claimed_at) == (None, None, False, None)
    assert device.claim_code != old_code
    assert customer.orders.count() == 1  # the orders stay the customer's
    assert press(button, "evt-2").json()["outcome"] == "device_unclaimed"


@pytest.mark.parametrize(
    ("method", "suffix", "body"),
    [
        ("get", "", None),
        ("patch", "", {"name": "Mine now"}),
        ("delete", "", None),
        ("post", "/pause", None),
        ("post", "/unpause", None),
    ],
)
@pytest.mark.django_db
def test_another_customers_device_is_404_and_unchanged(api, other_customer, product, method, suffix, body):
    theirs = make_button(customer=other_customer, product=product)
    before = _state(theirs)
    kwargs = {"data": body, "content_type": "application/json"} if body else {}
    response = getattr(api, method)(f"/api/v1/me/devices/{theirs.serial}{suffix}", **kwargs)
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"
    assert _state(theirs) == before


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("get", "/api/v1/me/devices"),
        ("post", "/api/v1/me/devices/claim"),
        ("get", "/api/v1/me/devices/{serial}"),
        ("delete", "/api/v1/me/devices/{serial}"),
        ("post", "/api/v1/me/devices/{serial}/pause"),
    ],
)
@pytest.mark.django_db
def test_anonymous_is_refused_by_the_device_api(client, button, method, path):
    before = _state(button)
    response = getattr(client, method)(path.format(serial=button.serial))
    # DRF with session authentication first answers 403 (no WWW-Authenticate to offer).
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "unauthorized"
    assert _state(button) == before


# --- The pages ---------------------------------------------------------------------------------


@pytest.fixture
def browser(client, customer):
    client.force_login(customer)
    return client


@pytest.mark.django_db
def test_devices_page_lists_own_devices(browser, button, other_customer, product):
    theirs = make_button(customer=other_customer, product=product)
    response = browser.get("/devices/")
    assert response.status_code == 200
    assert [d.serial for d in response.context["devices"]] == [button.serial]
    assert button.serial in response.content.decode()
    assert theirs.serial not in response.content.decode()


@pytest.mark.django_db
def test_claim_form_links_the_device_and_redirects(browser, customer, product, unclaimed):
    response = browser.post(
        "/devices/", {"claim_code": unclaimed.claim_code.lower(), "product_sku": product.sku, "quantity": 2, "name": "Laundry room"}, follow=True
    )
    assert response.redirect_chain == [("/devices/", 302)]
    device = Device.objects.get(pk=unclaimed.pk)
    assert (device.customer_id, device.product_id, device.quantity, device.name) == (customer.pk, product.pk, 2, "Laundry room")
    assert "Laundry room is linked to your account." in [str(m) for m in response.context["messages"]]


@pytest.mark.django_db
def test_claim_form_with_a_bad_code_shows_the_error(browser, product, unclaimed):
    response = browser.post("/devices/", {"claim_code": "AAAA-BBBB-CCCC-DDDD", "product_sku": product.sku, "quantity": 1})
    assert response.status_code == 200
    assert "doesn&#x27;t match a device" in response.content.decode()
    assert Device.objects.get(pk=unclaimed.pk).customer_id is None


@pytest.mark.django_db
def test_claim_form_without_a_product_for_a_button_shows_the_error(browser, unclaimed):
    response = browser.post("/devices/", {"claim_code": unclaimed.claim_code, "quantity": 1})
    assert response.status_code == 200
    assert response.context["form"].non_field_errors() == ["Choose the product this button orders."]
    assert Device.objects.get(pk=unclaimed.pk).customer_id is None


@pytest.mark.parametrize(("action", "paused"), [("pause", True), ("unpause", False)])
@pytest.mark.django_db
def test_pause_and_unpause_forms(browser, button, action, paused):
    Device.objects.filter(pk=button.pk).update(paused=not paused)
    response = browser.post(f"/devices/{button.serial}/{action}")
    assert response.status_code == 302
    assert response["Location"] == "/devices/"
    assert Device.objects.get(pk=button.pk).paused is paused


@pytest.mark.django_db
def test_unlink_form(browser, button):
    response = browser.post(f"/devices/{button.serial}/unlink")
    assert response.status_code == 302
    assert Device.objects.get(pk=button.pk).customer_id is None


@pytest.mark.parametrize("action", ["pause", "unpause", "unlink"])
@pytest.mark.django_db
def test_device_forms_refuse_get(browser, button, action):
    assert browser.get(f"/devices/{button.serial}/{action}").status_code == 405
    assert _state(button)["customer_id"] is not None


@pytest.mark.parametrize("action", ["pause", "unpause", "unlink"])
@pytest.mark.django_db
def test_device_forms_on_another_customers_device_are_404(browser, other_customer, product, action):
    theirs = make_button(customer=other_customer, product=product)
    before = _state(theirs)
    assert browser.post(f"/devices/{theirs.serial}/{action}").status_code == 404
    assert _state(theirs) == before


@pytest.mark.parametrize(("method", "path"), [("get", "/devices/"), ("post", "/devices/"), ("post", "/devices/{serial}/pause"), ("post", "/devices/{serial}/unlink")])
@pytest.mark.django_db
def test_anonymous_is_sent_to_login_from_device_pages(client, button, method, path):
    before = _state(button)
    url = path.format(serial=button.serial)
    response = getattr(client, method)(url)
    assert response.status_code == 302
    assert response["Location"] == f"/accounts/login/?next={url}"
    assert _state(button) == before
