"""E-mail notices to a customer.

Order notices (placed, waiting for confirmation, released, delivered) are read from the
order timeline by a sweep, `order_notices_send` (beat, every few seconds): placing or moving
an order costs nothing extra, a sweep mails a whole batch over one connection, and a mail
server that is down delays the notices without losing them (the cursor moves only after a
batch was sent; a batch that failed half-way may send some of its mails twice).

Other notices (a supply running low, a silent device) go through `notice_on_commit`: a task
queued after the caller's transaction commits, which calls `notice_send`.

Both honour the customer's "e-mail notices" setting. A notice is a subject, a few lines of
text and, usually, one link back to the site (made absolute with DASH_SITE_URL).
"""

import logging
from datetime import datetime, timedelta
from urllib.parse import urljoin

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.mail import EmailMultiAlternatives, mailers, send_mail
from django.db import transaction
from django.template.loader import render_to_string
from django.utils import timezone

from orders.models import CustomerSettings, NoticeCursor, OrderEvent, OrderStatus
from orders.selectors import customer_settings

log = logging.getLogger(__name__)


def absolute_url(path: str) -> str:
    return urljoin(settings.DASH_SITE_URL.rstrip("/") + "/", path.lstrip("/")) if path else ""


def notice_on_commit(*, customer_id: int, kind: str, subject: str, lines: list[str], link: str = "", link_label: str = "") -> None:
    """Queue a notice for after the current transaction commits (nothing is sent if it rolls back)."""
    from orders import tasks  # tasks import services; imported late to keep the cycle out of import time

    payload = {"customer_id": customer_id, "kind": kind, "subject": subject, "lines": lines, "link": link, "link_label": link_label}
    transaction.on_commit(lambda: tasks.send_notice.delay(**payload))


def notice_send(*, customer_id: int, kind: str, subject: str, lines: list[str], link: str = "", link_label: str = "") -> bool:
    """Send one notice now. False when the customer turned notices off or has no address."""
    user = get_user_model().objects.filter(pk=customer_id).only("email").first()
    if user is None or not user.email:
        return False
    if not customer_settings(customer_id=customer_id).email_notices:
        log.info("notice_skipped customer=%s kind=%s reason=notices_off", customer_id, kind)
        return False
    full_subject, text, html = _render(subject=subject, lines=lines, link=link, link_label=link_label, kind=kind)
    send_mail(subject=full_subject, message=text, html_message=html, from_email=settings.DEFAULT_FROM_EMAIL, recipient_list=[user.email])
    log.info("notice_sent customer=%s kind=%s", customer_id, kind)
    return True


def _render(*, subject: str, lines: list[str], link: str, link_label: str, kind: str) -> tuple[str, str, str]:
    context = {"subject": subject, "lines": lines, "link": absolute_url(link), "link_label": link_label or "Open Dash", "kind": kind}
    return f"Dash: {subject}", render_to_string("emails/notice.txt", context), render_to_string("emails/notice.html", context)


# --- Order notices, read from the timeline -------------------------------------------------


def _duration(seconds: float) -> str:
    seconds = round(seconds)
    if seconds < 60:
        return f"{seconds} seconds"
    minutes = round(seconds / 60)
    return "1 minute" if minutes == 1 else f"{minutes} minutes"


def order_notice_text(*, kind: str, name: str, quantity: int, hold_seconds: float = 0) -> tuple[str, list[str], str]:
    """(subject, lines, link label) of an order notice."""
    what = f"{quantity} × {name}"
    if kind == "order_placed":
        when = f"in {_duration(hold_seconds)}" if hold_seconds >= 1 else "at once"
        return f"Order placed: {what}", [f"A new order for {what} was placed.", f"It goes to the shop {when} unless you remove it."], "Review this order"
    if kind == "order_needs_confirmation":
        return f"Please confirm: {what}", [f"An order for {what} waits for you to confirm it; nothing is ordered until you do."], "Review this order"
    if kind == "order_released":
        return f"On its way to the shop: {what}", [f"Your order for {what} was released to the shop."], "Follow this order"
    return f"Delivered: {what}", [f"Your order for {what} was delivered."], "See your orders"


def _order_notice_kind(from_status: str, to_status: str) -> str | None:
    if not from_status:
        return "order_placed" if to_status == OrderStatus.HELD else "order_needs_confirmation"
    if to_status == OrderStatus.RELEASING and from_status == OrderStatus.HELD:
        return "order_released"
    if to_status == OrderStatus.DELIVERED:
        return "order_delivered"
    return None


_CURSOR = "orders"


def order_notices_send(*, now: datetime | None = None, batch: int = 500) -> int:
    """Mail the notices of the timeline entries after the cursor, up to a safe horizon; returns
    how many were sent. Safe to run twice or concurrently (the cursor row is locked).

    The horizon: only entries stamped more than DASH_NOTICE_LAG_SECONDS ago are read, so an
    entry whose transaction is still open (its id drawn before others that committed) is not
    skipped: every transaction that writes the timeline commits right after writing it."""
    now = now or timezone.now()
    horizon = OrderEvent.objects.filter(at__lt=now - timedelta(seconds=settings.DASH_NOTICE_LAG_SECONDS)).order_by("-id").values_list("id", flat=True).first()
    if horizon is None:
        return 0
    oldest = now - timedelta(hours=settings.DASH_NOTICE_MAX_AGE_HOURS)
    sent = 0
    while True:
        with transaction.atomic():
            cursor, _ = NoticeCursor.objects.select_for_update().get_or_create(name=_CURSOR)
            if cursor.last_id >= horizon:
                return sent
            upto = min(cursor.last_id + batch, horizon)
            entries = list(
                OrderEvent.objects.filter(id__gt=cursor.last_id, id__lte=upto, at__gte=oldest)
                .filter(to_status__in=[OrderStatus.HELD, OrderStatus.NEEDS_CONFIRMATION, OrderStatus.RELEASING, OrderStatus.DELIVERED])
                .exclude(order__customer__in=CustomerSettings.objects.filter(email_notices=False).values("customer_id"))
                .select_related("order__product", "order__customer")
                .order_by("id")
            )
            messages = []
            for entry in entries:
                order = entry.order
                kind = _order_notice_kind(entry.from_status, entry.to_status)
                if kind is None or not order.customer.email:
                    continue
                hold = (order.hold_until - entry.at).total_seconds() if order.hold_until else 0
                subject, lines, label = order_notice_text(kind=kind, name=order.product.name, quantity=order.quantity, hold_seconds=max(hold, 0))
                subject, text, html = _render(subject=subject, lines=lines, link=f"/orders/#order-{order.public_id}", link_label=label, kind=kind)
                message = EmailMultiAlternatives(subject, text, settings.DEFAULT_FROM_EMAIL, [order.customer.email])
                message.attach_alternative(html, "text/html")
                messages.append(message)
            if messages:
                mailers.default.send_messages(messages)  # raises when the mail server fails: the cursor stays
            cursor.last_id = upto
            cursor.save(update_fields=["last_id", "updated_at"])
        sent += len(messages)
        log.info("order_notices_sent count=%s upto=%s", len(messages), upto)
