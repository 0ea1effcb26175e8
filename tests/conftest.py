"""Shared fixtures. The suite runs on PostgreSQL and Redis started by `make test`
(python -m dash.localstack run -- pytest ...)."""

import os

import pytest
from django.core.cache import cache

from tests.factories import ProductFactory, UserFactory, make_button


def pytest_configure(config):
    url = os.environ.get("DATABASE_URL", "")
    if not url.startswith("postgres"):
        raise pytest.UsageError("The suite runs on PostgreSQL: use `make test` (it starts one), or set DATABASE_URL.")


@pytest.fixture(autouse=True)
def _clean_redis():
    """Throttle buckets and cache entries never leak from one test into the next."""
    yield
    import redis
    from django.conf import settings

    redis.Redis.from_url(settings.REDIS_URL).flushdb()
    cache.clear()


@pytest.fixture
def customer(db):
    return UserFactory(username="alice", email="alice@example.test")


@pytest.fixture
def other_customer(db):
    return UserFactory(username="bob", email="bob@example.test")


@pytest.fixture
def product(db):
    return ProductFactory(name="Laundry Pods", price="12.49", max_quantity=3)


@pytest.fixture
def button(customer, product):
    return make_button(customer=customer, product=product)


@pytest.fixture
def press(client):
    """POST a press to the device API through Django's test client."""

    def _press(device, event_id: str, **extra):
        body = {"event_id": event_id, "type": "press", **extra}
        return client.post("/api/v1/device/events", body, content_type="application/json", HTTP_AUTHORIZATION=f"Device {device.token}")

    return _press
