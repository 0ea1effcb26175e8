"""The one place that sends to a customer's channel group (`customer.<id>`, see consumers).

Sends run on one long-lived event loop per process, queued and fire-and-forget, after the commit:
`async_to_sync` would start a thread, a loop and a Redis connection for every message
(about 3 ms of CPU each, measured by `make bench`). Group sends are at-most-once anyway; every
order carries a `version` and the page refetches when it sees a gap.

Most customers have no live page open, and channels_redis's `group_send` to an empty group
still costs two Redis commands and about 0.5 ms of CPU (measured in-process; an order makes
five broadcasts in its life). So the sender takes what is queued as one batch, asks Redis in
one pipelined round trip which of those groups have members, and sends only to those: the
same check `group_send` makes itself (it reads the group's members, then sends), so a page
that joins between the check and the send misses the message exactly as it would there."""

import asyncio
import logging
import os
import threading
import time
from typing import NotRequired, TypedDict

from channels.layers import get_channel_layer
from channels_redis.core import RedisChannelLayer
from django.db import transaction

log = logging.getLogger(__name__)


class OrderUpdateMessage(TypedDict):
    type: str  # "order.update": the consumer's handler name
    order: dict
    # Unix time (seconds) stamped right after the commit: the page's live lag is measured from it.
    committed_at: NotRequired[float]


def customer_group(customer_id: int) -> str:
    return f"customer.{customer_id}"


class _Sender:
    """One event loop thread per process that sends queued messages one after another: a
    sweep that moves two hundred orders must not open two hundred Redis connections at once
    (channels_redis refuses past its pool size, and those messages would be lost)."""

    def __init__(self):
        self.pid = os.getpid()
        self.loop = asyncio.new_event_loop()
        self.queue: asyncio.Queue = asyncio.Queue()
        threading.Thread(target=self._run, name="dash-broadcast", daemon=True).start()

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_until_complete(self._drain())

    async def _drain(self) -> None:
        layer = get_channel_layer()
        queue = self.queue
        while True:
            batch = [await queue.get()]
            while not queue.empty():
                batch.append(queue.get_nowait())
            try:
                listening = await groups_with_members(layer, {customer_group(customer_id) for customer_id, _ in batch})
            except Exception as exc:  # noqa: BLE001 - at-most-once: log and go on
                log.warning("broadcast_failed messages=%s error=%r", len(batch), exc)
                continue
            for customer_id, message in batch:
                group = customer_group(customer_id)
                if group not in listening:
                    continue
                try:
                    await layer.group_send(group, message)
                except Exception as exc:  # noqa: BLE001 - at-most-once: log and go on
                    log.warning("broadcast_failed customer=%s error=%r", customer_id, exc)

    def put(self, customer_id: int, message: OrderUpdateMessage) -> None:
        self.loop.call_soon_threadsafe(self.queue.put_nowait, (customer_id, message))


async def groups_with_members(layer, groups: set[str]) -> set[str]:
    """Those of `groups` that have a member now: one pipelined EXISTS per Redis shard on the
    layer's own keys and connections (channels_redis deletes a group's key with its last
    member). Another kind of layer is asked nothing: every group may have members."""
    if not isinstance(layer, RedisChannelLayer):
        return groups
    by_shard: dict[int, list[str]] = {}
    for group in groups:
        by_shard.setdefault(layer.consistent_hash(group), []).append(group)
    found = set()
    for index, names in by_shard.items():
        async with layer.connection(index).pipeline(transaction=False) as pipe:
            for name in names:
                pipe.exists(layer._group_key(name))
            counts = await pipe.execute()
        found.update(name for name, count in zip(names, counts, strict=True) if count)
    return found


_sender: _Sender | None = None
_sender_lock = threading.Lock()


def _process_sender() -> _Sender:
    """This process's sender; a forked child (gunicorn, Celery) starts its own."""
    global _sender
    with _sender_lock:
        if _sender is None or _sender.pid != os.getpid():
            _sender = _Sender()
        return _sender


def send_to_customer(customer_id: int, message: OrderUpdateMessage) -> None:
    if get_channel_layer() is None:
        return
    _process_sender().put(customer_id, message)


def broadcast_on_commit(customer_id: int, message: OrderUpdateMessage) -> None:
    transaction.on_commit(lambda: send_to_customer(customer_id, {**message, "committed_at": time.time()}))
