"""All factories in one place (factory_boy)."""

from decimal import Decimal

import factory
from django.contrib.auth import get_user_model
from django.db import transaction
from stdnum import ean

from devices import credentials
from devices.models import Device, DeviceKind
from orders.services import order_place
from partners.models import Partner, Product


def gtin13(n: int) -> str:
    body = f"400{n:09d}"
    return body + ean.calc_check_digit(body)


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ["username"]

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda u: f"{u.username}@example.test")
    password = factory.django.Password("correct horse battery")


class PartnerFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Partner

    slug = factory.Sequence(lambda n: f"brand-{n}")
    name = factory.Sequence(lambda n: f"Brand {n}")


class ProductFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Product

    partner = factory.SubFactory(PartnerFactory)
    sku = factory.Sequence(lambda n: f"SKU-{n:05d}")
    name = factory.Sequence(lambda n: f"Product {n}")
    gtin = factory.Sequence(gtin13)
    aliases = factory.LazyAttribute(lambda p: [p.name.lower()])
    price = Decimal("4.99")
    max_quantity = 5


def _make_device(kind: str, *, customer, hold_seconds: int | None, paused: bool, **fields) -> Device:
    """A device of `kind` with a known token (`device.token`), claimed when a customer is given."""
    creds = credentials.new_credentials(kind)
    device = Device.objects.create(
        serial=creds.serial,
        kind=kind,
        claim_code=creds.claim_code,
        token_hash=creds.token_hash,
        customer=customer,
        hold_seconds=hold_seconds,
        paused=paused,
        **fields,
    )
    device.token = creds.token
    return device


def make_button(*, customer=None, product=None, quantity: int = 1, hold_seconds: int | None = None, paused: bool = False) -> Device:
    """A button, bound to `product` when one is given."""
    return _make_device(DeviceKind.BUTTON, customer=customer, hold_seconds=hold_seconds, paused=paused, product=product, quantity=quantity)


def make_order(*, customer, product, quantity: int = 1, hold_seconds: int | None = None, device_serial: str = "", now=None):
    """A held order placed through `order_place`, as a press would place it."""
    with transaction.atomic():
        result = order_place(
            customer_id=customer.pk,
            product=product,
            quantity=quantity,
            source="button",
            actor=f"device:{device_serial}" if device_serial else "test",
            device_serial=device_serial,
            hold_seconds=hold_seconds,
            now=now,
        )
    assert result.created, "an order for this customer and product is already in progress"
    return result.order


def make_appliance(*, customer=None, hold_seconds: int | None = None, paused: bool = False, name: str = "Washer") -> Device:
    return _make_device(DeviceKind.APPLIANCE, customer=customer, hold_seconds=hold_seconds, paused=paused, name=name)


def make_wand(*, customer=None, hold_seconds: int | None = None, paused: bool = False) -> Device:
    """A wand: scans and voice."""
    return _make_device(DeviceKind.WAND, customer=customer, hold_seconds=hold_seconds, paused=paused)


def make_voice_clip(*, device, products=(), status: str = "needs_confirmation", propose: bool = True, audio_name: str = "", event_id: str | None = None):
    """A settled voice clip as the transcription leaves it: `products` are its candidates,
    best first; with `propose`, an order for the first one waits for confirmation."""
    import uuid as _uuid

    from django.utils import timezone

    from devices.models import VoiceClip

    order = None
    if propose and products and status == "needs_confirmation":
        with transaction.atomic():
            order = order_place(
                customer_id=device.customer_id, product=products[0], quantity=1, source="voice", actor="test", device_serial=device.serial, needs_confirmation=True
            ).order
    return VoiceClip.objects.create(
        device=device,
        customer_id=device.customer_id,
        event_id=event_id or f"v-{_uuid.uuid4().hex[:12]}",
        audio_name=audio_name,
        seconds=1.5,
        status=status,
        transcript="buy some " + (products[0].name.lower() if products else "thingummy"),
        confidence=0.5,
        candidates=[{"sku": p.sku, "name": p.name, "score": 90.0 - i} for i, p in enumerate(products)],
        order=order,
        received_at=timezone.now(),
    )
