"""`make run`'s default database is SQLite: the one-press flow must work there too.

The suite runs on PostgreSQL, so this drives a separate process on a fresh SQLite file:
migrate, seed the demo, press twice, release, submit, deliver, press again."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

FLOW = r"""
import json, uuid
from datetime import timedelta
from django.test import Client
from django.utils import timezone
from orders import services
from orders.models import Order

token = TOKEN
client = Client()

def press():
    r = client.post("/api/v1/device/events", {"event_id": uuid.uuid4().hex, "type": "press"},
                    content_type="application/json", HTTP_AUTHORIZATION="Device " + token)
    return r.status_code, r.json()["outcome"]

steps = [press(), press()]
order = Order.objects.get()
Order.objects.filter(pk=order.pk).update(hold_until=timezone.now() - timedelta(seconds=1))
steps.append(("released", services.orders_release_due()))
services.order_submit(order_id=order.pk)
services.order_apply_commerce_status(public_id=order.public_id, status="delivered")
steps.append(("status", Order.objects.get(pk=order.pk).status))
steps.append(press())
print("RESULT " + json.dumps(steps))
"""


@pytest.mark.timeout(180)
def test_one_press_flow_on_the_embedded_sqlite_database(tmp_path):
    env = {**os.environ, "DATABASE_URL": f"sqlite:///{tmp_path / 'dash.sqlite3'}", "DJANGO_SETTINGS_MODULE": "dash.settings"}

    def manage(*args: str) -> str:
        done = subprocess.run([sys.executable, "manage.py", *args], check=False, cwd=ROOT, env=env, capture_output=True, text=True, timeout=150)
        assert done.returncode == 0, done.stderr[-3000:]
        return done.stdout

    manage("migrate", "--noinput", "--verbosity", "0")
    demo = json.loads(manage("seed_demo", "--json"))
    token = next(d["token"] for d in demo["devices"] if d.get("owner"))
    out = manage("shell", "-c", FLOW.replace("TOKEN", repr(token)))

    steps = json.loads(out.split("RESULT ", 1)[1])
    assert steps == [[201, "order_placed"], [200, "order_in_progress"], ["released", 1], ["status", "delivered"], [201, "order_placed"]]
