"""E-mail notices to a customer: one way to send them, whoever has something to say.

`notice_on_commit` queues the mail after the caller's transaction commits; the task calls
`notice_send`, which honours the customer's "e-mail notices" setting. A notice is a subject,
a few lines of text and, usually, one link back to the site (made absolute with DASH_SITE_URL).
"""

import logging
from urllib.parse import urljoin

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.mail import send_mail
from django.db import transaction
from django.template.loader import render_to_string

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
    context = {"subject": subject, "lines": lines, "link": absolute_url(link), "link_label": link_label or "Open Dash", "kind": kind}
    send_mail(
        subject=f"Dash: {subject}",
        message=render_to_string("emails/notice.txt", context),
        html_message=render_to_string("emails/notice.html", context),
        from_email=settings.DEFAULT_FROM_EMAIL,
        recipient_list=[user.email],
    )
    log.info("notice_sent customer=%s kind=%s", customer_id, kind)
    return True
