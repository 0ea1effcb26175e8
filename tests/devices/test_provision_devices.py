import json
import re
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from devices.credentials import hash_token
from devices.models import Device
from tests.factories import PartnerFactory


def provision(*args: str) -> str:
    out = StringIO()
    call_command("provision_devices", *args, stdout=out)
    return out.getvalue()


def post_press(client, token: str):
    return client.post(
        "/api/v1/device/events",
        {"event_id": "p-1", "type": "press"},
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Device {token}",
    )


@pytest.mark.django_db(transaction=True)
def test_provisioned_devices_print_tokens_that_authenticate(client):
    # when
    made = json.loads(provision("--kind", "button", "--count", "3", "--json"))
    # then
    assert len(made) == 3 == Device.objects.count()
    assert len({d["token"] for d in made}) == 3
    for entry in made:
        device = Device.objects.get(serial=entry["serial"])
        assert (device.kind, device.claim_code, device.customer_id) == (
            "button",
            entry["claim_code"],
            None,
        )
        assert device.token_hash == hash_token(entry["token"])
        answer = post_press(
            client, entry["token"]
        )  # authenticated, but nobody has claimed it yet
        assert (answer.status_code, answer.json()["outcome"]) == (
            409,
            "device_unclaimed",
        )
    assert post_press(client, "dt_not-a-real-token").status_code == 401


def test_human_output_lists_serial_claim_code_and_token_per_device(db):
    partner = PartnerFactory(slug="pawpal", name="PawPal")
    # when
    output = provision("--kind", "wand", "--count", "2", "--partner", "pawpal")
    # then
    rows = re.findall(
        r"^(WND-[0-9A-Z]{10})\s+([0-9A-Z]{4}(?:-[0-9A-Z]{4}){3})\s+(dt_\S+)$",
        output,
        flags=re.MULTILINE,
    )
    assert len(rows) == 2
    assert output.startswith("Provisioned 2 wand(s) for PawPal.\n")
    for serial, claim_code, token in rows:
        device = Device.objects.get(serial=serial)
        assert (device.kind, device.claim_code, device.provisioned_for_id) == (
            "wand",
            claim_code,
            partner.pk,
        )
        assert device.token_hash == hash_token(token)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--kind", "toaster", "--count", "2"],
            "--kind must be one of button, wand, appliance, not 'toaster'",
        ),
        (
            ["--kind", "button", "--count", "0"],
            "--count must be between 1 and 10000, not 0",
        ),
        (
            ["--kind", "button", "--count", "10001"],
            "--count must be between 1 and 10000, not 10001",
        ),
        (
            ["--kind", "button", "--count", "-3"],
            "--count must be between 1 and 10000, not -3",
        ),
        (
            ["--kind", "button", "--count", "2", "--partner", "nope"],
            "No partner with slug 'nope' \\(known: brightwash\\)",
        ),
        (["--kind", "button", "--count", "many"], "invalid int value: 'many'"),
    ],
)
def test_bad_input_is_refused_and_nothing_is_created(db, args, message):
    PartnerFactory(slug="brightwash")
    with pytest.raises(CommandError, match=message):
        provision(*args)
    assert Device.objects.count() == 0


def test_a_failure_midway_leaves_no_device_behind(db, monkeypatch):
    from devices.management.commands import provision_devices
    from devices.services import DeviceError, device_provision

    calls = []

    def flaky_provision(**kwargs):
        calls.append(kwargs)
        if len(calls) == 3:
            raise DeviceError("boom", "the serial printer jammed")
        return device_provision(**kwargs)

    monkeypatch.setattr(provision_devices, "device_provision", flaky_provision)
    with pytest.raises(
        CommandError, match="Nothing was provisioned: the serial printer jammed"
    ):
        provision("--kind", "button", "--count", "5")
    assert len(calls) == 3
    assert Device.objects.count() == 0
