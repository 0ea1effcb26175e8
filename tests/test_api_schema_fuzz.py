"""Schemathesis over /api/schema/: every operation, with each kind of credential, gets
generated (valid and invalid) requests through the WSGI app; no answer may be a 500 and
every answer must match what the schema says (status code, content type, body)."""

import pytest
import schemathesis
from allauth.account.models import EmailAddress
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from django.test import Client
from hypothesis import HealthCheck, settings
from schemathesis.specs.openapi import checks as openapi_checks

from dash.wsgi import application, device_application
from partners.models import PartnerMembership
from partners.services import partner_api_token_issue
from tests.factories import PartnerFactory, ProductFactory, UserFactory, make_appliance, make_button, make_order, make_wand

schema = schemathesis.openapi.from_wsgi("/api/schema/?format=json", application)
# The device routes are served by their own pool in production: fuzz them through it too.
device_schema = schemathesis.openapi.from_wsgi("/api/schema/?format=json", application).include(path_regex="^/api/v1/device/")
device_schema.app = device_application

# The brief is "no 500 and every answer matching the schema": server errors, status codes,
# content types, headers and bodies. Left out: schemathesis' opinions beyond the schema (an
# unauthenticated TRACE is 401 before DRF looks at the method; a schema-valid body the service
# rejects on business rules is a 400, as it should be; ...).
NOT_CHECKED = [
    openapi_checks.negative_data_rejection,
    openapi_checks.positive_data_acceptance,
    openapi_checks.unsupported_method,
    openapi_checks.ignored_auth,
    openapi_checks.use_after_free,
    openapi_checks.ensure_resource_availability,
]
CREDENTIALS = ["anonymous", "device", "customer_app_token", "partner_token"]
FUZZ = settings(max_examples=20, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True, database=None)


@pytest.fixture
def keep_db_connection(world):
    """Calling the WSGI app directly (not through django.test.Client) would close the test's
    connection at the end of each request, as a server does; keep it open, as the Client does
    (after `world`: django.test.Client reconnects the receivers after each of its requests)."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@pytest.fixture
def world(db):
    """A customer with a button, appliance and wand, a held order, and a partner with a token."""
    partner = PartnerFactory()
    product = ProductFactory(partner=partner)
    customer = UserFactory()
    EmailAddress.objects.create(user=customer, email=customer.email, verified=True, primary=True)
    button = make_button(customer=customer, product=product)
    make_appliance(customer=customer)
    make_wand(customer=customer)
    make_order(customer=customer, product=product, device_serial=button.serial)
    member = UserFactory()
    PartnerMembership.objects.create(user=member, partner=partner, role=PartnerMembership.Role.ADMIN)
    issued = partner_api_token_issue(partner=partner, user=member, name="fuzz")
    login = Client().post(
        "/_allauth/app/v1/auth/login", {"email": customer.email, "password": "correct horse battery"}, content_type="application/json"
    )
    assert login.status_code == 200, login.content
    return {
        "anonymous": {},
        "device": {"Authorization": f"Device {button.token}"},
        "customer_app_token": {"X-Session-Token": login.json()["meta"]["session_token"]},
        "partner_token": {"Authorization": f"Bearer {issued.secret}"},
    }


@pytest.mark.parametrize("credential", CREDENTIALS)
@schema.parametrize()
@FUZZ
def test_every_operation_answers_within_its_schema(case, credential, world, keep_db_connection):
    case.call_and_validate(headers=world[credential], excluded_checks=NOT_CHECKED)


@pytest.mark.parametrize("credential", ["anonymous", "device"])
@device_schema.parametrize()
@FUZZ
def test_device_pool_answers_within_the_schema(case, credential, world, keep_db_connection):
    case.call_and_validate(headers=world[credential], excluded_checks=NOT_CHECKED)


@pytest.mark.django_db
def test_an_unrouted_api_path_answers_the_json_error_shape_and_a_page_path_html(client):
    api = client.get("/api/v1/me/devices/a/b/c/d")
    assert api.status_code == 404
    assert api.json() == {"error": {"code": "not_found", "detail": "Not found.", "fields": {}}}
    page = client.get("/no-such-page")
    assert page.status_code == 404
    assert page["Content-Type"].startswith("text/html")
