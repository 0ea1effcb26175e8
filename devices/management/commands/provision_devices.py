"""`manage.py provision_devices`: make new devices and print their credentials, once.

Only a hash of each token is stored, so this output is the one chance to copy the tokens onto
the devices. All devices are made in one transaction: a failure leaves nothing behind.
"""

import json

from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from devices.models import DeviceKind
from devices.services import DeviceError, Provisioned, device_provision
from partners.selectors import partner_by_slug, partner_slugs

MAX_COUNT = 10_000


class Command(BaseCommand):
    help = "Provision devices of one kind; print serial, claim code and token (shown only now)."

    def add_arguments(self, parser):
        parser.add_argument(
            "--kind", required=True, help=f"One of: {', '.join(DeviceKind.values)}."
        )
        parser.add_argument(
            "--count", type=int, required=True, help=f"How many, 1 to {MAX_COUNT}."
        )
        parser.add_argument(
            "--partner",
            metavar="SLUG",
            help="The brand the devices are made for (optional).",
        )
        parser.add_argument(
            "--json", action="store_true", help="Print a JSON list and nothing else."
        )

    def handle(self, *args, **options):
        kind, count = options["kind"], options["count"]
        if kind not in DeviceKind.values:
            raise CommandError(
                f"--kind must be one of {', '.join(DeviceKind.values)}, not {kind!r}."
            )
        if not 1 <= count <= MAX_COUNT:
            raise CommandError(
                f"--count must be between 1 and {MAX_COUNT}, not {count}."
            )
        partner = None
        if options["partner"]:
            partner = partner_by_slug(slug=options["partner"])
            if partner is None:
                slugs = partner_slugs()
                known = (
                    ", ".join(slugs[:10]) + (", ..." if len(slugs) > 10 else "")
                    if slugs
                    else "none yet"
                )
                raise CommandError(
                    f"No partner with slug {options['partner']!r} (known: {known})."
                )

        try:
            with transaction.atomic():
                made = [
                    device_provision(kind=kind, partner=partner) for _ in range(count)
                ]
        except DeviceError as exc:
            raise CommandError(f"Nothing was provisioned: {exc.detail}") from exc

        if options["json"]:
            self.stdout.write(json.dumps([_entry(p) for p in made], indent=2))
            return
        self._print(made, partner_name=partner.name if partner else None)

    def _print(self, made: list[Provisioned], *, partner_name: str | None) -> None:
        kind = made[0].device.get_kind_display().lower()
        target = f" for {partner_name}" if partner_name else ""
        self.stdout.write(
            self.style.SUCCESS(f"Provisioned {len(made)} {kind}(s){target}.")
        )
        self.stdout.write(
            self.style.WARNING(
                "Tokens are shown only now (only their hashes are stored): copy them."
            )
        )
        rows = [("SERIAL", "CLAIM CODE", "TOKEN")] + [
            (p.device.serial, p.device.claim_code, p.token) for p in made
        ]
        widths = [max(len(row[i]) for row in rows) for i in range(3)]
        for row in rows:
            self.stdout.write(
                "  ".join(
                    cell.ljust(width) for cell, width in zip(row, widths, strict=True)
                ).rstrip()
            )


def _entry(provisioned: Provisioned) -> dict:
    device = provisioned.device
    return {
        "serial": device.serial,
        "kind": device.kind,
        "claim_code": device.claim_code,
        "token": provisioned.token,
        "partner": device.provisioned_for.slug if device.provisioned_for else None,
    }
