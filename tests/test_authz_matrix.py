"""Who may reach what: every route of the project against every kind of principal, with the
exact status each one gets. Every URL is requested with customer A's (or partner A's) objects
in it, so the columns for B show what a stranger gets. The routes come from the URL resolver:
a new route without a row here fails `test_every_route_has_a_row`.

Principals: anonymous; customers A and B (session); partner users A and B (members, admin
role, session); staff (session); the device tokens of A's and B's buttons; A's revoked device
token; partner A's API token; partner A's revoked API token.
"""

import pytest
from allauth.account.models import EmailAddress
from django.db import transaction
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver

from devices.models import ApplianceSlot, DeviceEvent
from devices.services import device_revoke_token
from partners.models import PartnerMembership
from partners.services import partner_api_token_issue, partner_api_token_revoke
from tests.factories import PartnerFactory, ProductFactory, UserFactory, make_appliance, make_button, make_voice_clip, make_wand

P = ("anon", "cust_a", "cust_b", "part_a", "part_b", "staff", "dev_a", "dev_b", "dev_revoked", "ptok_a", "ptok_revoked")

# Third-party route trees: one representative row each (below), not every route they hold.
THIRD_PARTY_PREFIXES = ("admin/", "accounts/", "_allauth/")


@pytest.fixture
def world(db, client):
    pa, pb = PartnerFactory(slug="brand-a"), PartnerFactory(slug="brand-b")
    prod_a, prod_a2, prod_b = ProductFactory(partner=pa), ProductFactory(partner=pa), ProductFactory(partner=pb)
    cust_a, cust_b = UserFactory(username="cust-a"), UserFactory(username="cust-b")
    for user in (cust_a, cust_b):
        EmailAddress.objects.create(user=user, email=user.email, verified=True, primary=True)
    part_a, part_b = UserFactory(username="part-a"), UserFactory(username="part-b")
    PartnerMembership.objects.create(user=part_a, partner=pa, role=PartnerMembership.Role.ADMIN)
    PartnerMembership.objects.create(user=part_b, partner=pb, role=PartnerMembership.Role.ADMIN)
    staff = UserFactory(username="staff", is_staff=True, is_superuser=True)
    btn_a, btn_b = make_button(customer=cust_a, product=prod_a), make_button(customer=cust_b, product=prod_b)
    revoked = make_button(customer=cust_a, product=prod_a2)
    device_revoke_token(device_id=revoked.pk, actor="test")
    washer_a = make_appliance(customer=cust_a)
    ApplianceSlot.objects.create(device=washer_a, name="detergent", product=prod_a2, capacity=1000, reorder_threshold=100)
    wand_a = make_wand(customer=cust_a)
    clip_a = make_voice_clip(device=wand_a, products=[prod_a2])
    # A's press: A's held order, and an event A's button can look up.
    press = client.post(
        "/api/v1/device/events",
        {"event_id": "evt-a", "type": "press"},
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Device {btn_a.token}",
    )
    assert press.status_code == 201, press.content
    order_a = DeviceEvent.objects.get(device=btn_a, event_id="evt-a").order
    token_a = partner_api_token_issue(partner=pa, user=part_a, name="a")
    token_gone = partner_api_token_issue(partner=pa, user=part_a, name="gone")
    partner_api_token_revoke(partner=pa, token_id=token_gone.token.pk, user=part_a)
    users = {"cust_a": cust_a, "cust_b": cust_b, "part_a": part_a, "part_b": part_b, "staff": staff}
    headers = {
        "dev_a": {"HTTP_AUTHORIZATION": f"Device {btn_a.token}"},
        "dev_b": {"HTTP_AUTHORIZATION": f"Device {btn_b.token}"},
        "dev_revoked": {"HTTP_AUTHORIZATION": f"Device {revoked.token}"},
        "ptok_a": {"HTTP_AUTHORIZATION": f"Bearer {token_a.secret}"},
        "ptok_revoked": {"HTTP_AUTHORIZATION": f"Bearer {token_gone.secret}"},
    }
    return {
        "users": users,
        "headers": headers,
        "order": order_a.public_id,
        "button": btn_a.serial,
        "washer": washer_a.serial,
        "clip": clip_a.public_id,
        "sku": prod_a.sku,
        "token_id": token_a.token.pk,
        "claim_code": make_button().claim_code,
    }


def _client(world, principal) -> tuple[Client, dict]:
    client = Client()
    if principal in world["users"]:
        client.force_login(world["users"][principal])
    return client, world["headers"].get(principal, {})


# (route name, method, path with A's objects, JSON body or None)
def _routes(w):
    o, b, s, c = w["order"], w["button"], w["washer"], w["clip"]
    slot_form = {"capacity": 500, "reorder_threshold": 50, "quantity": 1, "product_sku": w["sku"]}
    return {
        "root": ("GET", "/", None),
        "healthz": ("GET", "/healthz", None),
        "readyz": ("GET", "/readyz", None),
        "metrics": ("GET", "/metrics", None),  # the test client calls from loopback: allowed without a token
        "schema": ("GET", "/api/schema/", None),
        "admin": ("GET", "/admin/", None),
        "account_login": ("GET", "/accounts/login/", None),
        "headless_session": ("GET", "/_allauth/app/v1/auth/session", None),
        # device API
        "device-event-create": ("POST", "/api/v1/device/events", {"event_id": "evt-matrix", "type": "press"}),
        "device-event-detail": ("GET", "/api/v1/device/events/evt-a", None),
        "device-orders": ("GET", "/api/v1/device/orders", None),
        "device-heartbeat": ("POST", "/api/v1/device/heartbeat", {"battery": 90}),
        # customer API
        "my-orders": ("GET", "/api/v1/me/orders", None),
        "my-order-detail": ("GET", f"/api/v1/me/orders/{o}", None),
        "my-order-approve": ("POST", f"/api/v1/me/orders/{o}/approve", None),
        "my-order-cancel": ("POST", f"/api/v1/me/orders/{o}/cancel", None),
        "my-devices": ("GET", "/api/v1/me/devices", None),
        "my-device-claim": ("POST", "/api/v1/me/devices/claim", {"claim_code": w["claim_code"], "product_sku": w["sku"]}),
        "my-device-detail": ("GET", f"/api/v1/me/devices/{b}", None),
        "my-device-pause": ("POST", f"/api/v1/me/devices/{b}/pause", None),
        "my-device-unpause": ("POST", f"/api/v1/me/devices/{b}/unpause", None),
        "my-device-slots": ("GET", f"/api/v1/me/devices/{s}/slots", None),
        "my-device-slot": ("GET", f"/api/v1/me/devices/{s}/slots/detergent", None),
        "my-device-slot-order": ("POST", f"/api/v1/me/devices/{s}/slots/detergent/order", None),
        "my-voice-clips": ("GET", "/api/v1/me/voice", None),
        "my-voice-clip-confirm": ("POST", f"/api/v1/me/voice/{c}/confirm", None),
        "my-voice-clip-choose": ("POST", f"/api/v1/me/voice/{c}/choose", {"sku": w["sku"]}),
        "my-voice-clip-discard": ("POST", f"/api/v1/me/voice/{c}/discard", None),
        "my-voice-clip-audio": ("GET", f"/api/v1/me/voice/{c}/audio", None),
        "commerce-events": ("POST", "/api/v1/commerce/events", {}),
        # partner API
        "partner-totals": ("GET", "/api/v1/partner/figures/totals", None),
        "partner-daily": ("GET", "/api/v1/partner/figures/daily", None),
        "partner-heatmap": ("GET", "/api/v1/partner/figures/heatmap", None),
        "partner-sources": ("GET", "/api/v1/partner/figures/sources", None),
        "partner-products": ("GET", "/api/v1/partner/figures/products", None),
        "partner-reorders": ("GET", "/api/v1/partner/figures/reorders", None),
        "partner-unmet-demand": ("GET", "/api/v1/partner/figures/unmet-demand", None),
        # customer pages
        "orders": ("GET", "/orders/", None),
        "order-approve": ("POST", f"/orders/{o}/approve", None),
        "order-cancel": ("POST", f"/orders/{o}/cancel", None),
        "settings": ("GET", "/settings/", None),
        "devices": ("GET", "/devices/", None),
        "device-pause": ("POST", f"/devices/{b}/pause", None),
        "device-unpause": ("POST", f"/devices/{b}/unpause", None),
        "device-unlink": ("POST", f"/devices/{b}/unlink", None),
        "device-edit": ("POST", f"/devices/{b}/edit", None),
        "device-slot-add": ("POST", f"/devices/{s}/slots", {"name": "softener", **slot_form}),
        "device-slot-change": ("POST", f"/devices/{s}/slots/detergent", slot_form),
        "device-slot-remove": ("POST", f"/devices/{s}/slots/detergent/remove", None),
        "device-slot-order": ("POST", f"/devices/{s}/slots/detergent/order", None),
        "voice-clip-audio": ("GET", f"/devices/voice/{c}/audio", None),
        "voice-clip-confirm": ("POST", f"/devices/voice/{c}/confirm", None),
        "voice-clip-choose": ("POST", f"/devices/voice/{c}/choose", None),
        "voice-clip-discard": ("POST", f"/devices/voice/{c}/discard", None),
        # partner portal
        "partners": ("GET", "/partners/", None),
        "partner-overview": ("GET", "/partners/brand-a/", None),
        "partner-product": ("GET", f"/partners/brand-a/products/{w['sku']}/", None),
        "partner-export": ("GET", "/partners/brand-a/export/daily.csv", None),
        "partner-tokens": ("GET", "/partners/brand-a/api-tokens/", None),
        "partner-token-revoke": ("POST", f"/partners/brand-a/api-tokens/{w['token_id']}/revoke", None),
    }


def _request(world, route: str, principal: str) -> int:
    method, path, body = _routes(world)[route]
    client, headers = _client(world, principal)
    if method == "GET":
        return client.get(path, **headers).status_code
    if body is None:
        return client.post(path, **headers).status_code
    if path.startswith("/api/"):
        return client.post(path, body, content_type="application/json", **headers).status_code
    return client.post(path, body, **headers).status_code  # the pages take forms


# The exact status per principal. 302 = to the login page (or, for a page the user may use,
# back to it); 403/401 = DRF's answer without usable credentials (session auth comes first on
# the customer API, so no WWW-Authenticate and 403); 404 = not yours, indistinguishable from absent.
# fmt: off
MATRIX = {
    #                             anon cusA cusB prtA prtB stf  devA devB dRev tokA tRev
    "root":                       (302, 302, 302, 302, 302, 302, 302, 302, 302, 302, 302),
    "healthz":                    (200, 200, 200, 200, 200, 200, 200, 200, 200, 200, 200),
    "readyz":                     (200, 200, 200, 200, 200, 200, 200, 200, 200, 200, 200),
    "metrics":                    (200, 200, 200, 200, 200, 200, 200, 200, 200, 200, 200),
    "schema":                     (200, 200, 200, 200, 200, 200, 200, 200, 200, 200, 200),
    "admin":                      (302, 302, 302, 302, 302, 200, 302, 302, 302, 302, 302),
    "account_login":              (200, 302, 302, 302, 302, 302, 200, 200, 200, 200, 200),
    "headless_session":           (401, 401, 401, 401, 401, 401, 401, 401, 401, 401, 401),
    "device-event-create":        (401, 401, 401, 401, 401, 401, 200, 201, 401, 401, 401),
    "device-event-detail":        (401, 401, 401, 401, 401, 401, 200, 404, 401, 401, 401),
    "device-orders":              (401, 401, 401, 401, 401, 401, 200, 200, 401, 401, 401),
    "device-heartbeat":           (401, 401, 401, 401, 401, 401, 200, 200, 401, 401, 401),
    "my-orders":                  (403, 200, 200, 200, 200, 200, 403, 403, 403, 403, 403),
    "my-order-detail":            (403, 200, 404, 404, 404, 404, 403, 403, 403, 403, 403),
    "my-order-approve":           (403, 200, 404, 404, 404, 404, 403, 403, 403, 403, 403),
    "my-order-cancel":            (403, 200, 404, 404, 404, 404, 403, 403, 403, 403, 403),
    "my-devices":                 (403, 200, 200, 200, 200, 200, 403, 403, 403, 403, 403),
    "my-device-claim":            (403, 201, 201, 201, 201, 201, 403, 403, 403, 403, 403),
    "my-device-detail":           (403, 200, 404, 404, 404, 404, 403, 403, 403, 403, 403),
    "my-device-pause":            (403, 200, 404, 404, 404, 404, 403, 403, 403, 403, 403),
    "my-device-unpause":          (403, 200, 404, 404, 404, 404, 403, 403, 403, 403, 403),
    "my-device-slots":            (403, 200, 404, 404, 404, 404, 403, 403, 403, 403, 403),
    "my-device-slot":             (403, 200, 404, 404, 404, 404, 403, 403, 403, 403, 403),
    "my-device-slot-order":       (403, 200, 404, 404, 404, 404, 403, 403, 403, 403, 403),
    "my-voice-clips":             (403, 200, 200, 200, 200, 200, 403, 403, 403, 403, 403),
    "my-voice-clip-confirm":      (403, 200, 404, 404, 404, 404, 403, 403, 403, 403, 403),
    "my-voice-clip-choose":       (403, 200, 404, 404, 404, 404, 403, 403, 403, 403, 403),
    "my-voice-clip-discard":      (403, 200, 404, 404, 404, 404, 403, 403, 403, 403, 403),
    "my-voice-clip-audio":        (403, 404, 404, 404, 404, 404, 403, 403, 403, 403, 403),
    "commerce-events":            (401, 401, 401, 401, 401, 401, 401, 401, 401, 401, 401),
    "partner-totals":             (401, 401, 401, 401, 401, 401, 401, 401, 401, 200, 401),
    "partner-daily":              (401, 401, 401, 401, 401, 401, 401, 401, 401, 200, 401),
    "partner-heatmap":            (401, 401, 401, 401, 401, 401, 401, 401, 401, 200, 401),
    "partner-sources":            (401, 401, 401, 401, 401, 401, 401, 401, 401, 200, 401),
    "partner-products":           (401, 401, 401, 401, 401, 401, 401, 401, 401, 200, 401),
    "partner-reorders":           (401, 401, 401, 401, 401, 401, 401, 401, 401, 200, 401),
    "partner-unmet-demand":       (401, 401, 401, 401, 401, 401, 401, 401, 401, 200, 401),
    "orders":                     (302, 200, 200, 200, 200, 200, 302, 302, 302, 302, 302),
    "order-approve":              (302, 302, 404, 404, 404, 404, 302, 302, 302, 302, 302),
    "order-cancel":               (302, 302, 404, 404, 404, 404, 302, 302, 302, 302, 302),
    "settings":                   (302, 200, 200, 200, 200, 200, 302, 302, 302, 302, 302),
    "devices":                    (302, 200, 200, 200, 200, 200, 302, 302, 302, 302, 302),
    "device-pause":               (302, 302, 404, 404, 404, 404, 302, 302, 302, 302, 302),
    "device-unpause":             (302, 302, 404, 404, 404, 404, 302, 302, 302, 302, 302),
    "device-unlink":              (302, 302, 404, 404, 404, 404, 302, 302, 302, 302, 302),
    "device-edit":                (302, 400, 404, 404, 404, 404, 302, 302, 302, 302, 302),
    "device-slot-add":            (302, 302, 404, 404, 404, 404, 302, 302, 302, 302, 302),
    "device-slot-change":         (302, 302, 404, 404, 404, 404, 302, 302, 302, 302, 302),
    "device-slot-remove":         (302, 302, 404, 404, 404, 404, 302, 302, 302, 302, 302),
    "device-slot-order":          (302, 302, 404, 404, 404, 404, 302, 302, 302, 302, 302),
    "voice-clip-audio":           (302, 404, 404, 404, 404, 404, 302, 302, 302, 302, 302),
    "voice-clip-confirm":         (302, 302, 404, 404, 404, 404, 302, 302, 302, 302, 302),
    "voice-clip-choose":          (302, 302, 404, 404, 404, 404, 302, 302, 302, 302, 302),
    "voice-clip-discard":         (302, 302, 404, 404, 404, 404, 302, 302, 302, 302, 302),
    "partners":                   (302, 404, 404, 302, 302, 200, 302, 302, 302, 302, 302),
    "partner-overview":           (302, 404, 404, 200, 404, 200, 302, 302, 302, 302, 302),
    "partner-product":            (302, 404, 404, 200, 404, 200, 302, 302, 302, 302, 302),
    "partner-export":             (302, 404, 404, 200, 404, 200, 302, 302, 302, 302, 302),
    "partner-tokens":             (302, 404, 404, 200, 404, 200, 302, 302, 302, 302, 302),
    "partner-token-revoke":       (302, 404, 404, 302, 404, 302, 302, 302, 302, 302, 302),
}
# fmt: on


def _route_names(resolver=None, prefix: str = "") -> list[tuple[str, str]]:
    """(route, name) of every project URL pattern; third-party trees are left out."""
    found = []
    for pattern in (resolver or get_resolver()).url_patterns:
        route = prefix + str(pattern.pattern)
        if route.startswith(THIRD_PARTY_PREFIXES):
            continue
        if isinstance(pattern, URLResolver):
            found += _route_names(pattern, route)
        elif isinstance(pattern, URLPattern):
            found.append((route, pattern.name or route or "root"))
    return found


def test_every_route_has_a_row():
    routes = {name for _, name in _route_names()}
    missing = sorted(name for name in routes if name not in MATRIX)
    assert not missing, f"routes without a row in the authorisation matrix: {missing}"
    assert len(_route_names()) >= 50


@pytest.mark.django_db
@pytest.mark.parametrize("route", list(MATRIX))
def test_each_principal_gets_exactly_the_expected_status(world, route):
    expected = dict(zip(P, MATRIX[route], strict=True))
    got = {}
    for principal in P:
        with transaction.atomic():  # each principal sees the world as set up, not after another's write
            got[principal] = _request(world, route, principal)
            transaction.set_rollback(True)
    assert got == expected


@pytest.mark.django_db
def test_a_stranger_never_gets_a_2xx_on_a_or_b_resources(world):
    """The table's safety property stated on its own: B, a partner of B, a device and a
    revoked token never get a success on a route that names A's objects."""
    for route, (_, path, _) in _routes(world).items():
        names_a = any(str(world[k]) in path for k in ("order", "button", "washer", "clip")) or "/brand-a/" in path
        if not names_a:
            continue
        row = dict(zip(P, MATRIX[route], strict=True))
        for stranger in ("cust_b", "part_b", "dev_b", "dev_revoked", "ptok_revoked", "anon"):
            assert not 200 <= row[stranger] < 300, (route, stranger)
