import pytest

from dash.localstack import free_port


@pytest.mark.django_db
def test_healthz_is_200_when_database_and_redis_answer(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "checks": {"database": "ok", "redis": "ok"}}


@pytest.mark.django_db
def test_healthz_is_503_and_names_redis_when_redis_is_down(client, settings):
    settings.REDIS_URL = f"redis://127.0.0.1:{free_port()}/0"  # nothing listens there
    response = client.get("/healthz")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unhealthy"
    assert body["checks"]["database"] == "ok"
    assert body["checks"]["redis"].startswith("error: ")


@pytest.mark.django_db
def test_openapi_schema_describes_the_device_and_customer_apis(client):
    response = client.get("/api/schema/", {"format": "json"})
    assert response.status_code == 200
    schema = response.json()
    assert schema["info"]["title"] == "Dash API"
    paths = schema["paths"]
    for path in (
        "/api/v1/device/events",
        "/api/v1/device/events/{event_id}",
        "/api/v1/device/orders",
        "/api/v1/device/heartbeat",
        "/api/v1/me/orders",
        "/api/v1/me/devices/claim",
    ):
        assert path in paths, path
    intake = paths["/api/v1/device/events"]["post"]
    assert {"201", "200", "400", "401", "409", "413", "415", "422", "429"} <= set(intake["responses"])
    answer = schema["components"]["schemas"]["DeviceEventAnswer"]
    assert set(answer["properties"]) == {"event_id", "outcome", "detail", "order", "prediction"}
    assert set(answer["required"]) == {"event_id", "outcome", "detail", "order"}  # prediction: slot_status only


@pytest.mark.django_db
def test_openapi_schema_is_served_as_yaml_by_default(client):
    response = client.get("/api/schema/")
    assert response.status_code == 200
    assert b"/api/v1/device/events:" in response.content
