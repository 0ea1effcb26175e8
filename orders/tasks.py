"""Thin Celery tasks: take ids, call a service. Every task is safe to run twice."""

import logging
from datetime import timedelta

from celery import shared_task
from django.conf import settings

from orders import selectors, services
from orders.errors import OrderStateError

log = logging.getLogger(__name__)


@shared_task(ignore_result=True)
def release_due_orders() -> int:
    """Beat, every second: release every held order whose hold has ended."""
    return services.orders_release_due()


@shared_task(ignore_result=True)
def release_order(order_id: int) -> None:
    """A nudge for an order released at once (hold 0); the beat sweep is the safety net."""
    try:
        services.order_release(order_id=order_id, actor="system", reason="no hold window")
    except OrderStateError:
        pass  # already released, cancelled or approved: nothing to do


@shared_task(bind=True, ignore_result=True, max_retries=None)
def submit_order(self, order_id: int) -> None:
    result = services.order_submit(order_id=order_id)
    if result.retry_in is not None:
        raise self.retry(countdown=result.retry_in)


@shared_task(ignore_result=True)
def submit_orders(order_ids: list[int]) -> None:
    """Submit a released batch; an order that needs a retry continues as its own task."""
    for order_id, retry_in in services.orders_submit(order_ids=order_ids).items():
        submit_order.apply_async((order_id,), countdown=retry_in)


@shared_task(ignore_result=True)
def resubmit_stalled_orders() -> int:
    """Beat: re-queue releasing orders whose submit task was lost (worker killed, broker flushed)."""
    longest_backoff = settings.DASH_COMMERCE_BACKOFF_SECONDS * 2 ** max(settings.DASH_COMMERCE_MAX_ATTEMPTS - 1, 0)
    stalled = selectors.orders_stalled_in_releasing(older_than=timedelta(seconds=max(60, longest_backoff + 30)))
    for order_id in stalled:
        submit_order.delay(order_id)
    if stalled:
        log.warning("stalled_orders_requeued count=%s", len(stalled))
    return len(stalled)


@shared_task(ignore_result=True)
def advance_simulated_commerce() -> None:
    """Beat: the simulated shop ships and delivers its orders after the configured delays."""
    if settings.DASH_COMMERCE_BACKEND != "simulated":
        return
    services.orders_advance_simulated(
        ship_after=timedelta(seconds=settings.DASH_SIM_SHIP_SECONDS),
        deliver_after=timedelta(seconds=settings.DASH_SIM_DELIVER_SECONDS),
    )


@shared_task(ignore_result=True, autoretry_for=(OSError,), retry_backoff=True, max_retries=5)
def send_notice(*, customer_id: int, kind: str, subject: str, lines: list[str], link: str = "", link_label: str = "") -> None:
    """One e-mail notice; a mail server that is down is retried with backoff."""
    from orders.notices import notice_send

    notice_send(customer_id=customer_id, kind=kind, subject=subject, lines=lines, link=link, link_label=link_label)


@shared_task(ignore_result=True)
def send_order_notices() -> int:
    """Beat, every few seconds: the e-mail notices of new timeline entries (see orders.notices)."""
    from orders.notices import order_notices_send

    return order_notices_send()
