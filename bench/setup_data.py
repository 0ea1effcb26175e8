"""Create the benchmark's catalog, customers and claimed buttons with bulk inserts, and write
the buttons' tokens (shown once, stored only as hashes) to a JSON file for the load generator.

Run with DATABASE_URL / REDIS_URL set, after `manage.py migrate`:
    python -m bench.setup_data --buttons 3000 --hold-seconds 5 --out /tmp/x/buttons.json
"""

import argparse
import os
import random
import sys
from decimal import Decimal
from pathlib import Path

import orjson

PRODUCTS = 50
SAME_PRODUCT_SHARE = 0.25  # customers whose two buttons order the same product


def gtin13(n: int) -> str:
    from stdnum import ean

    body = f"401{n:09d}"
    return body + ean.calc_check_digit(body)


def create(*, buttons: int, hold_seconds: int, seed: int) -> list[dict]:
    from django.contrib.auth import get_user_model
    from django.contrib.auth.hashers import make_password
    from django.db import transaction
    from django.utils import timezone

    from devices.credentials import new_credentials
    from devices.models import Device, DeviceKind
    from orders.models import CustomerSettings
    from partners.models import Partner, Product

    rng = random.Random(seed)
    user_model = get_user_model()
    now = timezone.now()
    with transaction.atomic():
        partner = Partner.objects.create(slug="bench-brand", name="Bench Brand")
        products = Product.objects.bulk_create(
            Product(
                partner=partner,
                sku=f"BENCH-{n:03d}",
                name=f"Bench product {n}",
                gtin=gtin13(n),
                aliases=[f"bench product {n}"],
                price=Decimal("3.49") + n,
                max_quantity=5,
            )
            for n in range(PRODUCTS)
        )
        unusable = make_password(None)  # benchmark customers never log in
        customers = user_model.objects.bulk_create(
            user_model(username=f"bench{n}", email=f"bench{n}@example.test", password=unusable) for n in range((buttons + 1) // 2)
        )
        # No e-mail notices: ~200 mails a second rendered to the console on the same two cores
        # would measure the mail renderer, not the device API (the notice sweep still runs).
        CustomerSettings.objects.bulk_create(CustomerSettings(customer=c, email_notices=False) for c in customers)
        devices, tokens = [], []
        for n in range(buttons):
            customer = customers[n // 2]
            if n % 2 == 0:
                first = product = rng.choice(products)
            elif rng.random() >= SAME_PRODUCT_SHARE:
                # the customer's second button: usually another product, sometimes the same one,
                # so that presses from two devices race for one order
                product = rng.choice([p for p in products if p.pk != first.pk])
            else:
                product = first
            creds = new_credentials(DeviceKind.BUTTON)
            devices.append(
                Device(
                    serial=creds.serial,
                    kind=DeviceKind.BUTTON,
                    token_hash=creds.token_hash,
                    claim_code=creds.claim_code,
                    provisioned_for=partner,
                    customer=customer,
                    name=product.name,
                    product=product,
                    quantity=1,
                    # Customers choose their own windows: spread around the mean, so that orders
                    # placed in the same second are not released, shipped and delivered in lockstep.
                    hold_seconds=rng.randint(max(0, hold_seconds // 2), hold_seconds * 3 // 2),
                    claimed_at=now,
                )
            )
            tokens.append(
                {
                    "token": creds.token,
                    "serial": creds.serial,
                    "customer": customer.pk,
                    "product": product.pk,
                }
            )
        Device.objects.bulk_create(devices, batch_size=1000)
    return tokens


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.setup_data")
    parser.add_argument("--buttons", type=int, default=3000)
    parser.add_argument("--hold-seconds", type=int, default=5, help="the mean hold window (each button: 0.5x to 1.5x)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "dash.settings")
    import django

    django.setup()
    tokens = create(buttons=args.buttons, hold_seconds=args.hold_seconds, seed=args.seed)
    args.out.write_bytes(orjson.dumps(tokens))
    same = sum(1 for a, b in zip(tokens[::2], tokens[1::2], strict=False) if a["product"] == b["product"])
    print(
        f"setup: {len(tokens)} buttons, {(len(tokens) + 1) // 2} customers, {PRODUCTS} products, {same} customers with two buttons for one product"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
