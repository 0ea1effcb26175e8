"""A Celery worker keeps its database session across tasks, as a web process keeps one across
requests, and replaces it when PostgreSQL has ended it (a real worker, the test database)."""

import re
import time

import pytest
from django.db import connection

from orders import tasks


def _sessions(worker) -> list[int]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_stat_clear_snapshot()")
        cursor.execute("SELECT pid FROM pg_stat_activity WHERE application_name = %s ORDER BY pid", [worker.application_name])
        return [row[0] for row in cursor.fetchall()]


def _run_sweeps(worker, count: int, done_before: int) -> None:
    for _ in range(count):
        tasks.release_due_orders.delay()
    deadline = time.monotonic() + 30
    while len(re.findall(r"orders\.tasks\.release_due_orders\[[^\]]+\] succeeded in ", worker.log())) < done_before + count:
        assert time.monotonic() < deadline, worker.log()[-4000:]
        time.sleep(0.05)


@pytest.mark.django_db(transaction=True)
def test_the_worker_runs_its_tasks_on_one_session_and_replaces_one_that_was_ended(celery_worker_process):
    worker = celery_worker_process()
    # when the worker runs five sweeps (each one queries the orders)
    _run_sweeps(worker, 5, done_before=0)
    # then its session outlives them
    [session] = _sessions(worker)
    # and five more run on the same session
    _run_sweeps(worker, 5, done_before=5)
    assert _sessions(worker) == [session]

    # when PostgreSQL ends that session (a restart, an idle timeout)
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_terminate_backend(%s)", [session])
    deadline = time.monotonic() + 10
    while _sessions(worker):
        assert time.monotonic() < deadline
        time.sleep(0.05)
    # then the next sweep runs on a new session instead of failing
    _run_sweeps(worker, 1, done_before=10)
    [replacement] = _sessions(worker)
    assert replacement != session
    assert " raised unexpected" not in worker.log()
