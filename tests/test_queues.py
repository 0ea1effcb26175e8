"""Every task goes to a queue that `make run`'s worker consumes, and a release never queues
behind the long background jobs (the analytics rollup, the retention prunes)."""

import re
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
