"""Every task goes to a queue that `make run`'s worker consumes, and a release never queues
behind the long background jobs (the analytics rollup, the retention prunes)."""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

from django.conf import settings

from dash.metrics import CELERY_QUEUES


def _procfile_queues() -> set[str]:
    line = next(line for line in (Path(settings.BASE_DIR) / "dash" / "Procfile").read_text().splitlines() if line.startswith("worker:"))
    return set(re.search(r"--queues (\S+)", line).group(1).split(","))


def test_make_run_consumes_every_queue_a_task_is_routed_to():
    routed = {route["queue"] for route in settings.CELERY_TASK_ROUTES.values()}
    assert routed <= _procfile_queues()
    assert routed | {"celery"} == set(CELERY_QUEUES)  # /metrics reports the depth of each


def test_the_release_sweep_and_the_long_background_jobs_are_on_different_queues():
    routes = settings.CELERY_TASK_ROUTES
    release = routes["orders.tasks.release_due_orders"]["queue"]
    for task in (
        "partners.tasks.rollup_analytics",
        "devices.tasks.prune_device_events",
        "devices.tasks.prune_slot_readings",
        "devices.tasks.prune_voice_clips",
    ):
        assert routes[task]["queue"] != release, task
    # beat's ticks never wait behind a backlog of submissions on the default queue
    for entry in settings.CELERY_BEAT_SCHEDULE.values():
        assert routes[entry["task"]]["queue"] != "celery", entry["task"]


def _rollup_entry_with(**env: str) -> subprocess.CompletedProcess:
    """Beat's rollup entry as the settings make it from `env`, in a fresh interpreter."""
    code = "import django, json; django.setup(); from django.conf import settings; print(json.dumps(settings.CELERY_BEAT_SCHEDULE['rollup-analytics']))"
    return subprocess.run(
        [sys.executable, "-c", code],
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "dash.settings", **env},
        cwd=settings.BASE_DIR,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_the_rollup_period_comes_from_the_environment_and_a_bad_one_is_refused():
    ran = _rollup_entry_with(DASH_ANALYTICS_ROLLUP_SECONDS="5")
    assert ran.returncode == 0, ran.stderr
    assert json.loads(ran.stdout)["schedule"] == 5.0
    for bad in ("0", "-3"):
        ran = _rollup_entry_with(DASH_ANALYTICS_ROLLUP_SECONDS=bad)
        assert ran.returncode != 0
        assert "DASH_ANALYTICS_ROLLUP_SECONDS must be a positive number of seconds" in ran.stderr
