"""/metrics after real events: intake counts by outcome, latency, orders by state, queue depth."""

import re

import pytest

from dash.metrics import _outcome_of


def _sample(text: str, name: str, labels: str = "") -> float:
    m = re.search(rf"^{re.escape(name)}{re.escape(labels)} ([0-9.e+-]+)$", text, re.MULTILINE)
    return float(m.group(1)) if m else 0.0


def _scrape(client, **extra):
    response = client.get("/metrics", **extra)
    assert response.status_code == 200
    return response.content.decode()


def test_metrics_count_intake_by_outcome_and_show_orders_by_state(client, button, press):
    before = _scrape(client)
    placed0 = _sample(before, "dash_intake_events_total", '{outcome="order_placed"}')
    progress0 = _sample(before, "dash_intake_events_total", '{outcome="order_in_progress"}')
    latency0 = _sample(before, "dash_intake_seconds_count")
    assert press(button, "e-1").status_code == 201
    assert press(button, "e-2").status_code in (200, 409)
    press(button, "e-1")  # a replay is answered (and counted) again with the stored outcome
    text = _scrape(client)
    assert _sample(text, "dash_intake_events_total", '{outcome="order_placed"}') == placed0 + 2
    assert _sample(text, "dash_intake_events_total", '{outcome="order_in_progress"}') == progress0 + 1
    assert _sample(text, "dash_intake_seconds_count") == latency0 + 3
    assert _sample(text, "dash_orders", '{state="held"}') == 1
    assert 'dash_queue_depth{queue="celery"}' in text
    assert "dash_commerce_retries 0.0" in text
    assert 'dash_release_lateness_seconds{quantile="0.99"}' in text


@pytest.mark.django_db
def test_metrics_count_refusals_by_error_code(client, post_event):
    before = _sample(_scrape(client), "dash_intake_events_total", '{outcome="unauthorized"}')
    assert post_event(b"{}", token=None).status_code == 401
    assert _sample(_scrape(client), "dash_intake_events_total", '{outcome="unauthorized"}') == before + 1


@pytest.mark.django_db
def test_metrics_refuse_other_addresses_without_the_token(client, settings):
    settings.DASH_METRICS_TOKEN = "s3cret-metrics"
    assert client.get("/metrics", REMOTE_ADDR="10.1.2.3").status_code == 403
    assert client.get("/metrics", REMOTE_ADDR="10.1.2.3", HTTP_AUTHORIZATION="Bearer wrong").status_code == 403
    assert client.get("/metrics", REMOTE_ADDR="10.1.2.3", HTTP_AUTHORIZATION="Bearer s3cret-metrics").status_code == 200


def test_outcome_is_read_from_the_compact_answer():
    assert _outcome_of(b'{"event_id":"x","outcome":"order_placed","detail":"d"}', 201) == "order_placed"
    assert _outcome_of(b'{"error":{"code":"throttled","detail":"x"}}', 429) == "throttled"
    assert _outcome_of(b"", 500) == "500"
