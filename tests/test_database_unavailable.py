"""While PostgreSQL restarts (found by `make soak`): the device intake and the customer API
answer 503 with Retry-After, not 500, and the device's retry of the same event has one effect.

Real failures, no mocks: the server ends this process's session (what a restart does to every
open connection), or the connection points at a port where nothing listens (PostgreSQL down)."""

import uuid
from contextlib import contextmanager

import orjson
import psycopg
import pytest
from django.db import connection
from django.test import Client

from dash.localstack import free_port
from devices.models import DeviceEvent
from orders.models import Order, OrderStatus
from tests.device_pool import device_pool_call
from tests.factories import make_order


def _end_this_session() -> None:
    """PostgreSQL ends our connection's backend, as a restart does."""
    connection.ensure_connection()
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        pid = cursor.fetchone()[0]
    s = connection.settings_dict
    with psycopg.connect(
        host=s["HOST"], port=s["PORT"], user=s["USER"], password=s["PASSWORD"], dbname=s["NAME"], autocommit=True
    ) as other:
        other.execute("SELECT pg_terminate_backend(%s)", [pid])


@contextmanager
def _postgres_down():
    """Our connection now leads to a port where nothing listens."""
    connection.close()
    port = connection.settings_dict["PORT"]
    connection.settings_dict["PORT"] = str(free_port())
    try:
        yield
    finally:
        connection.close()
        connection.settings_dict["PORT"] = port


@pytest.mark.django_db(transaction=True)
def test_a_press_whose_session_was_ended_answers_503_and_its_retry_places_one_order(button):
    body = orjson.dumps({"event_id": uuid.uuid4().hex, "type": "press"})
    _end_this_session()

    status, headers, content = device_pool_call("/api/v1/device/events", token=button.token, body=body)

    assert status == 503, content
    assert headers["Retry-After"] == "1"
    assert orjson.loads(content)["error"]["code"] == "unavailable"
    # the device retries the same event: one event, one order
    status, _, content = device_pool_call("/api/v1/device/events", token=button.token, body=body)
    assert status == 201, content
    assert orjson.loads(content)["outcome"] == "order_placed"
    assert DeviceEvent.objects.count() == 1
    assert Order.objects.count() == 1


@pytest.mark.django_db(transaction=True)
def test_a_press_while_postgres_is_down_answers_503_through_the_django_view_too(button, press):
    with _postgres_down():
        response = press(button, "while-down")
    assert response.status_code == 503
    assert response["Retry-After"] == "1"
    assert response.json()["error"]["code"] == "unavailable"
    assert DeviceEvent.objects.count() == 0

    assert press(button, "while-down").status_code == 201
    assert DeviceEvent.objects.count() == 1


@pytest.mark.django_db(transaction=True)
def test_a_customer_cancel_while_postgres_is_down_answers_503_and_changes_nothing(customer, product):
    order = make_order(customer=customer, product=product)
    app = Client()
    login = app.post(
        "/_allauth/app/v1/auth/login", {"email": customer.email, "password": "correct horse battery"}, content_type="application/json"
    )
    token = login.json()["meta"]["session_token"]

    with _postgres_down():
        response = app.post(f"/api/v1/me/orders/{order.public_id}/cancel", HTTP_X_SESSION_TOKEN=token)

    assert response.status_code == 503, response.content
    assert response["Retry-After"] == "2"
    assert response.json()["error"]["code"] == "unavailable"
    order.refresh_from_db()
    assert order.status == OrderStatus.HELD
    assert app.post(f"/api/v1/me/orders/{order.public_id}/cancel", HTTP_X_SESSION_TOKEN=token).status_code == 200
