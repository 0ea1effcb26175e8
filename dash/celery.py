import os

from celery import Celery
from celery.signals import task_postrun, task_prerun, worker_init

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "dash.settings")

app = Celery("dash")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


# The database connection across tasks, as Django keeps one across requests (the fixup no longer
# closes it after each task: settings.CELERY_DB_REUSE_MAX). Before a task's first query the
# connection is checked (CONN_HEALTH_CHECKS, one round trip), so a session that PostgreSQL ended
# meanwhile (a restart, an idle timeout) is replaced instead of failing the task; after the
# task, a broken or expired connection is closed. Tasks run eagerly (in tests) are left alone:
# they run inside the caller's transaction.


@worker_init.connect
def _check_connections_before_use(**kwargs) -> None:
    from django.db import connections

    for alias in connections:
        connections.settings[alias]["CONN_HEALTH_CHECKS"] = True


@task_prerun.connect
@task_postrun.connect
def _close_old_connections(sender=None, **kwargs) -> None:
    if sender is not None and getattr(sender.request, "is_eager", False):
        return
    from django.db import close_old_connections

    close_old_connections()
