"""The live-update websocket (/ws/orders/) on the real ASGI application and the Redis channel
layer: only signed-in customers, only their own orders, broadcasts from web and worker alike."""

import asyncio
from concurrent.futures import ThreadPoolExecutor

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from django.conf import settings
from django.db import connection
from django.test import Client

from dash.asgi import application
from orders import tasks
from orders.consumers import CLOSE_UNAUTHENTICATED
from orders.services import order_cancel_by_customer
from tests.factories import ProductFactory, make_order

ORIGIN = (b"origin", b"http://testserver")


def _close_connection() -> None:
    # the wrapper may have been opened by another thread of asgiref's executor
    connection.inc_thread_sharing()
    try:
        connection.close()
    finally:
        connection.dec_thread_sharing()


def _run(coro, timeout: float = 60):
    """Each scenario on an event loop of its own thread (the test thread may already run one:
    Playwright); then the connection the consumer's session lookup opened is closed, so the
    test database can be dropped."""

    async def scenario_then_close():
        try:
            return await coro
        finally:
            await sync_to_async(_close_connection)()

    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, scenario_then_close()).result(timeout=timeout)


async def _db(fn, **kwargs):
    """Run ORM code on a thread of its own, closing its connection after (as a request would)."""

    def call():
        try:
            return fn(**kwargs)
        finally:
            connection.close()

    return await asyncio.to_thread(call)


def _cookie_of(user) -> bytes:
    client = Client()
    client.force_login(user)
    return f"{settings.SESSION_COOKIE_NAME}={client.cookies[settings.SESSION_COOKIE_NAME].value}".encode()


def _socket(cookie: bytes | None = None) -> WebsocketCommunicator:
    headers = [ORIGIN] + ([(b"cookie", cookie)] if cookie else [])
    return WebsocketCommunicator(application, "/ws/orders/", headers=headers)


@pytest.mark.parametrize("cookie", [None, b"sessionid=not-a-session"], ids=["no_cookie", "bad_session"])
@pytest.mark.django_db(transaction=True)
def test_anonymous_websocket_is_refused(cookie):
    async def scenario():
        ws = _socket(cookie)
        connected, code = await ws.connect()
        await ws.disconnect()
        return connected, code

    assert _run(scenario()) == (False, CLOSE_UNAUTHENTICATED)


@pytest.mark.django_db(transaction=True)
def test_a_socket_from_a_foreign_origin_is_refused(customer):
    cookie = _cookie_of(customer)

    async def scenario():
        ws = WebsocketCommunicator(application, "/ws/orders/", headers=[(b"origin", b"https://evil.example"), (b"cookie", cookie)])
        connected, _ = await ws.connect()
        await ws.disconnect()
        return connected

    assert _run(scenario()) is False


@pytest.mark.django_db(transaction=True)
def test_a_customer_gets_their_own_order_changes_and_nobody_elses(customer, other_customer, product):
    mine, theirs = _cookie_of(customer), _cookie_of(other_customer)

    async def scenario():
        me, them = _socket(mine), _socket(theirs)
        assert (await me.connect())[0] and (await them.connect())[0]
        await me.send_json_to({"type": "ping"})
        pong = await me.receive_json_from(timeout=5)
        # when an order of mine is placed and removed (a web request's transactions)
        order = await _db(make_order, customer=customer, product=product, quantity=2)
        await _db(order_cancel_by_customer, customer_id=customer.pk, public_id=order.public_id)
        frames = [await me.receive_json_from(timeout=10) for _ in range(2)]
        nothing_for_them = await them.receive_nothing(timeout=0.5)
        await me.disconnect()
        await them.disconnect()
        return pong, order, frames, nothing_for_them

    pong, order, frames, nothing_for_them = _run(scenario())
    assert pong == {"type": "pong"}
    assert [(f["type"], f["order"]["id"], f["order"]["status"], f["order"]["version"]) for f in frames] == [
        ("order.update", str(order.public_id), "held", 1),
        ("order.update", str(order.public_id), "cancelled", 2),
    ]
    assert frames[0]["order"]["product"] == {"sku": product.sku, "name": "Laundry Pods"}
    assert frames[0]["order"]["quantity"] == 2
    assert all(isinstance(f["committed_at"], float) for f in frames)
    assert nothing_for_them


@pytest.mark.django_db(transaction=True)
def test_a_broadcast_from_a_celery_worker_reaches_the_socket(customer, celery_worker_process):
    # given a held order and the customer's open socket
    cookie = _cookie_of(customer)
    order = make_order(customer=customer, product=ProductFactory(name="Paper Towels"), hold_seconds=3600)
    worker = celery_worker_process()

    async def scenario():
        ws = _socket(cookie)
        assert (await ws.connect())[0]
        # when a real worker releases it (and then submits it to the simulated shop)
        tasks.release_order.delay(order.pk)
        frames = [await ws.receive_json_from(timeout=20) for _ in range(2)]
        await ws.disconnect()
        return frames

    frames = _run(scenario())
    # then both changes arrive, in order, from the worker's process
    assert [(f["order"]["status"], f["order"]["version"]) for f in frames] == [("releasing", 2), ("submitted", 3)]
    assert "release_order" in worker.log()
