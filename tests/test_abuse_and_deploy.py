"""Brute force limits (real cache on Redis), /readyz, and `check --deploy` under production env."""

import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings as django_settings

from devices.models import Device
from tests.factories import UserFactory

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def unclaimed_code(db):
    from devices import services

    return services.device_provision(kind="wand").device.claim_code


def test_claim_api_refuses_with_429_after_too_many_wrong_codes_even_for_the_right_one(client, customer, settings, unclaimed_code):
    settings.DASH_CLAIM_FAILS_PER_USER = 3
    client.force_login(customer)
    for _ in range(3):
        response = client.post("/api/v1/me/devices/claim", {"claim_code": "AAAA-BBBB-CCCC-DDDD"}, content_type="application/json")
        assert response.status_code == 400
        assert response.json()["error"]["code"] == "bad_claim_code"
    response = client.post("/api/v1/me/devices/claim", {"claim_code": unclaimed_code}, content_type="application/json")
    assert response.status_code == 429
    assert response.json()["error"]["code"] == "too_many_attempts"
    assert Device.objects.get(claim_code=unclaimed_code).customer_id is None


def test_claim_limit_per_ip_covers_many_accounts_from_one_address(client, settings, unclaimed_code):
    settings.DASH_CLAIM_FAILS_PER_IP = 4
    for i in range(4):
        client.force_login(UserFactory(username=f"guesser{i}"))
        response = client.post("/api/v1/me/devices/claim", {"claim_code": "AAAA-BBBB-CCCC-DDDD"}, content_type="application/json")
        assert response.status_code == 400
    client.force_login(UserFactory(username="guesser-fresh"))
    response = client.post("/api/v1/me/devices/claim", {"claim_code": unclaimed_code}, content_type="application/json")
    assert response.status_code == 429
    # Another address is not affected.
    response = client.post(
        "/api/v1/me/devices/claim", {"claim_code": unclaimed_code}, content_type="application/json", REMOTE_ADDR="10.0.0.9"
    )
    assert response.status_code == 201, response.json()


def test_successful_claims_do_not_count_towards_the_limit(client, customer, settings):
    from devices import services

    settings.DASH_CLAIM_FAILS_PER_USER = 1
    client.force_login(customer)
    for _ in range(3):
        code = services.device_provision(kind="wand").device.claim_code
        response = client.post("/api/v1/me/devices/claim", {"claim_code": code}, content_type="application/json")
        assert response.status_code == 201


def test_claim_page_shows_the_limit_as_a_form_error(client, customer, settings, unclaimed_code):
    settings.DASH_CLAIM_FAILS_PER_USER = 1
    client.force_login(customer)
    client.post("/devices/", {"claim_code": "AAAA-BBBB-CCCC-DDDD", "quantity": 1})
    response = client.post("/devices/", {"claim_code": unclaimed_code, "quantity": 1})
    assert response.status_code == 200
    assert b"Too many wrong claim codes" in response.content
    assert Device.objects.get(claim_code=unclaimed_code).customer_id is None


def test_claim_codes_carry_80_bits():
    from devices.credentials import _ALPHABET, new_claim_code

    code = new_claim_code().replace("-", "")
    assert len(code) == 16 and len(set(_ALPHABET)) == 32  # 32**16 == 2**80


@pytest.mark.django_db
def test_sign_in_is_locked_for_the_account_after_repeated_failures(client, customer):
    for _ in range(5):
        response = client.post("/accounts/login/", {"login": customer.email, "password": "wrong"})
        assert response.status_code == 200
        assert b"Too many failed login attempts" not in response.content
    # Past the per-account limit even the right password is refused for now, with a clear message.
    response = client.post("/accounts/login/", {"login": customer.email, "password": "correct horse battery"})
    assert response.status_code == 200
    assert b"Too many failed login attempts" in response.content
    assert "_auth_user_id" not in client.session


@pytest.mark.django_db
def test_sign_in_attempts_from_one_address_are_limited_with_429(client, customer):
    statuses = [client.post("/accounts/login/", {"login": f"x{i}@example.test", "password": "wrong"}).status_code for i in range(31)]
    assert statuses[:30] == [200] * 30
    assert statuses[30] == 429


@pytest.mark.django_db
def test_password_reset_is_rate_limited_per_address(client, customer):
    statuses = [client.post("/accounts/password/reset/", {"email": customer.email}).status_code for _ in range(7)]
    assert statuses[0] == 302
    assert statuses[-1] == 429


@pytest.mark.django_db
def test_readyz_is_200_with_database_redis_and_all_migrations(client):
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.json() == {"status": "ready", "checks": {"database": "ok", "migrations": "ok", "redis": "ok"}}


@pytest.mark.django_db
def test_readyz_is_503_when_redis_goes_down(client, settings, tmp_path):
    from dash.localstack import start_redis

    redis_proc = start_redis(tmp_path / "redis")
    try:
        settings.REDIS_URL = redis_proc.url
        assert client.get("/readyz").status_code == 200
    finally:
        redis_proc.stop()
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["checks"]["redis"].startswith("error: ")


def test_check_deploy_is_clean_under_production_env():
    env = {
        **os.environ,
        "DASH_DEBUG": "false",
        "DASH_SECRET_KEY": secrets.token_urlsafe(60),
        "DASH_ALLOWED_HOSTS": "dash.example.com",
        "DASH_EMAIL_URL": "smtp://user:pass@mail.example.com:587",
    }
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING", "--tag", "security"],
        check=False,
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_production_pages_carry_csp_and_hsts_headers():
    env = {**os.environ, "DASH_DEBUG": "false", "DASH_SECRET_KEY": secrets.token_urlsafe(60), "DASH_ALLOWED_HOSTS": "dash.example.com"}
    code = (
        "import django;django.setup();from django.test import Client;"
        "r=Client().get('/healthz', HTTP_HOST='dash.example.com', secure=True);"
        "print(r.headers.get('Content-Security-Policy'));print(r.headers.get('Strict-Transport-Security'));"
        "print(Client().get('/accounts/login/', HTTP_HOST='dash.example.com').status_code)"
    )
    env["DJANGO_SETTINGS_MODULE"] = "dash.settings"
    out = subprocess.run([sys.executable, "-c", code], check=False, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.strip().splitlines()
    assert "script-src 'self'" in lines[-3] and "frame-ancestors 'none'" in lines[-3]
    assert lines[-2].startswith("max-age=31536000")
    assert lines[-1] == "301"  # plain http is redirected to https


def test_development_settings_stay_plain_http():
    # The test run uses the development defaults (DASH_DEBUG unset): `make run` stays plain http.
    assert django_settings.SECURE_SSL_REDIRECT is False
    assert django_settings.SESSION_COOKIE_SECURE is False
    assert django_settings.SECURE_HSTS_SECONDS == 0
