"""Refused intake requests: the error shape, the status, and that nothing was written."""

from datetime import timedelta

import orjson
import pytest
from django.utils import timezone

from devices.models import DeviceEvent
from devices.services import device_revoke_token
from orders.models import Order, OrderEvent
from tests.factories import make_button

ERROR_KEYS = {"code", "detail", "fields"}


def _counts() -> tuple[int, int, int]:
    return Order.objects.count(), OrderEvent.objects.count(), DeviceEvent.objects.count()


def _error(response) -> dict:
    body = response.json()
    assert set(body) == {"error"}
    assert set(body["error"]) == ERROR_KEYS
    assert body["error"]["detail"]
    return body["error"]


@pytest.fixture
def with_history(button, press):
    """One accepted press, so 'nothing changes' is checked against rows that exist."""
    assert press(button, "evt-0").status_code == 201
    return _counts()


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (b"{", None),
        (b"", None),
        (b'{"event_id": "evt-1", "type": "press"', None),
        (b"[1, 2]", None),
        (b'"press"', None),
        (b"null", None),
        (b'{"type": "press"}', "event_id"),
        (b'{"event_id": "", "type": "press"}', "event_id"),
        (orjson.dumps({"event_id": "x" * 65, "type": "press"}), "event_id"),
        (b'{"event_id": "evt 1", "type": "press"}', "event_id"),
        (b'{"event_id": "evt/1", "type": "press"}', "event_id"),
        (b'{"event_id": "evt-1\\n", "type": "press"}', "event_id"),
        ('{"event_id": "évt-1", "type": "press"}'.encode(), "event_id"),
        (b'{"event_id": 12345, "type": "press"}', "event_id"),
        (b'{"event_id": ["evt-1"], "type": "press"}', "event_id"),
        (b'{"event_id": "evt-1"}', "type"),
        (b'{"event_id": "evt-1", "type": "jump"}', "type"),
        (b'{"event_id": "evt-1", "type": "PRESS"}', "type"),
        (b'{"event_id": "evt-1", "type": 1}', "type"),
        (b'{"event_id": "evt-1", "type": "press", "occurred_at": "yesterday"}', "occurred_at"),
        (b'{"event_id": "evt-1", "type": "press", "occurred_at": 1764149400}', "occurred_at"),
        (b'{"event_id": "evt-1", "type": "press", "occurred_at": "2026-13-40T99:00:00Z"}', "occurred_at"),
    ],
)
@pytest.mark.django_db
def test_malformed_event_is_400_and_changes_nothing(button, post_event, with_history, body, field):
    # when
    response = post_event(body, token=button.token)
    # then
    assert response.status_code == 400
    error = _error(response)
    assert error["code"] == "malformed"
    if field is None:
        assert error["fields"] == {}
    else:
        assert list(error["fields"]) == [field]
        assert isinstance(error["fields"][field], list) and error["fields"][field]
    assert _counts() == with_history


@pytest.mark.django_db
def test_every_invalid_field_is_named_at_once(button, post_event):
    response = post_event(b'{"event_id": "no spaces", "type": "jump", "occurred_at": "soon"}', token=button.token)
    assert response.status_code == 400
    assert set(_error(response)["fields"]) == {"event_id", "type", "occurred_at"}


@pytest.mark.parametrize(
    "authorization",
    [None, "", "Device ", "Device dt_not-a-real-token", "Bearer dt_whatever", "Token dt_whatever"],
    ids=["no_header", "empty", "device_no_token", "unknown_token", "bearer", "token_scheme"],
)
@pytest.mark.django_db
def test_missing_or_unknown_token_is_401(client, with_history, authorization):
    headers = {} if authorization is None else {"HTTP_AUTHORIZATION": authorization}
    response = client.post("/api/v1/device/events", {"event_id": "evt-1", "type": "press"}, content_type="application/json", **headers)
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == "Device"
    assert _error(response)["code"] == "unauthorized"
    assert _counts() == with_history


@pytest.mark.django_db
def test_revoked_token_is_401_and_changes_nothing(button, press, with_history):
    device_revoke_token(device_id=button.pk, actor="test")
    response = press(button, "evt-1")
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == "Device"
    assert _error(response)["code"] == "unauthorized"
    assert _counts() == with_history


@pytest.mark.django_db
def test_revoked_token_cannot_replay_its_old_events(button, press, with_history):
    device_revoke_token(device_id=button.pk, actor="test")
    response = press(button, "evt-0")
    assert response.status_code == 401
    assert not response.has_header("Idempotent-Replayed")


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        (b"{", "application/json"),
        (b'{"type": "press"}', "application/json"),
        (b"event_id=evt-1&type=press", "text/plain"),
        (b'{"event_id": "evt-1", "type": "press", "pad": "' + b"x" * 5000 + b'"}', "application/json"),
    ],
    ids=["bad_json", "missing_event_id", "wrong_media_type", "too_large"],
)
@pytest.mark.parametrize("token", ["dt_unknown-token", "revoked"])
@pytest.mark.django_db
def test_authentication_errors_come_before_request_errors(button, post_event, with_history, body, content_type, token):
    if token == "revoked":
        device_revoke_token(device_id=button.pk, actor="test")
        token = button.token
    response = post_event(body, token=token, content_type=content_type)
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == "Device"
    assert _error(response)["code"] == "unauthorized"
    assert _counts() == with_history


def _padded(size: int) -> bytes:
    """A valid press of exactly `size` bytes."""
    head = b'{"event_id":"evt-1","type":"press","pad":"'
    tail = b'"}'
    body = head + b"x" * (size - len(head) - len(tail)) + tail
    assert len(body) == size
    return body


@pytest.mark.django_db
def test_body_over_4096_bytes_is_413_and_changes_nothing(button, post_event, with_history):
    response = post_event(_padded(4097), token=button.token)
    assert response.status_code == 413
    assert _error(response)["code"] == "payload_too_large"
    assert _counts() == with_history


@pytest.mark.django_db
def test_body_of_exactly_4096_bytes_is_accepted(button, post_event):
    response = post_event(_padded(4096), token=button.token)
    assert response.status_code == 201
    assert response.json()["outcome"] == "order_placed"


@pytest.mark.parametrize(
    "content_type",
    ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=xyz", "application/xml", ""],
)
@pytest.mark.django_db
def test_wrong_media_type_is_415_and_changes_nothing(button, post_event, with_history, content_type):
    response = post_event(b'{"event_id": "evt-1", "type": "press"}', token=button.token, content_type=content_type)
    assert response.status_code == 415
    assert _error(response)["code"] == "unsupported_media_type"
    assert _counts() == with_history


@pytest.mark.django_db
def test_form_encoded_press_is_415(client, button, with_history):
    response = client.post("/api/v1/device/events", {"event_id": "evt-1", "type": "press"}, HTTP_AUTHORIZATION=f"Device {button.token}")
    assert response.status_code == 415
    assert _counts() == with_history


@pytest.mark.django_db
def test_json_with_charset_parameter_is_accepted(button, post_event):
    response = post_event(b'{"event_id": "evt-1", "type": "press"}', token=button.token, content_type="application/json; charset=utf-8")
    assert response.status_code == 201


@pytest.mark.parametrize("method", ["get", "put", "patch", "delete"])
@pytest.mark.django_db
def test_other_methods_on_the_intake_are_405(client, button, with_history, method):
    response = getattr(client, method)("/api/v1/device/events", HTTP_AUTHORIZATION=f"Device {button.token}")
    assert response.status_code == 405
    assert response["Allow"] == "POST"
    assert _error(response)["code"] == "method_not_allowed"
    assert _counts() == with_history


@pytest.mark.django_db
def test_presses_past_the_burst_are_429_with_retry_after(settings, button, press):
    # given: a bucket of five that refills slowly enough not to matter during the test
    settings.DASH_DEVICE_BURST = 5
    settings.DASH_DEVICE_RATE_PER_MINUTE = 6
    answers = [press(button, f"evt-{i}") for i in range(5)]
    counts = _counts()
    # when
    sixth = press(button, "evt-5")
    # then
    assert [a.status_code for a in answers] == [201, 200, 200, 200, 200]
    assert sixth.status_code == 429
    assert _error(sixth)["code"] == "throttled"
    retry_after = sixth["Retry-After"]
    assert retry_after.isdigit() and int(retry_after) >= 1
    assert _counts() == counts
    assert not DeviceEvent.objects.filter(event_id="evt-5").exists()


@pytest.mark.django_db
def test_a_throttled_device_may_send_again_when_its_oldest_event_leaves_the_window(settings, button, press):
    # given: five events in a 50 s window (5 per 6/min), the oldest 45 s ago
    settings.DASH_DEVICE_BURST = 5
    settings.DASH_DEVICE_RATE_PER_MINUTE = 6
    for i in range(5):
        press(button, f"evt-{i}")
    DeviceEvent.objects.filter(event_id="evt-0").update(received_at=timezone.now() - timedelta(seconds=45))
    # when
    refused = press(button, "evt-5")
    # then: the slot frees when evt-0 is 50 s old
    assert refused.status_code == 429
    assert 4 <= int(refused["Retry-After"]) <= 6
    DeviceEvent.objects.filter(event_id="evt-0").update(received_at=timezone.now() - timedelta(seconds=51))
    assert press(button, "evt-5").status_code == 200


@pytest.mark.django_db
def test_a_throttled_device_still_gets_its_replays(settings, button, press):
    settings.DASH_DEVICE_BURST = 3
    settings.DASH_DEVICE_RATE_PER_MINUTE = 3
    first = press(button, "evt-0")
    press(button, "evt-1")
    press(button, "evt-2")
    assert press(button, "evt-3").status_code == 429
    replay = press(button, "evt-0")
    assert replay.status_code == 201
    assert replay.content == first.content
    assert replay["Idempotent-Replayed"] == "true"


@pytest.mark.django_db
def test_throttle_off_when_the_rate_is_zero(settings, button, press):
    settings.DASH_DEVICE_BURST = 2
    settings.DASH_DEVICE_RATE_PER_MINUTE = 0
    assert [press(button, f"evt-{i}").status_code for i in range(4)] == [201, 200, 200, 200]


@pytest.mark.django_db
def test_throttle_is_per_device(settings, customer, product, button, press):
    settings.DASH_DEVICE_BURST = 5
    settings.DASH_DEVICE_RATE_PER_MINUTE = 6
    for i in range(6):
        press(button, f"evt-{i}")
    other = make_button(customer=customer, product=product)
    response = press(other, "evt-1")
    assert response.status_code == 200
    assert response.json()["outcome"] == "order_in_progress"


@pytest.mark.django_db
def test_burst_of_twenty_presses_all_get_clean_answers(button, press):
    answers = [press(button, f"evt-{i}") for i in range(20)]
    assert [a.status_code for a in answers] == [201] + [200] * 19
    assert {a.json()["outcome"] for a in answers[1:]} == {"order_in_progress"}
    assert Order.objects.count() == 1
    assert DeviceEvent.objects.count() == 20
