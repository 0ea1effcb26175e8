"""`manage.py seed_demo`: the demo catalog, three logins and a few demo devices -- idempotently.

A second run changes nothing and prints the same thing. Demo devices are put back the way the
demo describes them (owner, product, quantity, hold window, token); a device that was unlinked
is claimed again. The spare button is left alone once someone has claimed it.

Demo device tokens are DERIVED from DASH_SECRET_KEY (HMAC-SHA256 of the serial), which is how a
re-run can print tokens that still work while the database keeps only their hashes. That is for
the demo only: anyone who knows the secret key can compute them. Real devices get random tokens
from `manage.py provision_devices`, shown once.
"""

import base64
import hashlib
import hmac
import json
from dataclasses import dataclass
from datetime import timedelta

from allauth.account.models import EmailAddress
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.utils import timezone

from devices import appliances, credentials
from devices.demo_history import history_generate
from devices.models import ApplianceSlot, Device, DeviceKind
from devices.services import DeviceError, device_claim, device_issue_token, device_provision, device_set_paused, device_update
from partners.analytics.rollup import analytics_rollup_run
from partners.demo_catalog import DEMO_CATALOG
from partners.models import PartnerMembership, Product
from partners.selectors import catalog_size, partner_by_slug
from partners.services import catalog_load_demo, partner_member_add

DEMO_HOLD_SECONDS = 60


@dataclass(frozen=True)
class DemoLogin:
    role: str
    username: str
    email: str
    password: str
    superuser: bool = False


CUSTOMER = DemoLogin("customer", "demo", "demo@dash.local", "dash-demo-2026")
PARTNER_USER = DemoLogin(
    "partner", "partner", "partner@dash.local", "dash-partner-2026"
)
ADMIN = DemoLogin(
    "admin", "admin", "admin@dash.local", "dash-admin-2026", superuser=True
)


@dataclass(frozen=True)
class DemoButton:
    serial: str
    product_sku: str | None  # None: left unclaimed, to show claiming
    quantity: int = 1
    name: str = ""


DEMO_BUTTONS = (
    DemoButton("BTN-DEMO000001", "BW-LP-001", 1, "Laundry room"),
    # The same product as the first: a press here while that order is held answers
    # order_in_progress (one order in progress per customer and product).
    DemoButton("BTN-DEMO000002", "BW-LP-001", 1, "Basement washer"),
    DemoButton("BTN-DEMO000003", "PPR-PT-004", 2, "Kitchen"),
    DemoButton("BTN-DEMO000004", "KH-WR-001", 1, "Pantry"),
    DemoButton("BTN-DEMO000005", "DBR-CP-006", 1, "Coffee corner"),
    DemoButton("BTN-DEMO000006", None),
)


@dataclass(frozen=True)
class DemoSlot:
    name: str
    product_sku: str
    capacity: float  # ml
    reorder_threshold: float


@dataclass(frozen=True)
class DemoAppliance:
    serial: str
    name: str
    slots: tuple[DemoSlot, ...]


# A washer that reports its detergent and softener tanks (ml); it reorders on its own.
DEMO_WASHER = DemoAppliance(
    "APL-DEMO000001",
    "Washer",
    (DemoSlot("detergent", "BW-LD-004", 2700, 300), DemoSlot("softener", "BW-FS-007", 1900, 200)),
)

_CROCKFORD = (
    "0123456789ABCDEFGHJKMNPQRSTVWXYZ"  # the claim code alphabet of devices.credentials
)


def _derive(purpose: str, serial: str) -> bytes:
    message = f"dash.demo.{purpose}:{serial}".encode()
    return hmac.new(settings.SECRET_KEY.encode(), message, hashlib.sha256).digest()


def demo_token(serial: str) -> str:
    """The demo device's token: same length and alphabet as `credentials.new_token()`."""
    return "dt_" + base64.urlsafe_b64encode(_derive("token", serial)).decode()[:40]


def demo_claim_code(serial: str) -> str:
    """16 Crockford base32 symbols (80 bits) in groups of four, like `credentials.new_claim_code()`."""
    bits = int.from_bytes(_derive("claim-code", serial)[:10])
    raw = "".join(_CROCKFORD[(bits >> (5 * i)) & 31] for i in range(16))
    return "-".join(raw[i : i + 4] for i in range(0, 16, 4))


def _login_ensure(login: DemoLogin):
    user_model = get_user_model()
    user, _ = user_model.objects.get_or_create(
        username=login.username, defaults={"email": login.email}
    )
    fields = []
    for attr, value in [
        ("email", login.email),
        ("is_active", True),
        ("is_staff", login.superuser),
        ("is_superuser", login.superuser),
    ]:
        if getattr(user, attr) != value:
            setattr(user, attr, value)
            fields.append(attr)
    if not user.check_password(login.password):
        user.set_password(login.password)
        fields.append("password")
    if fields:
        user.save(update_fields=fields)
    _email_ensure(user=user, email=login.email)
    return user


def _email_ensure(*, user, email: str) -> None:
    """allauth signs in by email: the address must be the user's verified primary one."""
    address = EmailAddress.objects.filter(user=user, email__iexact=email).first()
    if address is not None and address.verified and address.primary:
        return
    if (
        EmailAddress.objects.filter(email__iexact=email, verified=True)
        .exclude(user=user)
        .exists()
    ):
        raise CommandError(
            f"{email} already belongs to another account; remove it there first."
        )
    EmailAddress.objects.filter(user=user, primary=True).exclude(
        pk=getattr(address, "pk", None)
    ).update(primary=False)
    if address is None:
        EmailAddress.objects.create(user=user, email=email, verified=True, primary=True)
    else:
        address.verified = address.primary = True
        address.save(update_fields=["verified", "primary"])


def _button_ensure(spec: DemoButton, *, customer) -> dict:
    token = demo_token(spec.serial)
    token_hash = credentials.hash_token(token)
    device = Device.objects.filter(serial=spec.serial).first()
    if device is None:
        creds = credentials.Credentials(serial=spec.serial, claim_code=demo_claim_code(spec.serial), token=token)
        device = device_provision(kind=DeviceKind.BUTTON, creds=creds).device
    if device.kind != DeviceKind.BUTTON:
        raise CommandError(
            f"{spec.serial} exists but is a {device.kind}, not a button; delete it and run again."
        )
    if device.token_hash != token_hash or device.token_revoked_at is not None:
        device = device_issue_token(device_id=device.pk, actor="seed_demo", token=token).device

    if spec.product_sku is not None:
        if device.customer_id is None:
            device = device_claim(
                customer_id=customer.pk,
                claim_code=device.claim_code,
                product_sku=spec.product_sku,
                quantity=spec.quantity,
                name=spec.name,
                hold_seconds=DEMO_HOLD_SECONDS,
            )
        elif device.customer_id != customer.pk:
            raise CommandError(
                f"{spec.serial} is linked to another account; unlink it there, then run again."
            )
        else:
            bound_sku = device.product.sku if device.product else None
            wanted = (spec.product_sku, spec.quantity, spec.name, DEMO_HOLD_SECONDS)
            if (bound_sku, device.quantity, device.name, device.hold_seconds) != wanted:
                device = device_update(
                    customer_id=customer.pk,
                    serial=spec.serial,
                    product_sku=spec.product_sku,
                    quantity=spec.quantity,
                    name=spec.name,
                    hold_seconds=DEMO_HOLD_SECONDS,
                )
            if device.paused:
                device = device_set_paused(
                    customer_id=customer.pk, serial=spec.serial, paused=False
                )

    product = device.product
    claimed = device.customer_id is not None
    return {
        "serial": device.serial,
        "kind": device.kind,
        "name": device.name,
        "product": {"sku": product.sku, "name": product.name} if product else None,
        "quantity": device.quantity if product else None,
        "hold_seconds": device.hold_seconds,
        "claimed": claimed,
        "owner": (
            CUSTOMER.email if device.customer_id == customer.pk else "another account"
        )
        if claimed
        else None,
        "claim_code": None if claimed else device.claim_code,
        "token": token,
    }


def _appliance_ensure(spec: DemoAppliance, *, customer) -> dict:
    """The demo washer: claimed by the demo customer, its slots bound to demo-catalog products."""
    token = demo_token(spec.serial)
    device = Device.objects.filter(serial=spec.serial).first()
    if device is None:
        creds = credentials.Credentials(serial=spec.serial, claim_code=demo_claim_code(spec.serial), token=token)
        device = device_provision(kind=DeviceKind.APPLIANCE, creds=creds).device
    if device.kind != DeviceKind.APPLIANCE:
        raise CommandError(f"{spec.serial} exists but is a {device.kind}, not an appliance; delete it and run again.")
    if device.token_hash != credentials.hash_token(token) or device.token_revoked_at is not None:
        device = device_issue_token(device_id=device.pk, actor="seed_demo", token=token).device
    if device.customer_id is None:
        device = device_claim(customer_id=customer.pk, claim_code=device.claim_code, name=spec.name, hold_seconds=DEMO_HOLD_SECONDS)
    elif device.customer_id != customer.pk:
        raise CommandError(f"{spec.serial} is linked to another account; unlink it there, then run again.")
    elif (device.name, device.hold_seconds) != (spec.name, DEMO_HOLD_SECONDS):
        device = device_update(customer_id=customer.pk, serial=spec.serial, name=spec.name, hold_seconds=DEMO_HOLD_SECONDS)
    if device.paused:
        device = device_set_paused(customer_id=customer.pk, serial=spec.serial, paused=False)
    existing = {slot.name: slot for slot in ApplianceSlot.objects.filter(device=device).select_related("product")}
    for slot in spec.slots:
        current = existing.get(slot.name)
        wanted = (slot.product_sku, 1, float(slot.capacity), float(slot.reorder_threshold), True)
        if current is None:
            appliances.slot_create(
                customer_id=customer.pk,
                serial=spec.serial,
                name=slot.name,
                product_sku=slot.product_sku,
                capacity=slot.capacity,
                reorder_threshold=slot.reorder_threshold,
            )
        elif (
            current.product.sku if current.product else None,
            current.quantity,
            current.capacity,
            current.reorder_threshold,
            current.auto_reorder,
        ) != wanted:
            appliances.slot_update(
                customer_id=customer.pk,
                serial=spec.serial,
                name=slot.name,
                product_sku=slot.product_sku,
                quantity=1,
                capacity=slot.capacity,
                reorder_threshold=slot.reorder_threshold,
                auto_reorder=True,
            )
    return {
        "serial": device.serial,
        "kind": device.kind,
        "name": spec.name,
        "owner": CUSTOMER.email,
        "token": token,
        "hold_seconds": DEMO_HOLD_SECONDS,
        "slots": [
            {
                "name": s.name,
                "product_sku": s.product_sku,
                "capacity": s.capacity,
                "reorder_threshold": s.reorder_threshold,
                "auto_reorder": True,
            }
            for s in spec.slots
        ],
    }


def reading_curl(*, base_url: str, token: str, slot: str, remaining: float) -> str:
    return (
        f"curl -s -X POST {base_url}/api/v1/device/events"
        f" -H 'Authorization: Device {token}' -H 'Content-Type: application/json'"
        f""" -d '{{"event_id":"demo-'$(date +%s%N)'","type":"slot_status","slot":"{slot}","remaining":{remaining:g}}}'"""
    )


DEMO_WAND_SERIAL = "WND-DEMO000001"
DEMO_SCAN_SKU = "KH-WR-001"  # plastic wrap: scan its GTIN, or say "buy some plastic wrap"


def _wand_ensure(*, customer) -> dict:
    """The demo wand: claimed by the demo customer, holding orders like the demo buttons."""
    token = demo_token(DEMO_WAND_SERIAL)
    device = Device.objects.filter(serial=DEMO_WAND_SERIAL).first()
    if device is None:
        creds = credentials.Credentials(serial=DEMO_WAND_SERIAL, claim_code=demo_claim_code(DEMO_WAND_SERIAL), token=token)
        device = device_provision(kind=DeviceKind.WAND, creds=creds).device
    if device.kind != DeviceKind.WAND:
        raise CommandError(f"{DEMO_WAND_SERIAL} exists but is a {device.kind}, not a wand; delete it and run again.")
    if device.token_hash != credentials.hash_token(token) or device.token_revoked_at is not None:
        device = device_issue_token(device_id=device.pk, actor="seed_demo", token=token).device
    if device.customer_id is None:
        device = device_claim(customer_id=customer.pk, claim_code=device.claim_code, name="Kitchen wand", hold_seconds=DEMO_HOLD_SECONDS)
    elif device.customer_id != customer.pk:
        raise CommandError(f"{DEMO_WAND_SERIAL} is linked to another account; unlink it there, then run again.")
    else:
        if device.hold_seconds != DEMO_HOLD_SECONDS:
            device = device_update(customer_id=customer.pk, serial=DEMO_WAND_SERIAL, hold_seconds=DEMO_HOLD_SECONDS)
        if device.paused:
            device = device_set_paused(customer_id=customer.pk, serial=DEMO_WAND_SERIAL, paused=False)
    from partners.models import Product

    product = Product.objects.get(sku=DEMO_SCAN_SKU)
    return {"serial": device.serial, "kind": device.kind, "name": device.name, "token": token, "scan_gtin": product.gtin, "scan_product": product.name}


def scan_curl(*, base_url: str, token: str, gtin: str) -> str:
    return (
        f"curl -s -X POST {base_url}/api/v1/device/events"
        f" -H 'Authorization: Device {token}' -H 'Content-Type: application/json'"
        f""" -d '{{"event_id":"scan-'$(date +%s%N)'","type":"scan","gtin":"{gtin}"}}'"""
    )


def voice_curl(*, base_url: str, token: str) -> str:
    return (
        "espeak-ng -w /tmp/order.wav 'buy some plastic wrap' && "
        f"curl -s -X POST {base_url}/api/v1/device/events -H 'Authorization: Device {token}'"
        """ -F event_id=voice-$(date +%s%N) -F type=voice -F audio=@/tmp/order.wav"""
    )


def press_curl(*, base_url: str, token: str) -> str:
    return (
        f"curl -s -X POST {base_url}/api/v1/device/events"
        f" -H 'Authorization: Device {token}' -H 'Content-Type: application/json'"
        """ -d '{"event_id":"demo-'$(date +%s%N)'","type":"press"}'"""
    )


class Command(BaseCommand):
    help = "Load the demo catalog, logins and devices (idempotent) and print how to use them."

    def add_arguments(self, parser):
        parser.add_argument(
            "--json",
            action="store_true",
            help="Print one JSON object and nothing else.",
        )
        parser.add_argument(
            "--history",
            action="store_true",
            help="Also give the demo partner's products weeks of synthetic shoppers' history, rolled up for the portal.",
        )
        parser.add_argument(
            "--base-url",
            default="http://127.0.0.1:8000",
            help="Where Dash is served (for the printed URLs).",
        )

    def handle(self, *args, **options):
        if not settings.DASH_DEMO:
            raise CommandError(
                "seed_demo creates logins with published passwords and device tokens anyone with the"
                " secret key can derive; refusing under production settings (DASH_DEBUG=false)."
                " Set DASH_DEMO=true to seed a staging site on purpose. Nothing was changed."
            )
        base_url = options["base_url"].rstrip("/")
        try:
            with transaction.atomic():
                catalog_load_demo()
                customer = _login_ensure(CUSTOMER)
                partner_user = _login_ensure(PARTNER_USER)
                _login_ensure(ADMIN)
                brand = partner_by_slug(slug=DEMO_CATALOG[0].slug)
                partner_member_add(
                    user=partner_user, partner=brand, role=PartnerMembership.Role.ADMIN
                )
                devices = [
                    _button_ensure(spec, customer=customer) for spec in DEMO_BUTTONS
                ]
                washer = _appliance_ensure(DEMO_WASHER, customer=customer)
                wand = _wand_ensure(customer=customer)
        except (ValidationError, DeviceError) as exc:
            raise CommandError(f"seed_demo failed, nothing was changed: {exc}") from exc

        history = _history_ensure(brand) if options["history"] else None
        size = catalog_size()
        report = {
            "base_url": base_url,
            "logins": {
                CUSTOMER.role: _login_entry(
                    CUSTOMER, url=f"{base_url}/accounts/login/"
                ),
                PARTNER_USER.role: {
                    **_login_entry(PARTNER_USER, url=f"{base_url}/accounts/login/"),
                    "partner": {"slug": brand.slug, "name": brand.name},
                },
                ADMIN.role: _login_entry(ADMIN, url=f"{base_url}/admin/"),
            },
            "partners": size.partners,
            "products": size.products,
            "hold_seconds": DEMO_HOLD_SECONDS,
            "devices": devices,
            "curl": press_curl(base_url=base_url, token=devices[0]["token"]),
            "appliances": [
                {
                    **washer,
                    # below the detergent's threshold: the washer reorders
                    "curl_low": reading_curl(base_url=base_url, token=washer["token"], slot="detergent", remaining=250),
                    # a full tank: a new cycle, so the next low reading orders again
                    "curl_refill": reading_curl(base_url=base_url, token=washer["token"], slot="detergent", remaining=2700),
                }
            ],
            "wand": {
                **wand,
                "scan_curl": scan_curl(base_url=base_url, token=wand["token"], gtin=wand["scan_gtin"]),
                "voice_curl": voice_curl(base_url=base_url, token=wand["token"]),
            },
        }
        if history is not None:
            report["history"] = {**history, "portal": f"{base_url}/partners/"}
        if options["json"]:
            self.stdout.write(json.dumps(report, indent=2))
        else:
            self._print(report)

    def _print(self, report: dict) -> None:
        out = self.stdout.write
        base_url = report["base_url"]
        out(self.style.SUCCESS(f"Dash demo is ready at {base_url}"))
        out("")
        out("Logins (email / password):")
        for role, login in report["logins"].items():
            note = (
                f"  admin of {login['partner']['name']}" if "partner" in login else ""
            )
            out(
                f"  {role:<9} {login['email']:<19} {login['password']:<18} {login['url']}{note}"
            )
        out("")
        out(f"Catalog: {report['products']} products from {report['partners']} brands.")
        out("")
        out(
            "Demo devices (tokens are derived from DASH_SECRET_KEY: for the demo only):"
        )
        rows = [("SERIAL", "PRODUCT", "QTY", "TOKEN", "OWNER / CLAIM CODE")]
        for device in report["devices"]:
            product = device["product"]["name"] if device["product"] else "-"
            claim = device["claim_code"] or device["owner"]
            rows.append(
                (
                    device["serial"],
                    product,
                    str(device["quantity"] or "-"),
                    device["token"],
                    claim,
                )
            )
        widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
        for row in rows:
            out(
                "  "
                + "  ".join(
                    cell.ljust(width) for cell, width in zip(row, widths, strict=True)
                ).rstrip()
            )
        out("")
        hold = report["hold_seconds"]
        out(
            f"Demo buttons hold each order for {hold} seconds, then release it: sign in as the customer and"
            f" watch {base_url}/orders/ -- approve or remove an order within a minute, or see it released."
        )
        unclaimed = [d for d in report["devices"] if d["claim_code"]]
        for device in unclaimed:
            out(
                f"To try claiming, enter {device['serial']}'s claim code {device['claim_code']} at {base_url}/devices/."
            )
        for appliance in report["appliances"]:
            out("")
            slots = ", ".join(
                f"{s['name']} ({s['product_sku']}, {s['capacity']:g} ml, reorders at {s['reorder_threshold']:g})"
                for s in appliance["slots"]
            )
            out(f"Demo appliance {appliance['serial']} ({appliance['name']}, token {appliance['token']}): slots {slots}.")
            out(f"Levels, usage and predicted run-out: {base_url}/devices/. Report detergent running low (it reorders):")
            out(appliance["curl_low"])
            out("Report a refill (a new cycle: the next low reading orders again once that order is no longer in progress):")
            out(appliance["curl_refill"])
        wand = report.get("wand")
        if wand:
            out("")
            out(f"Demo wand {wand['serial']} (token {wand['token']}): scan {wand['scan_product']} (GTIN {wand['scan_gtin']}):")
            out(wand["scan_curl"])
            out("or say it (then poll GET /api/v1/device/events/<event_id> for the outcome):")
            out(wand["voice_curl"])
        out("")
        out(
            f"Press {report['devices'][0]['serial']} ({report['devices'][0]['product']['name']}):"
        )
        out(report["curl"])
        if "history" in report:
            history = report["history"]
            out("")
            out(
                f"Partner portal: sign in as {PARTNER_USER.email} and open {history['portal']} -- "
                f"{history['shoppers']} synthetic shoppers, {history['days']} days of history."
            )


def _login_entry(login: DemoLogin, *, url: str) -> dict:
    return {
        "username": login.username,
        "email": login.email,
        "password": login.password,
        "url": url,
    }


SHOPPERS = 80
HISTORY_DAYS = 42
SHOPPER_SERIAL_PREFIX = "SHOP"


def _history_ensure(brand) -> dict:
    """Synthetic shoppers with six weeks of presses and orders, once; then the rollups, so the
    demo partner's portal has figures the moment the site starts."""
    user_model = get_user_model()
    if not Device.objects.filter(serial__startswith=f"{SHOPPER_SERIAL_PREFIX}-").exists():
        with transaction.atomic():
            shoppers = []
            for i in range(SHOPPERS):
                user, created = user_model.objects.get_or_create(
                    username=f"shopper{i:02d}", defaults={"email": f"shopper{i:02d}@shoppers.dash.local"}
                )
                if created:
                    user.set_unusable_password()
                    user.save(update_fields=["password"])
                shoppers.append(user)
            own = list(brand.products.filter(active=True).order_by("sku")[:6])
            others = list(Product.objects.filter(active=True).exclude(partner=brand).order_by("sku")[:4])
            history_generate(
                customers=shoppers,
                products=own + others,
                end=timezone.now(),
                days=HISTORY_DAYS,
                serial_prefix=SHOPPER_SERIAL_PREFIX,
            )
    analytics_rollup_run(now=timezone.now() + timedelta(seconds=settings.DASH_ANALYTICS_LAG_SECONDS + 1))
    return {"shoppers": SHOPPERS, "days": HISTORY_DAYS}
