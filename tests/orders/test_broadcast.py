"""Broadcasts go out on one sender per process, queued: a burst (a sweep moving hundreds of
orders) arrives whole and in order through the real Redis channel layer, and only customers
with a page in their group are sent to."""

import asyncio
from concurrent.futures import ThreadPoolExecutor

from channels.layers import get_channel_layer

from orders.broadcast import customer_group, groups_with_members, send_to_customer


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


async def _membership_as_the_sender_sees_it() -> list[set[str]]:
    layer = get_channel_layer()
    listening, gone, never = customer_group(11), customer_group(12), customer_group(13)
    # given a browser in customer 11's group and one that has left customer 12's
    channel, other = await layer.new_channel(), await layer.new_channel()
    await layer.group_add(listening, channel)
    await layer.group_add(gone, other)
    before_leaving = await groups_with_members(layer, {listening, gone, never})
    await layer.group_discard(gone, other)
    after_leaving = await groups_with_members(layer, {listening, gone, never})
    await layer.group_discard(listening, channel)
    return [before_leaving, after_leaving, await groups_with_members(layer, {listening})]


def test_the_sender_skips_only_groups_without_members():
    # when the sender asks Redis which customers of a batch have a live page open
    with ThreadPoolExecutor(1) as pool:
        before, after, emptied = pool.submit(asyncio.run, _membership_as_the_sender_sees_it()).result(timeout=60)
    # then exactly the groups with a member now are sent to
    assert before == {customer_group(11), customer_group(12)}
    assert after == {customer_group(11)}
    assert emptied == set()
