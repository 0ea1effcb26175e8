"""`/healthz`: 200 when PostgreSQL (or SQLite) and Redis answer, 503 otherwise."""

import redis
from django.conf import settings
from django.db import connection
from django.http import JsonResponse


def healthz(request):
    checks = {}
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
        checks["database"] = "ok"
    except Exception as exc:  # noqa: BLE001 - any failure means not healthy; say which
        checks["database"] = f"error: {exc.__class__.__name__}"
    checks["redis"] = _redis_check()
    return _answer(checks, good="ok", bad="unhealthy")


def readyz(request):
    """`/readyz`: 200 when the database and Redis answer and every migration is applied.

    A fresh instance with unapplied migrations is alive (`/healthz`) but not ready for traffic."""
    checks = {}
    try:
        from django.db.migrations.executor import MigrationExecutor

        executor = MigrationExecutor(connection)
        pending = executor.migration_plan(executor.loader.graph.leaf_nodes())
        checks["database"] = "ok"
        checks["migrations"] = "ok" if not pending else f"error: {len(pending)} unapplied"
    except Exception as exc:  # noqa: BLE001 - any failure means not ready; say which
        checks["database"] = f"error: {exc.__class__.__name__}"
        checks["migrations"] = "unknown"
    checks["redis"] = _redis_check()
    return _answer(checks, good="ready", bad="unready")


def _redis_check() -> str:
    try:
        redis.Redis.from_url(settings.REDIS_URL, socket_timeout=1, socket_connect_timeout=1).ping()
        return "ok"
    except Exception as exc:  # noqa: BLE001 - any failure means not healthy; say which
        return f"error: {exc.__class__.__name__}"


def _answer(checks: dict, *, good: str, bad: str) -> JsonResponse:
    ok = all(v == "ok" for v in checks.values())
    return JsonResponse({"status": good if ok else bad, "checks": checks}, status=200 if ok else 503)
