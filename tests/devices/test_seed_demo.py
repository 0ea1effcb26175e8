import json
import re
from datetime import datetime, timedelta
from io import StringIO

import pytest
from allauth.account.models import EmailAddress
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command
from django.utils import timezone

from devices.credentials import hash_token
from devices.models import Device
from devices.services import device_claim, device_revoke_token, device_unlink
from orders.models import Order
from partners.models import PartnerMembership, Product

User = get_user_model()


def seed(*args: str) -> str:
    out = StringIO()
    call_command("seed_demo", *args, stdout=out)
    return out.getvalue()


def seed_json(*args: str) -> dict:
    return json.loads(seed("--json", *args))


def printed_tokens(output: str) -> dict[str, str]:
    """serial -> token, read off the human device table."""
    return dict(
        re.findall(
            r"^\s+(BTN-DEMO\d{6})\s.*?\s(dt_[A-Za-z0-9_-]{40})\b",
            output,
            flags=re.MULTILINE,
        )
    )


def post_press(client, token: str, event_id: str):
    return client.post(
        "/api/v1/device/events",
        {"event_id": event_id, "type": "press"},
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Device {token}",
    )


def snapshot() -> dict:
    return {
        "users": list(
            User.objects.order_by("username").values_list(
                "username", "email", "password", "is_staff"
            )
        ),
        "emails": list(
            EmailAddress.objects.order_by("email").values_list(
                "email", "verified", "primary"
            )
        ),
        "members": list(
            PartnerMembership.objects.values_list(
                "user__username", "partner__slug", "role"
            )
        ),
        "products": list(
            Product.objects.order_by("sku").values_list(
                "sku", "gtin", "price", "updated_at"
            )
        ),
        "devices": list(
            Device.objects.values_list(
                "serial",
                "token_hash",
                "claim_code",
                "customer__username",
                "product__sku",
                "quantity",
                "hold_seconds",
                "name",
            )
        ),
    }


@pytest.mark.django_db
def test_seed_demo_twice_prints_the_same_output_and_changes_nothing():
    # given
    first = seed()
    before = snapshot()
    # when
    second = seed()
    # then
    assert second == first
    assert snapshot() == before
    assert len(before["devices"]) == 8  # six buttons, the demo washer and the demo wand
    assert len(printed_tokens(first)) == 6
    assert Product.objects.count() >= 100


@pytest.mark.django_db
def test_printed_tokens_are_stored_only_as_hashes():
    tokens = printed_tokens(seed())
    for serial, token in tokens.items():
        device = Device.objects.get(serial=serial)
        assert device.token_hash == hash_token(token)
        assert token not in device.token_hash


@pytest.mark.django_db(transaction=True)
def test_printed_token_places_an_order_and_the_twin_button_answers_in_progress(client):
    # given: the first two demo buttons are both bound to the laundry pods
    tokens = printed_tokens(seed())
    seed()  # a re-run must not break the printed tokens
    # when
    placed = post_press(client, tokens["BTN-DEMO000001"], "demo-1")
    twin = post_press(client, tokens["BTN-DEMO000002"], "demo-2")
    # then
    assert placed.status_code == 201
    assert placed.json()["outcome"] == "order_placed"
    order = placed.json()["order"]
    assert order["product"] == {
        "sku": "BW-LP-001",
        "name": "Laundry Pods, Fresh Linen, 42 ct",
    }
    hold = datetime.fromisoformat(order["hold_until"]) - timezone.now()
    assert timedelta(seconds=50) < hold <= timedelta(seconds=60)
    assert twin.status_code == 200
    assert twin.json()["outcome"] == "order_in_progress"
    assert twin.json()["order"]["id"] == order["id"]
    assert Order.objects.get().customer.email == "demo@dash.local"


@pytest.mark.django_db(transaction=True)
def test_json_output_is_one_object_with_logins_devices_and_a_working_curl(client):
    # when
    report = seed_json("--base-url", "http://dash.example.test:9000/")
    # then
    assert report["base_url"] == "http://dash.example.test:9000"
    assert {
        role: (v["email"], v["password"]) for role, v in report["logins"].items()
    } == {
        "customer": ("demo@dash.local", "dash-demo-2026"),
        "partner": ("partner@dash.local", "dash-partner-2026"),
        "admin": ("admin@dash.local", "dash-admin-2026"),
    }
    assert report["logins"]["partner"]["partner"] == {
        "slug": "brightwash",
        "name": "Brightwash",
    }
    assert report["products"] == Product.objects.count() >= 100
    assert report["hold_seconds"] == 60
    devices = {d["serial"]: d for d in report["devices"]}
    assert len(devices) == 6
    claimed = [d for d in devices.values() if d["claimed"]]
    assert len(claimed) == 5 and all(
        d["hold_seconds"] == 60 and d["claim_code"] is None for d in claimed
    )
    assert (
        devices["BTN-DEMO000001"]["product"]["sku"]
        == devices["BTN-DEMO000002"]["product"]["sku"]
        == "BW-LP-001"
    )
    spare = devices["BTN-DEMO000006"]
    assert (spare["claimed"], spare["product"]) == (False, None)
    assert re.fullmatch(
        r"[0-9A-HJKMNP-TV-Z]{4}(-[0-9A-HJKMNP-TV-Z]{4}){3}", spare["claim_code"]
    )
    token = devices["BTN-DEMO000001"]["token"]
    assert report["curl"] == (
        "curl -s -X POST http://dash.example.test:9000/api/v1/device/events"
        f" -H 'Authorization: Device {token}' -H 'Content-Type: application/json'"
        """ -d '{"event_id":"demo-'$(date +%s%N)'","type":"press"}'"""
    )
    assert post_press(client, token, "json-1").status_code == 201


def test_human_output_has_the_url_logins_hold_and_curl(db):
    output = seed()
    assert output.startswith("Dash demo is ready at http://127.0.0.1:8000\n")
    for login in [
        "demo@dash.local",
        "dash-demo-2026",
        "partner@dash.local",
        "dash-partner-2026",
        "admin@dash.local",
        "dash-admin-2026",
    ]:
        assert login in output
    assert "hold each order for 60 seconds" in output
    spare = Device.objects.get(serial="BTN-DEMO000006")
    assert f"claim code {spare.claim_code}" in output
    curl = output.rstrip("\n").splitlines()[-1]
    token = printed_tokens(output)["BTN-DEMO000001"]
    assert curl.startswith(
        f"curl -s -X POST http://127.0.0.1:8000/api/v1/device/events -H 'Authorization: Device {token}'"
    )


@pytest.mark.parametrize(
    ("email", "password"),
    [
        ("demo@dash.local", "dash-demo-2026"),
        ("partner@dash.local", "dash-partner-2026"),
        ("admin@dash.local", "dash-admin-2026"),
    ],
)
def test_demo_logins_sign_in_by_email(client, db, email, password):
    seed()
    seed()
    response = client.post("/accounts/login/", {"login": email, "password": password})
    assert response.status_code == 302
    assert client.session["_auth_user_id"] == str(User.objects.get(email=email).pk)


def test_demo_admin_reaches_the_django_admin_and_the_partner_user_is_a_brand_admin(
    client, db
):
    seed()
    assert client.login(username="admin", password="dash-admin-2026")
    assert client.get("/admin/").status_code == 200
    membership = PartnerMembership.objects.get(user__email="partner@dash.local")
    assert (membership.partner.slug, membership.role) == ("brightwash", "admin")
    assert not User.objects.get(username="demo").is_staff


def test_spare_button_is_claimable_with_the_printed_code(db, other_customer):
    code = seed_json()["devices"][5]["claim_code"]
    device = device_claim(
        customer_id=other_customer.pk,
        claim_code=code.lower(),
        product_sku="DBR-GC-001",
        quantity=2,
    )
    assert (device.serial, device.customer_id, device.product.sku) == (
        "BTN-DEMO000006",
        other_customer.pk,
        "DBR-GC-001",
    )
    # a re-run leaves the claimed spare alone and prints no code for it
    spare = seed_json()["devices"][5]
    assert (spare["claimed"], spare["owner"], spare["claim_code"]) == (
        True,
        "another account",
        None,
    )
    assert Device.objects.get(serial="BTN-DEMO000006").customer_id == other_customer.pk


def test_rerun_puts_back_an_unlinked_button_and_a_revoked_token(db):
    tokens = printed_tokens(seed())
    demo = User.objects.get(username="demo")
    device_unlink(customer_id=demo.pk, serial="BTN-DEMO000003")
    device_revoke_token(
        device_id=Device.objects.get(serial="BTN-DEMO000001").pk, actor="test"
    )
    # when
    again = printed_tokens(seed())
    # then
    assert again == tokens
    kitchen = Device.objects.get(serial="BTN-DEMO000003")
    assert (
        kitchen.customer_id,
        kitchen.product.sku,
        kitchen.quantity,
        kitchen.hold_seconds,
    ) == (demo.pk, "PPR-PT-004", 2, 60)
    first = Device.objects.get(serial="BTN-DEMO000001")
    assert first.token_revoked_at is None and first.token_hash == hash_token(
        tokens["BTN-DEMO000001"]
    )


def test_seed_demo_refuses_a_demo_button_linked_to_another_account_and_changes_nothing(
    db, other_customer
):
    seed()
    demo = User.objects.get(username="demo")
    code = device_unlink(customer_id=demo.pk, serial="BTN-DEMO000004").claim_code
    device_claim(
        customer_id=other_customer.pk, claim_code=code, product_sku="KH-WR-002"
    )
    before = snapshot()
    with pytest.raises(
        CommandError, match="BTN-DEMO000004 is linked to another account"
    ):
        seed()
    assert snapshot() == before


@pytest.mark.django_db(transaction=True)
def test_the_demo_wand_scans_with_the_printed_curl_details(client):
    import json as _json

    report = _json.loads(_seed_json())
    wand = report["wand"]
    assert wand["serial"] == "WND-DEMO000001"
    assert "-F audio=@/tmp/order.wav" in wand["voice_curl"] and wand["token"] in wand["voice_curl"]
    response = client.post(
        "/api/v1/device/events",
        {"event_id": "demo-scan-1", "type": "scan", "gtin": wand["scan_gtin"]},
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Device {wand['token']}",
    )
    assert response.status_code == 201
    assert response.json()["order"]["product"]["name"] == wand["scan_product"]


def _seed_json() -> str:
    from io import StringIO

    from django.core.management import call_command

    out = StringIO()
    call_command("seed_demo", "--json", stdout=out)
    return out.getvalue()


def test_seed_demo_refuses_under_production_settings_and_changes_nothing(db, settings):
    settings.DASH_DEMO = False

    with pytest.raises(CommandError, match="DASH_DEMO=true"):
        seed()

    assert not User.objects.exists()
    assert not Product.objects.exists()
    assert not Device.objects.exists()
