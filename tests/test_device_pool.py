"""The device API pool (`dash.wsgi:device_application`) serves the device routes through a
short middleware chain, and nothing else."""

import uuid

import orjson
import pytest

from tests.device_pool import device_pool_call


@pytest.mark.django_db(transaction=True)
def test_the_device_pool_answers_a_press_with_a_content_length(button):
    body = orjson.dumps({"event_id": uuid.uuid4().hex, "type": "press"})
    status, headers, content = device_pool_call("/api/v1/device/events", token=button.token, body=body)
    assert status == 201
    assert headers["Content-Length"] == str(len(content))
    assert orjson.loads(content)["outcome"] == "order_placed"


@pytest.mark.django_db
@pytest.mark.parametrize("path", ["/admin/", "/orders/", "/api/v1/me/orders", "/api/schema/"])
def test_the_device_pool_serves_nothing_but_the_device_api(path):
    status, _, _ = device_pool_call(path, method="GET")
    assert status == 404


@pytest.mark.django_db(transaction=True)  # a real request cycle: the handler manages the connection
def test_the_device_pool_answers_health_checks():
    status, _, content = device_pool_call("/healthz", method="GET")
    assert status == 200, content
    assert orjson.loads(content)["checks"] == {"database": "ok", "redis": "ok"}


@pytest.mark.django_db(transaction=True)
def test_the_direct_route_and_the_django_view_give_the_same_answer(button, client):
    # given an event answered by the device pool's direct route
    body = orjson.dumps({"event_id": "evt-same", "type": "press"})
    status, _, content = device_pool_call("/api/v1/device/events", token=button.token, body=body)
    # when the device retries it through the full site's view
    replay = client.post("/api/v1/device/events", body, content_type="application/json", HTTP_AUTHORIZATION=f"Device {button.token}")
    # then it is the same answer, byte for byte
    assert (replay.status_code, replay.content) == (status, content)
    assert replay["Idempotent-Replayed"] == "true"


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    ("body", "token", "status", "code"),
    [
        (b"{", "valid", 400, "malformed"),
        (b'{"event_id": "e1", "type": "press"}', None, 401, "unauthorized"),
        (b'{"event_id": "e1", "type": "press"}', "dt_unknown", 401, "unauthorized"),
        (b"x" * 5000, "valid", 413, "payload_too_large"),
    ],
)
def test_the_direct_route_refuses_bad_requests_with_the_error_shape(button, body, token, status, code):
    answer_status, headers, content = device_pool_call("/api/v1/device/events", token=button.token if token == "valid" else token, body=body)
    assert answer_status == status
    assert orjson.loads(content)["error"]["code"] == code
    if status == 401:
        assert headers["WWW-Authenticate"] == "Device"
