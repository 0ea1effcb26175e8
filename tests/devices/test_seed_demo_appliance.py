"""seed_demo's washer: claimed, slots bound to demo-catalog products, a printed curl that reorders."""

import json
import re
import shlex
from io import StringIO

import pytest
from django.core.management import call_command

from devices.models import ApplianceSlot, Device
from orders.models import Order, OrderSource


def _seed(*args: str) -> str:
    out = StringIO()
    call_command("seed_demo", *args, stdout=out)
    return out.getvalue()


def _slots() -> list[tuple]:
    return list(
        ApplianceSlot.objects.order_by("name").values_list(
            "device__serial", "name", "product__sku", "capacity", "reorder_threshold", "auto_reorder", "quantity"
        )
    )


@pytest.mark.django_db
def test_the_demo_washer_is_claimed_with_two_bound_slots_and_seeding_again_changes_nothing():
    _seed()
    first = _slots()
    washer = Device.objects.get(serial="APL-DEMO000001")
    assert washer.kind == "appliance" and washer.customer.username == "demo"
    assert first == [
        ("APL-DEMO000001", "detergent", "BW-LD-004", 2700, 300, True, 1),
        ("APL-DEMO000001", "softener", "BW-FS-007", 1900, 200, True, 1),
    ]
    ApplianceSlot.objects.filter(name="softener").update(auto_reorder=False, capacity=5)
    _seed()
    assert _slots() == first


@pytest.mark.django_db(transaction=True)
def test_the_printed_curl_makes_the_washer_reorder(client):
    report = json.loads(_seed("--json"))
    [washer] = report["appliances"]
    assert washer["token"] in _seed()  # printed for people too
    # the printed curl, replayed through the test client
    args = shlex.split(washer["curl_low"].replace("'$(date +%s%N)'", "1"))
    body = args[args.index("-d") + 1]
    token = re.search(r"Device (\S+)'?", washer["curl_low"]).group(1).rstrip("'")
    response = client.post("/api/v1/device/events", body, content_type="application/json", HTTP_AUTHORIZATION=f"Device {token}")
    assert response.status_code == 201 and response.json()["outcome"] == "order_placed"
    order = Order.objects.get()
    assert (order.source, order.product.sku, order.device_serial) == (OrderSource.APPLIANCE, "BW-LD-004", "APL-DEMO000001")
