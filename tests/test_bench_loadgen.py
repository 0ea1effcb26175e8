"""The load generator's summary: what `make bench` reports is computed from these records."""

import asyncio
import concurrent.futures

import pytest

from bench.loadgen import KeepAlivePool, LoadResult, Record, summarize


def _result(records):
    return LoadResult(
        rate=10, warmup=0, duration=2, records=records, late_sends=0, max_send_slip_ms=0.0,
        max_connections=1, connections_opened=1, cpu_seconds=0.0, wall_seconds=2.0, t0_unix=1000.0,
    )  # fmt: skip


def test_accepted_events_are_counted_by_when_they_were_sent_not_when_their_answer_came():
    # A window of [1 s, 2 s): the event sent at 0.5 s doesn't count although its answer arrived
    # inside the window; the two sent at 1.5 and 1.6 s count although theirs came after it.
    records = [
        Record(scheduled=0.5, done=1.2, status=200, outcome="order_in_progress"),
        Record(scheduled=1.5, done=2.3, status=200, outcome="order_in_progress"),
        Record(scheduled=1.6, done=2.4, status=201, outcome="order_placed"),
    ]
    load = summarize(_result(records), warmup=1.0, duration=1.0)
    assert load["accepted_in_window"] == 2
    assert load["accepted_per_s"] == 2.0
    assert load["completed_in_window"] == 1
    assert load["window_started_unix"] == 1001.0


def test_an_error_or_a_refusal_sent_in_the_window_is_not_accepted():
    records = [
        Record(scheduled=1.1, done=1.2, status=429, outcome="throttled"),
        Record(scheduled=1.2, done=1.3, status=200, outcome="order_in_progress", error="replay_mismatch"),
        Record(scheduled=1.3, done=-1.0, error="timeout"),
        Record(scheduled=1.4, done=1.5, status=201, outcome="order_placed"),
    ]
    load = summarize(_result(records), warmup=1.0, duration=1.0)
    assert load["accepted_in_window"] == 1
    assert load["errors"] == 3


def _run(scenario):
    """asyncio.run in a thread of its own: the browser tests leave an event loop running in this
    one (Playwright's sync API)."""
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(lambda: asyncio.run(scenario())).result(timeout=30)


def _serve_one_request_per_connection():
    """A server that answers the first request on each connection, keeps it open, and closes it
    without an answer when a second request arrives (a worker that died, a keep-alive timeout)."""

    async def handle(reader, writer):
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nIdempotent-Replayed: true\r\n\r\n{}")
        await writer.drain()
        await reader.readuntil(b"\r\n\r\n")
        writer.close()

    return asyncio.start_server(handle, "127.0.0.1", 0)


def test_a_request_on_a_kept_alive_connection_the_server_closed_is_sent_again_on_a_new_one():
    async def scenario():
        server = await _serve_one_request_per_connection()
        port = server.sockets[0].getsockname()[1]
        pool = KeepAlivePool(("127.0.0.1", port))
        resent, sending = [], []
        request = b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n"
        first = await pool.send(request, on_sending=lambda: sending.append(1))
        second = await pool.send(request, on_sending=lambda: sending.append(2), on_resent=lambda: resent.append(1))
        pool.close_idle()
        server.close()
        await server.wait_closed()
        return first, second, resent, sending, pool

    first, second, resent, sending, pool = _run(scenario)
    assert first == (200, b"{}", True)
    assert second == (200, b"{}", True)
    assert resent == [1]
    assert sending == [1, 2]
    assert pool.opened == 2
    assert pool.open_now == 0


def test_a_new_connection_that_fails_is_an_error_not_a_resend():
    async def scenario():
        server = await asyncio.start_server(lambda r, w: w.close(), "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        pool = KeepAlivePool(("127.0.0.1", port))
        resent = []
        try:
            with pytest.raises(ConnectionResetError):
                await pool.send(b"GET / HTTP/1.1\r\n\r\n", on_resent=lambda: resent.append(1))
        finally:
            server.close()
            await server.wait_closed()
        return pool, resent

    pool, resent = _run(scenario)
    assert resent == []
    assert pool.opened == 1
    assert pool.open_now == 0


@pytest.mark.parametrize("each_once", [True, False])
def test_the_prime_presses_each_button_once_before_any_twice(each_once):
    from bench.loadgen import LoadGenerator

    # given the prime's generator over 50 buttons (the measured load picks buttons at random)
    gen = LoadGenerator(
        host="127.0.0.1", port=9, tokens=[f"t{n}" for n in range(50)], rate=10, seconds=10, replay_share=0, each_once=each_once
    )

    # when it picks 100 requests
    buttons = [gen._next_request()[0] for _ in range(100)]

    # then each button once in the first 50 and once in the next 50, in a shuffled order
    once = sorted(buttons[:50]) == list(range(50)) and sorted(buttons[50:]) == list(range(50))
    assert once is each_once
    assert buttons[:50] != list(range(50))


def test_the_generator_answers_every_request_once_through_closes_and_a_timeout():
    from bench.loadgen import LoadGenerator

    answers = []

    async def handle(reader, writer):
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = next(int(line.split(b":")[1]) for line in head.split(b"\r\n") if line.lower().startswith(b"content-length"))
                await reader.readexactly(length)
                answers.append(1)
                n = len(answers)
                if n == 3:  # never answered: the generator times it out and closes the connection
                    await reader.read()
                    return
                body = b'{"outcome":"order_in_progress","order":{"id":"o-%d"}}' % n
                close = b"Connection: close\r\n" if n % 5 == 0 else b""
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n%s\r\n%s" % (len(body), close, body))
                await writer.drain()
                if close or n == 7:  # the seventh closes without saying so: the next request is sent again
                    return
        except (asyncio.IncompleteReadError, ConnectionError):
            return
        finally:
            writer.close()

    async def scenario():
        server = await asyncio.start_server(handle, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        gen = LoadGenerator(host="127.0.0.1", port=port, tokens=["a", "b"], rate=40, seconds=1, timeout=0.5, replay_share=0, max_connections=4)
        try:
            return await gen.run()
        finally:
            server.close()
            await server.wait_closed()

    # when 40 requests go out at 40/s, at most 4 at a time
    result = _run(scenario)

    # then one timed out and every other one has its own answer; closed connections were replaced
    assert len(result.records) == 40
    assert [r.error for r in result.records if r.error] == ["timeout"]
    answered = [r for r in result.records if r.done >= 0]
    assert len(answered) == 39
    assert all(r.status == 200 and r.outcome == "order_in_progress" for r in answered)
    assert len({r.order_id for r in answered}) == 39
    assert result.max_connections <= 4
    assert result.connections_opened >= 10
