"""An open-model load generator for `POST /api/v1/device/events`, cheap enough in CPU to share
a small machine with the server it measures.

Open model: request i is due at t0 + i/rate and is sent when due, whether or not earlier
answers came back; latency is measured from the *scheduled* time, so a stalled server shows
up as latency instead of silently lowering the offered load (coordinated omission).

The HTTP/1.1 client is a hand-rolled asyncio protocol, driven by callbacks (no task, future or
timeout object per request): every request carries Content-Length,
the answer is read as status line + headers + Content-Length body. Connections are kept alive
when the server allows it (`Connection: close` is honoured, as gunicorn's sync workers send it)
and closed as soon as the answer is read. In-flight requests (= open connections) are capped;
a request that waits for a slot, or whose send slips more than 10 ms, is a "late send".

Standalone, against a running server and a token file written by bench.setup_data:
    python -m bench.loadgen --port 8000 --tokens buttons.json --rate 200 --duration 10
"""

import argparse
import asyncio
import contextlib
import gc
import math
import random
import socket
import sys
import time
import uuid
from collections import Counter, deque
from dataclasses import dataclass, field
from pathlib import Path

import orjson

PATH = "/api/v1/device/events"
LATE_SEND_S = 0.010
# The contract's outcomes: a 2xx answer with one of these is an accepted event.
ACCEPTED_OUTCOMES = frozenset(
    {
        "order_placed",
        "order_in_progress",
        "needs_confirmation",
        "processing",
        "recorded",
    }
)
# 409s the contract defines (the device is unclaimed or paused): answers, not errors.
CONTRACT_409 = frozenset({"device_unclaimed", "device_paused"})


@dataclass(slots=True)
class Record:
    scheduled: float  # seconds after t0
    done: float = -1.0  # seconds after t0; -1 when no answer
    status: int = 0
    outcome: str = ""
    order_id: str | None = None
    replay: bool = False  # sent as a replay of an earlier event
    replayed_header: bool = False
    error: str | None = None  # timeout, conn_error, replay_mismatch, bad_body


@dataclass
class LoadResult:
    rate: float
    warmup: float
    duration: float
    records: list[Record]
    late_sends: int
    max_send_slip_ms: float
    max_connections: int
    connections_opened: int
    cpu_seconds: float
    wall_seconds: float
    t0_unix: float = 0.0
    extra: dict = field(default_factory=dict)


class LoadGenerator:
    def __init__(
        self,
        *,
        host: str,
        port: int,
        tokens: list[str],
        rate: float,
        seconds: float,
        max_connections: int = 128,
        timeout: float = 10.0,
        replay_share: float = 0.01,
        seed: int = 1,
        half_close: bool = False,
        each_once: bool = False,
    ):
        self.host, self.port = host, port
        self.address = (socket.gethostbyname(host), port)
        self.rate, self.seconds = rate, seconds
        self.timeout = timeout
        self.replay_share = replay_share
        self.rng = random.Random(seed)
        self.half_close = half_close
        self.max_connections = max_connections
        # each_once: every button in turn, in a shuffled order (again once all have been sent).
        self.each_once = each_once
        self.queue: list[int] = []
        self.prefixes = [
            (
                f"POST {PATH} HTTP/1.1\r\nHost: {host}:{port}\r\nAuthorization: Device {t}\r\n"
                "Content-Type: application/json\r\nContent-Length: "
            ).encode()
            for t in tokens
        ]
        self.records: list[Record] = []
        # Answered originals that may be replayed: (button, body, status, answer body).
        self.replayable: deque[tuple[int, bytes, int, bytes]] = deque(maxlen=4096)
        self.pool = KeepAlivePool(self.address)
        self.late_sends = 0
        self.max_slip = 0.0

    async def run(self) -> LoadResult:
        """Send every request when it is due; each one is a few callbacks, not a task: the
        generator shares the cores with what it measures (asyncio tasks, timeouts and futures
        per request cost it about 0.24 ms of CPU each)."""
        loop = self.loop = asyncio.get_running_loop()
        total = round(self.rate * self.seconds)  # the prime sends len(tokens) / seconds a second: exactly one each
        interval = 1.0 / self.rate
        self.waiting: deque[_Send] = deque()  # due while every connection slot was taken
        self.active: set[_Send] = set()  # sent (or connecting), not yet answered
        self.unfinished = 0
        self.scheduled_all = False
        self.finished = loop.create_future()
        cpu0, wall0 = time.process_time(), time.monotonic()
        self.t0 = t0 = loop.time() + 0.05
        self.t0_unix = time.time() + (t0 - loop.time())  # wall clock of t0, to line logs up with seconds
        expiry = loop.create_task(self._expire())
        for i in range(total):
            due = t0 + i * interval
            delay = due - loop.time()
            if delay > 0.0005:
                await asyncio.sleep(delay)
            self._start(due)
        self.scheduled_all = True
        if self.unfinished:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(self.finished), self.timeout + 5)
        expiry.cancel()
        self.waiting.clear()  # never sent: recorded as no answer
        for send in list(self.active):  # sent, unanswered: no answer either
            self._drop(send)
        self.pool.close_idle()
        return LoadResult(
            rate=self.rate,
            warmup=0.0,
            duration=self.seconds,
            records=self.records,
            late_sends=self.late_sends,
            max_send_slip_ms=round(self.max_slip * 1000, 1),
            max_connections=self.pool.peak_open,
            connections_opened=self.pool.opened,
            cpu_seconds=time.process_time() - cpu0,
            wall_seconds=time.monotonic() - wall0,
            t0_unix=self.t0_unix,
        )

    def _start(self, due: float) -> None:
        button, body, expected = self._next_request()
        record = Record(scheduled=due - self.t0, replay=expected is not None)
        self.records.append(record)
        send = _Send(due, record, b"%s%d\r\n\r\n%s" % (self.prefixes[button], len(body), body), button, body, expected)
        self.unfinished += 1
        if len(self.active) < self.max_connections:
            self._send(send)
        else:
            self.waiting.append(send)

    def _send(self, send: "_Send") -> None:
        now = self.loop.time()
        slip = now - send.due
        self.max_slip = max(self.max_slip, slip)
        if slip > LATE_SEND_S:
            self.late_sends += 1
        send.started = now
        self.active.add(send)
        send.exchange = self.pool.start(send.request, self._answered, send, half_close=self.half_close)

    def _answered(self, send: "_Send", answer: "tuple[int, bytes, bool] | Exception") -> None:
        """The pool calls this with (status, body, Idempotent-Replayed), or what the connection raised."""
        if send not in self.active:
            return  # timed out already
        if isinstance(answer, Exception):
            self._done(send, error=f"conn_error:{answer.__class__.__name__}")
            return
        status, body, replayed = answer
        record = send.record
        record.done = self.loop.time() - self.t0
        record.status = status
        record.replayed_header = replayed
        try:
            data = orjson.loads(body)
            record.outcome = data.get("outcome") or "error:" + str((data.get("error") or {}).get("code"))
            order = data.get("order")
            record.order_id = order.get("id") if order else None
        except (orjson.JSONDecodeError, AttributeError):
            record.error = "bad_body"
        else:
            if send.expected is not None:
                if (status, body) != send.expected or not replayed:
                    record.error = "replay_mismatch"
            elif status < 300 or status == 409:
                self.replayable.append((send.button, send.body, status, body))
        self._done(send)

    def _done(self, send: "_Send", error: str | None = None) -> None:
        if error:
            send.record.error = error
        self.active.discard(send)
        self.unfinished -= 1
        if self.waiting:
            self._send(self.waiting.popleft())
        elif self.scheduled_all and not self.unfinished and not self.finished.done():
            self.finished.set_result(None)

    def _drop(self, send: "_Send", error: str | None = None) -> None:
        """Give up on a request in flight: its connection is closed."""
        send.exchange.abandon()
        self._done(send, error)

    async def _expire(self) -> None:
        """Requests unanswered `timeout` seconds after they were sent are timeouts."""
        while True:
            await asyncio.sleep(0.1)
            limit = self.loop.time() - self.timeout
            for send in [s for s in self.active if s.started < limit]:
                self._drop(send, "timeout")

    def _next_request(self) -> tuple[int, bytes, tuple[int, bytes] | None]:
        rng = self.rng
        if self.replayable and rng.random() < self.replay_share:
            button, body, status, answer = self.replayable[rng.randrange(len(self.replayable))]
            return button, body, (status, answer)
        if self.each_once:
            if not self.queue:
                self.queue = list(range(len(self.prefixes)))
                rng.shuffle(self.queue)
            button = self.queue.pop()
        else:
            button = rng.randrange(len(self.prefixes))
        body = b'{"event_id":"%s","type":"press"}' % uuid.uuid4().hex.encode()
        return button, body, None


class _Send:
    """One request of the load: when it was due, its record, its bytes, and its exchange."""

    __slots__ = ("body", "button", "due", "exchange", "expected", "record", "request", "started")

    def __init__(self, due: float, record: Record, request: bytes, button: int, body: bytes, expected):
        self.due, self.record, self.request, self.button, self.body, self.expected = due, record, request, button, body, expected
        self.started = due
        self.exchange: _Exchange | None = None


class KeepAlivePool:
    """Kept-alive HTTP/1.1 connections to one address, one request on each at a time. A request
    sent on a kept-alive connection that the server had closed (or whose worker died) is sent
    again at once on a new connection, as HTTP clients do; a new connection failing is an error."""

    def __init__(self, address: tuple[str, int]):
        self.address = address
        self.idle: list[_Connection] = []
        self.open_now = 0
        self.opened = 0
        self.peak_open = 0

    def start(self, request: bytes, callback, token, *, half_close: bool = False, on_sending=None, on_resent=None) -> "_Exchange":
        """Send `request`; `callback(token, (status, body, Idempotent-Replayed))` when its answer is
        in, or `callback(token, exception)` with what the connection raised (OSError,
        ConnectionResetError). `on_sending()` is called once, when the first connection is in
        hand; `on_resent()` when the request goes again on a new one. Callbacks, not a task or a
        future per request: the load generator shares the cores with what it measures."""
        exchange = _Exchange(request, callback, token, half_close, on_sending, on_resent)
        if self.idle:
            self._write(exchange, self.idle.pop(), reused=True)
        else:
            asyncio.get_running_loop().create_task(self._connect_and_write(exchange))
        return exchange

    async def send(self, request: bytes, *, half_close: bool = False, on_sending=None, on_resent=None) -> tuple[int, bytes, bool]:
        """`start` as a coroutine: (status, body, Idempotent-Replayed), or raises what the
        connection raised; cancelling it abandons the request."""
        answered = asyncio.get_running_loop().create_future()
        exchange = self.start(request, _settle, answered, half_close=half_close, on_sending=on_sending, on_resent=on_resent)
        try:
            return await answered
        finally:
            exchange.abandon()

    async def _connect_and_write(self, exchange: "_Exchange") -> None:
        try:
            conn = await self._connect()
        except OSError as exc:
            exchange.finish(exc)
            return
        if exchange.over:  # abandoned while connecting
            self._close(conn)
            return
        self._write(exchange, conn, reused=False)

    def _write(self, exchange: "_Exchange", conn: "_Connection", *, reused: bool) -> None:
        if exchange.on_sending is not None:
            on_sending, exchange.on_sending = exchange.on_sending, None
            on_sending()
        exchange.pool, exchange.conn, exchange.reused = self, conn, reused
        conn.on_answer = (self._answered, exchange)
        try:
            conn.send(exchange.request, exchange.half_close)
        except ConnectionResetError:
            self._answered(exchange, None)

    def _answered(self, exchange: "_Exchange", answer: tuple[int, bytes, bool, bool] | None) -> None:
        conn, exchange.conn = exchange.conn, None
        if answer is None:
            self._close(conn)
            if exchange.reused:  # a kept-alive connection the server had closed: once more, on a new one
                if exchange.on_resent is not None:
                    exchange.on_resent()
                asyncio.get_running_loop().create_task(self._connect_and_write(exchange))
            else:
                exchange.finish(ConnectionResetError("connection closed before a complete answer"))
            return
        status, body, close, replayed = answer
        if close or exchange.half_close or conn.lost:
            self._close(conn)
        else:
            self.idle.append(conn)
        exchange.finish((status, body, replayed))

    def close_idle(self) -> None:
        while self.idle:
            self._close(self.idle.pop())

    async def _connect(self) -> "_Connection":
        _, conn = await asyncio.get_running_loop().create_connection(_Connection, *self.address)
        self.opened += 1
        self.open_now += 1
        self.peak_open = max(self.peak_open, self.open_now)
        return conn

    def _close(self, conn: "_Connection | None") -> None:
        if conn is not None:
            self.open_now -= 1
            conn.transport.close()


class _Exchange:
    """One request on a KeepAlivePool, from its first connection to its answer."""

    __slots__ = ("callback", "conn", "half_close", "on_resent", "on_sending", "over", "pool", "request", "reused", "token")

    def __init__(self, request: bytes, callback, token, half_close: bool, on_sending, on_resent):
        self.request, self.callback, self.token, self.half_close = request, callback, token, half_close
        self.on_sending, self.on_resent = on_sending, on_resent
        self.pool: KeepAlivePool | None = None
        self.conn: _Connection | None = None
        self.reused = False
        self.over = False

    def finish(self, answer) -> None:
        if not self.over:
            self.over = True
            self.callback(self.token, answer)

    def abandon(self) -> None:
        """Give up (a timeout): its connection, if it has one, is closed, and no answer comes."""
        self.over = True
        if self.conn is not None:
            self.conn.on_answer = None
            self.pool._close(self.conn)
            self.conn = None


def _settle(future: asyncio.Future, answer) -> None:
    if not future.done():
        if isinstance(answer, BaseException):
            future.set_exception(answer)
        else:
            future.set_result(answer)


class _Connection(asyncio.Protocol):
    """One HTTP/1.1 connection, one request at a time: a protocol instead of asyncio streams,
    because the generator must leave the CPU to the server it measures."""

    def __init__(self):
        self.transport = None
        self.buf = bytearray()
        self.head = None  # (status, length, close, replayed) once the headers are in
        self.body_at = 0
        self.on_answer = None  # (callback, token): callback(token, answer or None when the connection closed first)
        self.lost = False

    def connection_made(self, transport):
        self.transport = transport

    def send(self, data: bytes, half_close: bool) -> None:
        """Write a request whose answer goes to `on_answer`, set beforehand."""
        if self.lost:
            raise ConnectionResetError("connection closed by the server")
        self.transport.write(data)
        if half_close:
            self.transport.write_eof()

    def data_received(self, data):
        buf = self.buf
        buf += data
        if self.head is None:
            end = buf.find(b"\r\n\r\n")
            if end < 0:
                return
            self.head = _parse_head(bytes(buf[:end]))
            self.body_at = end + 4
        status, length, close, replayed = self.head
        end = self.body_at + length
        if len(buf) >= end:
            body = bytes(buf[self.body_at : end])
            del buf[:end]
            self.head = None
            if self.on_answer is not None:
                (callback, token), self.on_answer = self.on_answer, None
                callback(token, (status, body, close, replayed))

    def eof_received(self):
        self._fail()
        return False  # close the transport

    def connection_lost(self, exc):
        self._fail()

    def _fail(self):
        self.lost = True
        if self.on_answer is not None:
            (callback, token), self.on_answer = self.on_answer, None
            callback(token, None)


def _parse_head(head: bytes) -> tuple[int, int, bool, bool]:
    lines = head.split(b"\r\n")
    status = int(lines[0][9:12])
    length, close, replayed = 0, False, False
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        name = name.lower()
        if name == b"content-length":
            length = int(value)
        elif name == b"connection":
            close = value.strip().lower() == b"close"
        elif name == b"idempotent-replayed":
            replayed = value.strip().lower() == b"true"
    if lines[0].startswith(b"HTTP/1.0"):
        close = True
    return status, length, close, replayed


def percentile(sorted_values: list[float], p: float) -> float | None:
    """Nearest rank."""
    if not sorted_values:
        return None
    return sorted_values[max(0, math.ceil(p * len(sorted_values)) - 1)]


def summarize(result: LoadResult, *, warmup: float, duration: float) -> dict:
    """Figures over the measured window [warmup, warmup + duration) after t0; counts over all."""
    end = warmup + duration
    records = result.records
    answered = [r for r in records if r.done >= 0]
    statuses = Counter(r.status for r in answered)
    outcomes = Counter(r.outcome for r in answered)
    errors: Counter = Counter()
    for r in records:
        if r.error:
            errors[r.error] += 1
        elif r.done < 0:
            errors["no_answer"] += 1  # still waiting (for a connection or an answer) when the run ended
        elif not (200 <= r.status < 300 or (r.status == 409 and r.outcome in CONTRACT_409)):
            errors[f"http_{r.status}:{r.outcome}"] += 1
    # Accepted events/s counts the events *sent* in the window that were accepted: at a fixed
    # offered rate, counting answers that *arrived* in the window swings by a few dozen either
    # way with the latency at its two edges (799.7 or 800.3 for the same all-accepted run).
    # Lateness is the latency figures' business.
    accepted_in_window = sum(
        1 for r in answered if warmup <= r.scheduled < end and 200 <= r.status < 300 and r.outcome in ACCEPTED_OUTCOMES and not r.error
    )
    completed_in_window = sum(1 for r in answered if warmup <= r.done < end)
    latencies = sorted((r.done - r.scheduled) * 1000 for r in answered if warmup <= r.scheduled < end)
    by_second: dict[int, list[float]] = {}
    for r in answered:
        if warmup <= r.scheduled < end:
            by_second.setdefault(int(r.scheduled - warmup), []).append((r.done - r.scheduled) * 1000)
    second_p99 = {sec: percentile(sorted(v), 0.99) for sec, v in sorted(by_second.items())}
    new = [r for r in answered if not r.replay]
    placed = [r for r in new if r.outcome == "order_placed" and not r.error]
    replays = [r for r in records if r.replay]

    def ms(v):
        return None if v is None else round(v, 1)

    return {
        "scheduled": len(records),
        "answered": len(answered),
        "accepted_per_s": round(accepted_in_window / duration, 1),
        "accepted_in_window": accepted_in_window,
        "completed_in_window": completed_in_window,
        "status_counts": {str(k): v for k, v in sorted(statuses.items())},
        "outcome_counts": dict(outcomes.most_common()),
        "errors": sum(errors.values()),
        "error_kinds": dict(errors.most_common()),
        "late_sends": result.late_sends,
        "max_send_slip_ms": result.max_send_slip_ms,
        "latency_ms": {
            "count": len(latencies),
            "p50": ms(percentile(latencies, 0.50)),
            "p90": ms(percentile(latencies, 0.90)),
            "p99": ms(percentile(latencies, 0.99)),
            "max": ms(latencies[-1] if latencies else None),
        },
        # Where the slow answers are: the seconds of the measured window whose p99 passed 100 ms.
        "seconds_over_100ms": {str(sec): round(v) for sec, v in second_p99.items() if v is not None and v > 100},
        "replays": {
            "sent": len(replays),
            "ok": sum(1 for r in replays if r.done >= 0 and not r.error),
        },
        "order_placed_answers": len(placed),
        "order_in_progress_answers": sum(1 for r in new if r.outcome == "order_in_progress"),
        "placed_order_ids": sorted({r.order_id for r in placed if r.order_id}),
        "peak_connections": result.max_connections,
        "connections_opened": result.connections_opened,
        "loadgen_cpu_s": round(result.cpu_seconds, 2),
        "loadgen_wall_s": round(result.wall_seconds, 2),
        "window_started_unix": round(result.t0_unix + warmup, 3),
    }


def run(*, warmup: float, duration: float, **kwargs) -> dict:
    """Run the load for warmup + duration seconds and return the summary (see `summarize`)."""
    try:
        import uvloop

        runner = uvloop.run
    except ImportError:  # plain asyncio works, at a higher CPU cost per request
        runner = asyncio.run
    gen = LoadGenerator(seconds=warmup + duration, **kwargs)
    # The records of a run are tens of thousands of live objects: a full garbage collection
    # over them stalls the event loop long enough to miss the schedule. Nothing here forms
    # cycles that need collecting within a run.
    gc.collect()
    gc.disable()
    try:
        result = runner(gen.run())
    finally:
        gc.enable()
    return summarize(result, warmup=warmup, duration=duration)


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.loadgen")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument(
        "--tokens",
        type=Path,
        required=True,
        help="JSON list written by bench.setup_data",
    )
    parser.add_argument("--rate", type=float, default=800)
    parser.add_argument("--duration", type=float, default=60)
    parser.add_argument("--warmup", type=float, default=5)
    parser.add_argument("--connections", type=int, default=128)
    parser.add_argument(
        "--half-close",
        action="store_true",
        help="shut the write side after each request",
    )
    args = parser.parse_args()
    tokens = [b["token"] for b in orjson.loads(args.tokens.read_bytes())]
    summary = run(
        host=args.host,
        port=args.port,
        tokens=tokens,
        rate=args.rate,
        warmup=args.warmup,
        duration=args.duration,
        max_connections=args.connections,
        half_close=args.half_close,
    )
    summary.pop("placed_order_ids")
    with contextlib.suppress(BrokenPipeError):
        print(orjson.dumps(summary, option=orjson.OPT_INDENT_2).decode())
    return 0


if __name__ == "__main__":
    sys.exit(main())
