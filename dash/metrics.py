"""Prometheus metrics at `/metrics`.

Two kinds:
- counted in process on the intake path (one counter inc + one histogram observe per event):
  `dash_intake_events_total{outcome}`, `dash_intake_seconds`. With several server processes
  set PROMETHEUS_MULTIPROC_DIR (an empty directory per deployment) and every process writes
  its samples there; the scrape sums them.
- computed from the database and Redis at scrape time (cheaper than counting on every
  transition, and right across restarts): orders by state, release lateness of recent releases,
  commerce retries, Celery queue depth.

Allowed from loopback, or from anywhere with `Authorization: Bearer <DASH_METRICS_TOKEN>`."""

import hmac
import logging
import os
import time
from datetime import timedelta

from django.conf import settings
from django.http import HttpResponse, HttpResponseForbidden
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.exposition import CONTENT_TYPE_LATEST

log = logging.getLogger("dash.metrics")

INTAKE_EVENTS = Counter("dash_intake_events", "Device events answered, by outcome (or error code).", ["outcome"])
INTAKE_SECONDS = Histogram(
    "dash_intake_seconds",
    "Time to answer a device event (server side).",
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5),
)
_LATENESS_WINDOW = timedelta(minutes=5)
CELERY_QUEUES = ("celery", "sweeps", "bulk")


def _outcome_of(body: bytes, status: int) -> str:
    """The outcome from an orjson (compact) answer without parsing it."""
    for marker in (b'"outcome":"', b'"code":"'):
        i = body.find(marker)
        if i >= 0:
            j = body.find(b'"', i + len(marker))
            return body[i + len(marker) : j].decode("ascii", "replace")[:40]
    return str(status)


def intake_observe(*, started: float, status: int, body: bytes) -> None:
    INTAKE_EVENTS.labels(_outcome_of(body, status)).inc()
    INTAKE_SECONDS.observe(time.perf_counter() - started)


class _StateCollector:
    """Gauges read from PostgreSQL/SQLite and Redis at scrape time."""

    def collect(self):
        from django.db.models import Count, F, Sum
        from django.utils import timezone

        from orders.models import Order, OrderEvent

        by_state = GaugeMetricFamily("dash_orders", "Orders by state.", labels=["state"])
        for row in Order.objects.values("status").annotate(n=Count("id")).order_by():
            by_state.add_metric([row["status"]], row["n"])
        yield by_state

        attempts = Order.objects.filter(submit_attempts__gt=1).aggregate(n=Sum(F("submit_attempts") - 1))["n"] or 0
        yield GaugeMetricFamily("dash_commerce_retries", "Commerce submissions beyond the first, over all orders.", value=attempts)

        since = timezone.now() - _LATENESS_WINDOW
        lateness = sorted(
            (ev_at - hold).total_seconds()
            for ev_at, hold in OrderEvent.objects.filter(to_status="releasing", at__gte=since, order__hold_until__isnull=False).values_list(
                "at", "order__hold_until"
            )[:20000]
        )
        g = GaugeMetricFamily(
            "dash_release_lateness_seconds", "Release time minus hold end, releases of the last 5 minutes.", labels=["quantile"]
        )
        for q in (0.5, 0.99, 1.0):
            g.add_metric([str(q)], lateness[min(len(lateness) - 1, int(q * len(lateness)))] if lateness else 0.0)
        yield g
        yield GaugeMetricFamily("dash_releases_recent", "Releases in the last 5 minutes.", value=len(lateness))

        depth = GaugeMetricFamily("dash_queue_depth", "Messages waiting in a Celery queue (Redis LLEN).", labels=["queue"])
        try:
            import redis

            r = redis.Redis.from_url(settings.REDIS_URL, socket_timeout=1, socket_connect_timeout=1)
            for q in CELERY_QUEUES:
                depth.add_metric([q], r.llen(q))
        except Exception as exc:  # noqa: BLE001 - a scrape must still answer; the gap is the signal
            log.warning("metrics_redis_unavailable error=%s", exc.__class__.__name__)
        yield depth


def _allowed(request) -> bool:
    token = getattr(settings, "DASH_METRICS_TOKEN", "")
    header = request.META.get("HTTP_AUTHORIZATION", "")
    if token and hmac.compare_digest(header, f"Bearer {token}"):
        return True
    return request.META.get("REMOTE_ADDR") in ("127.0.0.1", "::1")


def metrics_view(request):
    if not _allowed(request):
        return HttpResponseForbidden("metrics: loopback or bearer token only\n")
    registry = CollectorRegistry()
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.MultiProcessCollector(registry)
    else:
        registry.register(INTAKE_EVENTS)
        registry.register(INTAKE_SECONDS)
    registry.register(_StateCollector())
    return HttpResponse(generate_latest(registry), content_type=CONTENT_TYPE_LATEST)
