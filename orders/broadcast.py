"""The one place that sends to a customer's channel group (see consumers in issue 3)."""

import logging
from typing import TypedDict

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import transaction

log = logging.getLogger(__name__)


class OrderUpdateMessage(TypedDict):
    type: str  # "order.update": the consumer's handler name
    order: dict


def customer_group(customer_id: int) -> str:
    return f"customer.{customer_id}"


def _send(customer_id: int, message: OrderUpdateMessage) -> None:
    try:
        async_to_sync(get_channel_layer().group_send)(customer_group(customer_id), message)
    except Exception:  # group sends are at-most-once; the page refetches on a version gap
        log.warning("broadcast_failed customer=%s", customer_id, exc_info=True)


def broadcast_on_commit(customer_id: int, message: OrderUpdateMessage) -> None:
    transaction.on_commit(lambda: _send(customer_id, message))
