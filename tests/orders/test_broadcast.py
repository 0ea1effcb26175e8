"""Broadcasts go out on one sender per process, queued: a burst (a sweep moving hundreds of
orders) arrives whole and in order through the real Redis channel layer."""

import asyncio
from concurrent.futures import ThreadPoolExecutor

from channels.layers import get_channel_layer

from orders.broadcast import customer_group, send_to_customer


async def _burst_as_seen_by_a_browser(n: int) -> list[int]:
    # given a browser's channel in the customer's group
    layer = get_channel_layer()
    channel = await layer.new_channel()
    await layer.group_add(customer_group(7), channel)
    # when a sweep broadcasts n order updates at once
    for i in range(n):
        send_to_customer(7, {"type": "order.update", "order": {"version": i}})
    return [(await asyncio.wait_for(layer.receive(channel), 10))["order"]["version"] for _ in range(n)]


def test_a_burst_of_broadcasts_arrives_whole_and_in_order():
    # a thread of its own: the test thread may already run an event loop (Playwright)
    with ThreadPoolExecutor(1) as pool:
        received = pool.submit(asyncio.run, _burst_as_seen_by_a_browser(250)).result(timeout=60)
    # then every one arrives, in the order sent
    assert received == list(range(250))
