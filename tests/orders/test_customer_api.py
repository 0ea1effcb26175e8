"""The customer's orders: the API (/api/v1/me/orders, session or allauth app token) and the
plain page (/orders/)."""

import uuid

import pytest
from allauth.account.models import EmailAddress
from django.test import Client

from orders.models import Order, OrderStatus
from orders.services import order_release
from tests.factories import ProductFactory, make_order

ORDER_KEYS = {
    "id", "status", "product", "quantity", "unit_price", "total", "source", "device_serial",
    "hold_until", "version", "created_at", "timeline", "filtered_presses",
}  # fmt: skip


def _state(order) -> dict:
    return Order.objects.values("status", "version", "hold_until", "released_at").get(pk=order.pk) | {"events": order.events.count()}


@pytest.fixture
def api(client, customer):
    client.force_login(customer)
    return client


@pytest.fixture
def held(customer, product):
    return make_order(customer=customer, product=product, quantity=2, device_serial="BTN-KITCHEN")


@pytest.fixture
def theirs(other_customer, product):
    return make_order(customer=other_customer, product=product)


# --- The API ---------------------------------------------------------------------------------


@pytest.mark.django_db
def test_my_orders_lists_only_my_orders_newest_first(api, customer, held, theirs):
    older = make_order(customer=customer, product=ProductFactory())
    Order.objects.filter(pk=older.pk).update(created_at=held.created_at.replace(year=2020))
    response = api.get("/api/v1/me/orders")
    assert response.status_code == 200
    assert [o["id"] for o in response.json()] == [str(held.public_id), str(older.public_id)]


@pytest.mark.django_db
def test_my_order_has_the_documented_fields(api, held, product):
    body = api.get("/api/v1/me/orders").json()[0]
    assert set(body) == ORDER_KEYS
    assert body["product"] == {"sku": product.sku, "name": "Laundry Pods"}
    assert (body["status"], body["quantity"], body["unit_price"], body["total"]) == ("held", 2, "12.49", "24.98")
    assert (body["source"], body["device_serial"], body["version"]) == ("button", "BTN-KITCHEN", 1)
    assert [(e["from_status"], e["to_status"], e["actor"]) for e in body["timeline"]] == [("", "held", "device:BTN-KITCHEN")]


@pytest.mark.django_db
def test_in_progress_filter_leaves_out_finished_orders(api, customer, held, theirs):
    finished = make_order(customer=customer, product=ProductFactory())
    api.post(f"/api/v1/me/orders/{finished.public_id}/cancel")
    releasing = make_order(customer=customer, product=ProductFactory())
    order_release(order_id=releasing.pk, actor="system")
    response = api.get("/api/v1/me/orders", {"status": "in_progress"})
    assert response.status_code == 200
    assert {o["id"] for o in response.json()} == {str(held.public_id), str(releasing.public_id)}
    assert {o["id"] for o in api.get("/api/v1/me/orders").json()} == {str(held.public_id), str(releasing.public_id), str(finished.public_id)}


@pytest.mark.django_db
def test_my_order_detail(api, held):
    response = api.get(f"/api/v1/me/orders/{held.public_id}")
    assert response.status_code == 200
    assert response.json()["id"] == str(held.public_id)
    assert response.json()["status"] == "held"


@pytest.mark.django_db
def test_approve_releases_the_order_and_returns_it(api, held):
    response = api.post(f"/api/v1/me/orders/{held.public_id}/approve")
    assert response.status_code == 200
    body = response.json()
    assert (body["id"], body["status"], body["version"]) == (str(held.public_id), "releasing", 2)
    assert [e["to_status"] for e in body["timeline"]] == ["held", "releasing"]
    held.refresh_from_db()
    assert held.status == OrderStatus.RELEASING


@pytest.mark.django_db
def test_cancel_removes_the_order_and_returns_it(api, held):
    response = api.post(f"/api/v1/me/orders/{held.public_id}/cancel")
    assert response.status_code == 200
    assert (response.json()["status"], response.json()["version"]) == ("cancelled", 2)
    held.refresh_from_db()
    assert held.status == OrderStatus.CANCELLED


@pytest.mark.parametrize(("action", "code"), [("approve", "not_held"), ("cancel", "not_cancellable")])
@pytest.mark.django_db
def test_action_on_an_order_in_the_wrong_state_is_409(api, held, action, code):
    order_release(order_id=held.pk, actor="system")
    before = _state(held)
    response = api.post(f"/api/v1/me/orders/{held.public_id}/{action}")
    assert response.status_code == 409
    error = response.json()["error"]
    assert (error["code"], error["fields"]) == (code, {})
    assert error["detail"]
    assert _state(held) == before


@pytest.mark.parametrize(("method", "suffix"), [("get", ""), ("post", "/approve"), ("post", "/cancel")])
@pytest.mark.django_db
def test_another_customers_order_is_404_and_unchanged(api, theirs, method, suffix):
    before = _state(theirs)
    response = getattr(api, method)(f"/api/v1/me/orders/{theirs.public_id}{suffix}")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"
    assert _state(theirs) == before


@pytest.mark.parametrize(("method", "suffix"), [("get", ""), ("post", "/approve"), ("post", "/cancel")])
@pytest.mark.django_db
def test_unknown_order_is_404(api, method, suffix):
    response = getattr(api, method)(f"/api/v1/me/orders/{uuid.uuid4()}{suffix}")
    assert response.status_code == 404


@pytest.mark.parametrize(
    ("method", "path"),
    [("get", "/api/v1/me/orders"), ("get", "/api/v1/me/orders/{id}"), ("post", "/api/v1/me/orders/{id}/approve"), ("post", "/api/v1/me/orders/{id}/cancel")],
)
@pytest.mark.django_db
def test_anonymous_is_refused_by_the_order_api(client, held, method, path):
    before = _state(held)
    response = getattr(client, method)(path.format(id=held.public_id))
    assert response.status_code == 403  # session authentication offers no WWW-Authenticate
    assert response.json()["error"]["code"] == "unauthorized"
    assert _state(held) == before


@pytest.mark.django_db
def test_app_session_token_from_allauth_headless_login_works(customer, held, theirs):
    # given: a verified email address, as allauth expects for email login
    EmailAddress.objects.create(user=customer, email=customer.email, verified=True, primary=True)
    app = Client()
    login = app.post("/_allauth/app/v1/auth/login", {"email": customer.email, "password": "correct horse battery"}, content_type="application/json")
    assert login.status_code == 200, login.content
    token = login.json()["meta"]["session_token"]
    # when: a fresh client (no cookies) sends only the token
    response = Client().get("/api/v1/me/orders", HTTP_X_SESSION_TOKEN=token)
    # then
    assert response.status_code == 200
    assert [o["id"] for o in response.json()] == [str(held.public_id)]


@pytest.mark.django_db
def test_session_api_writes_need_a_csrf_token(customer, held):
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(customer)
    response = browser.post(f"/api/v1/me/orders/{held.public_id}/approve")
    assert response.status_code == 403
    assert "CSRF" in response.json()["error"]["detail"]
    assert _state(held)["status"] == "held"


@pytest.mark.django_db
def test_app_token_writes_need_no_csrf_token(customer, held):
    EmailAddress.objects.create(user=customer, email=customer.email, verified=True, primary=True)
    app = Client(enforce_csrf_checks=True)
    login = app.post("/_allauth/app/v1/auth/login", {"email": customer.email, "password": "correct horse battery"}, content_type="application/json")
    token = login.json()["meta"]["session_token"]
    response = Client(enforce_csrf_checks=True).post(f"/api/v1/me/orders/{held.public_id}/cancel", HTTP_X_SESSION_TOKEN=token)
    assert response.status_code == 200
    assert response.json()["status"] == "cancelled"


@pytest.mark.django_db
def test_app_login_with_a_wrong_password_gives_no_token(customer):
    EmailAddress.objects.create(user=customer, email=customer.email, verified=True, primary=True)
    login = Client().post("/_allauth/app/v1/auth/login", {"email": customer.email, "password": "wrong"}, content_type="application/json")
    assert login.status_code == 400
    assert "session_token" not in login.json().get("meta", {})


@pytest.mark.django_db
def test_an_invalid_session_token_is_anonymous(held):
    response = Client().get("/api/v1/me/orders", HTTP_X_SESSION_TOKEN="not-a-session")
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "unauthorized"


# --- The page ---------------------------------------------------------------------------------


@pytest.fixture
def browser(client, customer):
    client.force_login(customer)
    return client


@pytest.mark.django_db
def test_orders_page_groups_my_orders(browser, customer, held, theirs):
    on_the_way = make_order(customer=customer, product=ProductFactory())
    order_release(order_id=on_the_way.pk, actor="system")
    response = browser.get("/orders/")
    assert response.status_code == 200
    assert [o.pk for o in response.context["held"]] == [held.pk]
    assert [o.pk for o in response.context["on_the_way"]] == [on_the_way.pk]
    assert response.context["history"] == []
    assert f"/orders/{held.public_id}/approve" in response.content.decode()
    assert str(theirs.public_id) not in response.content.decode()


@pytest.mark.parametrize(("action", "status", "message"), [("approve", "releasing", "Approved"), ("cancel", "cancelled", "Removed")])
@pytest.mark.django_db
def test_order_forms_act_and_redirect(browser, held, action, status, message):
    response = browser.post(f"/orders/{held.public_id}/{action}", follow=True)
    assert response.redirect_chain == [("/orders/", 302)]
    held.refresh_from_db()
    assert held.status == status
    assert [str(m).split(":")[0] for m in response.context["messages"]] == [message]


@pytest.mark.parametrize("action", ["approve", "cancel"])
@pytest.mark.django_db
def test_order_form_in_the_wrong_state_shows_an_error_and_changes_nothing(browser, held, action):
    order_release(order_id=held.pk, actor="system")
    before = _state(held)
    response = browser.post(f"/orders/{held.public_id}/{action}", follow=True)
    assert response.redirect_chain == [("/orders/", 302)]
    assert [m.level_tag for m in response.context["messages"]] == ["error"]
    assert _state(held) == before


@pytest.mark.parametrize("action", ["approve", "cancel"])
@pytest.mark.django_db
def test_order_forms_on_another_customers_order_are_404(browser, theirs, action):
    before = _state(theirs)
    assert browser.post(f"/orders/{theirs.public_id}/{action}").status_code == 404
    assert _state(theirs) == before


@pytest.mark.parametrize("action", ["approve", "cancel"])
@pytest.mark.django_db
def test_order_forms_refuse_get(browser, held, action):
    assert browser.get(f"/orders/{held.public_id}/{action}").status_code == 405
    assert _state(held)["status"] == "held"


@pytest.mark.parametrize(("method", "path"), [("get", "/orders/"), ("post", "/orders/{id}/approve"), ("post", "/orders/{id}/cancel")])
@pytest.mark.django_db
def test_anonymous_is_sent_to_login_from_order_pages(client, held, method, path):
    before = _state(held)
    url = path.format(id=held.public_id)
    response = getattr(client, method)(url)
    assert response.status_code == 302
    assert response["Location"] == f"/accounts/login/?next={url}"
    assert _state(held) == before
