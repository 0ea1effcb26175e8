"""The partner analytics on `make run`'s SQLite database: the portable rollup (Python
aggregation, the same upserts) must equal the brute-force recount, and the demo partner's
portal must show figures right after `seed_demo --history`."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

CHECK = r"""
import json
from datetime import timedelta
from django.contrib.auth import get_user_model
from django.test import Client
from django.test.utils import setup_test_environment
setup_test_environment()
from django.utils import timezone
from devices.demo_history import history_generate
from partners.analytics.rollup import analytics_rollup_run
from partners.models import Product
from tests.partners.recount import recount, rolled_up

result = {"after_seed": rolled_up() == recount()}
# an incremental run over more history (products nobody had ordered: order facts keep time order per customer and product, as in production), then a repeated one
shoppers = list(get_user_model().objects.filter(username__startswith="shopper")[:20])
history_generate(customers=shoppers, products=list(Product.objects.order_by("-sku")[:4]), end=timezone.now(), days=5, seed=9, serial_prefix="MORE")
analytics_rollup_run(now=timezone.now() + timedelta(minutes=1), batch=150)
result["incremental"] = rolled_up() == recount()
result["repeated_facts"] = analytics_rollup_run(now=timezone.now() + timedelta(minutes=1)).facts
client = Client()
client.force_login(get_user_model().objects.get(email="partner@dash.local"))
page = client.get("/partners/brightwash/")
result["page"] = page.status_code
result["presses"] = page.context["cards"][0]["value"]
result["heatmap_cells"] = sum(1 for row in page.context["heatmap"] for value, _, _ in row["cells"] if value)
result["csv"] = client.get("/partners/brightwash/export/daily.csv").status_code
print("RESULT " + json.dumps(result))
"""


@pytest.mark.timeout(300)
def test_rollups_and_portal_on_the_embedded_sqlite_database(tmp_path):
    env = {**os.environ, "DATABASE_URL": f"sqlite:///{tmp_path / 'dash.sqlite3'}", "DJANGO_SETTINGS_MODULE": "dash.settings"}

    def manage(*args: str) -> str:
        done = subprocess.run(
            [sys.executable, "manage.py", *args], check=False, cwd=ROOT, env=env, capture_output=True, text=True, timeout=250
        )
        assert done.returncode == 0, done.stderr[-3000:]
        return done.stdout

    manage("migrate", "--noinput", "--verbosity", "0")
    demo = json.loads(manage("seed_demo", "--json", "--history"))
    assert demo["history"]["shoppers"] >= 5
    result = json.loads(manage("shell", "-c", CHECK).split("RESULT ", 1)[1])

    assert result["after_seed"] is True
    assert result["incremental"] is True
    assert result["repeated_facts"] == 0
    assert result["page"] == 200 and result["csv"] == 200
    assert result["presses"] > 100
    assert result["heatmap_cells"] > 10
