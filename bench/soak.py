"""`make soak`: the production-like stack under steady load while its processes are killed.

The stack is `make bench`'s (bench.device_api.start_stack): PostgreSQL (durable), Redis, the
device API pool (granian), uvicorn (pages and the customer API), a Celery worker for
submissions, one for the beat sweeps, one for the bulk queue, and beat (no fault targets the
bulk worker). This runner is also their supervisor: a process
that exits is started again after --restart-delay seconds (systemd's Restart=always), Redis on
its port (empty: it keeps nothing on disk), PostgreSQL with `pg_ctl start` (crash recovery).

Load, open model (requests are sent when due, whatever came back): single presses on random
buttons, duplicate bursts (one button pressed 5-20 times within a second), exact replays of
answered events, and customers cancelling a share of their held orders through the customer
API (allauth app session token). The generator behaves like the contract's device: an event
with no answer, a connection error, a 5xx or a 429 is sent again later with the SAME event_id
(backoff 0.5 s doubling to 8 s, with jitter) until the server gives a definitive answer.

Faults, one at a time, spaced over the run, all SIGKILL: a granian worker process, the Celery
submit worker, the sweeps worker, beat, Redis, and PostgreSQL (every postgres process at
once, the postmaster and its backends: a crash, then crash recovery on start).

After the load, a drain (retries continue until every event is answered) and a settle (no
order held past its hold, none in `releasing`), it checks the database against what the load
generator was told (bench.soak_db) and prints the figures. Exit 0 when every check passes,
1 when one fails, 2 when the stack did not start.

    python -m bench.soak --minutes 3
    make soak SOAK_ARGS="--minutes 3 --rate 150"
"""

import argparse
import asyncio
import contextlib
import gc
import os
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
import uuid
from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import orjson

from bench import device_api, loadgen
from bench.device_api import Stack, StackError, start_stack, write_json
from dash.localstack import _pg_bindir, _unprivileged_user, redis_command

ROOT = Path(__file__).resolve().parent.parent
FAULTS = ("web-worker", "submit-worker", "sweeps-worker", "beat", "redis", "postgres")
PROC_OF_FAULT = {"submit-worker": "worker", "sweeps-worker": "sweeper", "beat": "beat"}
CUSTOMER_PASSWORD = "soak-" + "p" * 20
BACKOFF_START_S, BACKOFF_MAX_S = 0.5, 8.0
RESENT = "resent_on_new_connection"  # a kept-alive connection was closed under the request
NOT_FAILED = ("ack", "replay_ok", RESENT)


def wall() -> float:
    return time.time()


# --- The stack, supervised ----------------------------------------------------------------


class SoakStack(Stack):
    """bench's Stack, remembering how each process was started so it can be started again."""

    def __init__(self, workdir: Path):
        super().__init__(workdir)
        self.argv: dict[str, list[str]] = {}
        self.nice: dict[str, int] = {}

    def spawn(self, name: str, argv: list[str], nice: int = 0) -> None:
        self.argv[name] = argv
        self.nice[name] = nice
        super().spawn(name, argv, nice)

    @property
    def redis(self):
        return self.servers[1]

    @property
    def pg(self):
        return self.servers[0]


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


def _children(pid: int) -> list[int]:
    """Live children (a killed child stays a zombie until its parent reaps it)."""
    out = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            with contextlib.suppress(OSError, IndexError, ValueError), open(f"/proc/{entry}/stat") as fh:
                state, ppid = fh.read().rsplit(")", 1)[1].split()[:2]
                if int(ppid) == pid and state != "Z":
                    out.append(int(entry))
    return sorted(out)


class Supervisor(threading.Thread):
    """Restarts whatever died, after `delay` seconds; records when."""

    def __init__(self, stack: SoakStack, delay: float):
        super().__init__(name="supervisor", daemon=True)
        self.stack, self.delay = stack, delay
        self.halt = threading.Event()
        self.dead_since: dict[str, float] = {}
        self.restarts: list[tuple[str, float]] = []  # (name, wall time it was started again)
        self.pg_pids: list[int] = []  # the killed postgres processes, gone before a restart
        bindir, user = _pg_bindir(), _unprivileged_user()
        prefix = ["runuser", "-u", user, "--"] if user else []
        self.pg_start = [
            *prefix,
            str(bindir / "pg_ctl"),
            "-D",
            str(stack.pg_datadir),
            "-l",
            str(stack.workdir / "pg" / "postgres.log"),
            "-w",
            "-t",
            "120",
            "start",
        ]

    def run(self) -> None:
        while not self.halt.wait(0.1):
            now = time.monotonic()
            for name, proc in list(self.stack.procs.items()):
                if proc.poll() is None:
                    continue
                since = self.dead_since.setdefault(name, now)
                if now - since >= self.delay:
                    device_api._signal_group(proc.pid, signal.SIGKILL)  # what is left of its group
                    self.stack.spawn(name, self.stack.argv[name], self.stack.nice[name])
                    self.restarts.append((name, wall()))
                    del self.dead_since[name]
            redis = self.stack.redis
            if redis.proc.poll() is not None:
                since = self.dead_since.setdefault("redis", now)
                if now - since >= self.delay:
                    redis.proc = subprocess.Popen(redis_command(redis.port, self.stack.workdir / "redis"), stdout=subprocess.DEVNULL)
                    self.stack.redis_pid = redis.proc.pid
                    self.restarts.append(("redis", wall()))
                    del self.dead_since["redis"]
            pm = self.stack.postmaster_pid()
            if pm is None or not _alive(pm):
                since = self.dead_since.setdefault("postgres", now)
                if now - since >= self.delay and not any(_alive(p) for p in self.pg_pids):
                    done = subprocess.run(self.pg_start, capture_output=True, text=True, check=False)
                    if done.returncode == 0:
                        self.restarts.append(("postgres", wall()))
                        del self.dead_since["postgres"]
                    else:
                        print(f"supervisor: pg_ctl start failed: {done.stderr.strip()[-300:]}", file=sys.stderr, flush=True)

    def stop(self) -> None:
        self.halt.set()
        self.join(10)

    def restarted_after(self, name: str, t: float) -> float | None:
        return next((at for n, at in self.restarts if n == name and at >= t), None)


# --- Faults -------------------------------------------------------------------------------


class Faults(threading.Thread):
    """Kills one component at each planned time and waits until it answers again."""

    def __init__(self, stack: SoakStack, sup: Supervisor, plan: list[tuple[float, str]], web_port: int, web_workers: int):
        super().__init__(name="faults", daemon=True)
        self.stack, self.sup, self.plan = stack, sup, plan
        self.web_port, self.web_workers = web_port, web_workers
        self.halt = threading.Event()
        self.done: list[dict] = []

    def run(self) -> None:
        for at, name in self.plan:
            if self.halt.wait(max(0.0, at - wall())):
                return
            record = {"name": name, "planned_at": at}
            try:
                self._kill(name, record)
                self._wait_ready(name, record)
            except Exception as exc:  # noqa: BLE001 - a fault that could not be injected is reported, not fatal
                record["error"] = repr(exc)
            self.done.append(record)
            print(
                f"  fault {name}: {record.get('detail', '')}; back after {_secs(record.get('ready_at'), record.get('killed_at'))}",
                flush=True,
            )

    def _kill(self, name: str, record: dict) -> None:
        if name == "web-worker":
            main = self.stack.procs["gunicorn"].pid
            workers = _children(main)
            victim = workers[0]
            record["killed_at"] = wall()
            os.kill(victim, signal.SIGKILL)
            record["detail"] = f"SIGKILL granian worker pid {victim} (1 of {len(workers)}; main pid {main})"
            record["victim"] = victim
        elif name in PROC_OF_FAULT:
            proc = self.stack.procs[PROC_OF_FAULT[name]]
            group = [proc.pid, *_children(proc.pid)]
            record["killed_at"] = wall()
            device_api._signal_group(proc.pid, signal.SIGKILL)
            record["detail"] = f"SIGKILL process group {proc.pid} ({len(group)} processes)"
        elif name == "redis":
            pid = self.stack.redis.proc.pid
            record["killed_at"] = wall()
            os.kill(pid, signal.SIGKILL)
            record["detail"] = f"SIGKILL redis-server pid {pid} (no persistence: it comes back empty)"
        elif name == "postgres":
            pm = self.stack.postmaster_pid()
            victims = [pm, *_children(pm)]
            self.sup.pg_pids = victims
            record["killed_at"] = wall()
            for pid in victims:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            record["detail"] = f"SIGKILL postmaster {pm} and its {len(victims) - 1} children at once"
        else:
            raise ValueError(name)

    def _wait_ready(self, name: str, record: dict, timeout: float = 120) -> None:
        t0 = record["killed_at"]
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and not self.halt.is_set():
            if self._ready(name, t0, record):
                record["ready_at"] = wall()
                restarted = self.sup.restarted_after({"web-worker": "gunicorn", **PROC_OF_FAULT}.get(name, name), t0)
                if restarted:
                    record["supervisor_restart_at"] = restarted
                return
            time.sleep(0.05)

    def _ready(self, name: str, t0: float, record: dict) -> bool:
        if name == "web-worker":
            workers = _children(self.stack.procs["gunicorn"].pid)
            if len(workers) < self.web_workers or record["victim"] in workers:
                return False
            return _http_ok(f"http://127.0.0.1:{self.web_port}/healthz")
        if name in PROC_OF_FAULT:
            proc = self.stack.procs[PROC_OF_FAULT[name]]
            return self.sup.restarted_after(PROC_OF_FAULT[name], t0) is not None and proc.poll() is None
        if name == "redis":
            import redis

            with contextlib.suppress(Exception):
                return bool(redis.Redis.from_url(self.stack.redis_url, socket_timeout=0.5).ping())
            return False
        if name == "postgres":
            return self.sup.restarted_after("postgres", t0) is not None
        return False


def _http_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1) as resp:
            return resp.status == 200
    except OSError:
        return False


def _secs(a: float | None, b: float | None) -> str:
    return "-" if a is None or b is None else f"{a - b:.1f} s"


# --- The load: a device that retries, customers who cancel -----------------------------------


@dataclass(slots=True)
class Event:
    button: int
    event_id: str
    body: bytes
    first_at: float = 0.0
    attempts: int = 0
    acked_at: float = 0.0
    status: int = 0
    answer: bytes = b""
    outcome: str = ""
    order_id: str | None = None
    rejected: str = ""
    throttled: bool = False  # answered 429 at least once (a burst past the per-device limit)


class SoakLoad:
    def __init__(self, *, port: int, asgi_port: int, buttons: list[dict], tokens: dict[int, str], args):
        self.port, self.asgi_port = port, asgi_port
        self.args = args
        self.rng = random.Random(args.seed)
        self.buttons = buttons
        self.prefixes = [
            (
                f"POST {loadgen.PATH} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nAuthorization: Device {b['token']}\r\n"
                "Content-Type: application/json\r\nContent-Length: "
            ).encode()
            for b in buttons
        ]
        self.session_tokens = tokens  # customer id -> allauth app session token
        self.events: list[Event] = []
        self.pending: set[int] = set()  # indexes of events not acknowledged yet
        self.attempts: list[tuple[float, float, str]] = []  # (sent, done, kind) per request
        self.replays = Counter()
        self.cancels: list[tuple[str, int]] = []  # (order id, 200 or 409)
        self.cancel_attempts = Counter()
        self.cancels_pending = 0
        self.pool = loadgen.KeepAlivePool(("127.0.0.1", port))
        self.bursts = 0
        self.timeout = args.request_timeout

    # -- HTTP to the device pool (keep-alive, capped in flight) --
    async def _device_request(self, request: bytes) -> tuple[int, bytes, bool]:
        def on_resent() -> None:  # counted: not a failure, the device never saw it
            self.attempts.append((wall(), wall(), RESENT))

        async with self.slots:
            async with asyncio.timeout(self.timeout):  # the wait for a slot is not the request's
                return await self.pool.send(request, on_resent=on_resent)

    def _classify(self, status: int, answer: bytes) -> tuple[str, str, str | None, str | None]:
        """(kind, outcome, order id, hold_until); kind 'ack', 'retry' or 'rejected'."""
        try:
            data = orjson.loads(answer)
            outcome = data.get("outcome") or "error:" + str((data.get("error") or {}).get("code"))
            order = data.get("order") or {}
        except (orjson.JSONDecodeError, AttributeError):
            return ("retry" if status >= 500 else "rejected"), "bad_body", None, None
        definitive = (
            200 <= status < 300 or (status == 409 and outcome in loadgen.CONTRACT_409) or (status == 422 and outcome == "unknown_product")
        )
        if definitive:
            return "ack", outcome, order.get("id"), order.get("hold_until")
        if status >= 500 or status == 429:
            return "retry", outcome, None, None
        return "rejected", outcome, None, None

    async def send(self, index: int) -> None:
        ev = self.events[index]
        ev.attempts += 1
        sent = wall()
        if not ev.first_at:
            ev.first_at = sent
        request = b"%s%d\r\n\r\n%s" % (self.prefixes[ev.button], len(ev.body), ev.body)
        try:
            status, answer, _ = await self._device_request(request)
        except TimeoutError:
            kind = "timeout"
        except (OSError, ValueError) as exc:
            kind = f"conn_error:{exc.__class__.__name__}"
        else:
            verdict, outcome, order_id, hold_until = self._classify(status, answer)
            kind = f"http_{status}:{outcome}" if verdict != "ack" else "ack"
            if verdict == "ack":
                ev.acked_at, ev.status, ev.answer, ev.outcome, ev.order_id = wall(), status, answer, outcome, order_id
                self.pending.discard(index)
                self.attempts.append((sent, ev.acked_at, kind))
                if outcome == "order_placed" and order_id and hold_until:
                    self._maybe_cancel(ev, order_id, hold_until)
                return
            if verdict == "rejected":
                ev.rejected = f"{status}:{outcome}"
                self.pending.discard(index)
                self.attempts.append((sent, wall(), kind))
                return
        self.attempts.append((sent, wall(), kind))
        ev.throttled = ev.throttled or kind.startswith("http_429")
        self._retry_later(lambda: self.send(index), ev.attempts)

    def _retry_later(self, make, attempts: int) -> None:
        delay = min(BACKOFF_MAX_S, BACKOFF_START_S * 2 ** (attempts - 1)) * self.rng.uniform(0.8, 1.2)
        loop = asyncio.get_running_loop()
        loop.call_later(delay, lambda: self._spawn(make()))

    def _spawn(self, coro) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    def new_event(self, button: int) -> None:
        event_id = uuid.uuid4().hex
        self.events.append(Event(button=button, event_id=event_id, body=b'{"event_id":"%s","type":"press"}' % event_id.encode()))
        index = len(self.events) - 1
        self.pending.add(index)
        self._spawn(self.send(index))

    async def replay(self) -> None:
        """An exact replay of an answered event: the first answer, byte for byte, marked replayed."""
        acked = [i for i in self.rng.sample(range(len(self.events)), min(20, len(self.events))) if self.events[i].acked_at]
        if not acked:
            return
        ev = self.events[acked[0]]
        self.replays["sent"] += 1
        sent = wall()
        try:
            status, answer, replayed = await self._device_request(b"%s%d\r\n\r\n%s" % (self.prefixes[ev.button], len(ev.body), ev.body))
        except (TimeoutError, OSError, ValueError) as exc:
            self.replays["no_answer"] += 1
            self.attempts.append((sent, wall(), f"replay_error:{exc.__class__.__name__}"))
            return
        if status >= 500 or status == 429:
            self.replays["retry_answer"] += 1
            self.attempts.append((sent, wall(), f"http_{status}:replay"))
        elif (status, answer) == (ev.status, ev.answer) and replayed:
            self.replays["identical"] += 1
            self.attempts.append((sent, wall(), "replay_ok"))
        else:
            self.replays["mismatch"] += 1
            self.attempts.append((sent, wall(), "replay_mismatch"))

    async def burst(self, button: int) -> None:
        self.bursts += 1
        presses = self.rng.randint(5, 20)
        offsets = sorted(self.rng.uniform(0, 1.0) for _ in range(presses))
        start = asyncio.get_running_loop().time()
        for offset in offsets:
            await asyncio.sleep(max(0.0, start + offset - asyncio.get_running_loop().time()))
            self.new_event(button)

    # -- customers cancelling, through the customer API (uvicorn) --
    def _maybe_cancel(self, ev: Event, order_id: str, hold_until: str) -> None:
        customer = self.buttons[ev.button]["customer"]
        token = self.session_tokens.get(customer)
        if token is None or self.rng.random() >= self.args.cancel_share:
            return
        left = datetime.fromisoformat(hold_until).timestamp() - wall()
        if left <= 0.5:
            return
        self.cancels_pending += 1
        asyncio.get_running_loop().call_later(self.rng.uniform(0.2, 0.7) * left, lambda: self._spawn(self.cancel(order_id, token, 1)))

    async def cancel(self, order_id: str, token: str, attempt: int) -> None:
        sent = wall()
        try:
            status, _ = await http10(
                self.asgi_port, "POST", f"/api/v1/me/orders/{order_id}/cancel", headers={"X-Session-Token": token}, timeout=self.timeout
            )
        except (TimeoutError, OSError, ValueError) as exc:
            status, kind = 0, f"conn_error:{exc.__class__.__name__}"
        else:
            kind = str(status)
        self.cancel_attempts[kind] += 1
        if status in (200, 409):
            self.cancels.append((order_id, status))
            self.cancels_pending -= 1
        elif status >= 500 or status in (0, 429):
            self.attempts.append((sent, wall(), f"cancel_{kind}"))
            self._retry_later(lambda: self.cancel(order_id, token, attempt + 1), attempt)
        else:
            self.cancels_pending -= 1  # refused (401/404): counted, checked as an error

    # -- the run --
    async def run(self, *, started: threading.Event | None = None) -> None:
        loop = asyncio.get_running_loop()
        self.slots = asyncio.Semaphore(self.args.connections)
        self.tasks: set[asyncio.Task] = set()
        args = self.args
        seconds = args.minutes * 60
        self.t0 = loop.time() + 0.05
        self.load_start = wall() + 0.05
        self.load_end = self.load_start + seconds
        n = len(self.buttons)
        single_rate = args.rate * (1 - args.burst_share)
        burst_rate = args.rate * args.burst_share / 12.5  # a burst is 5-20 presses, 12.5 on average
        replay_rate = args.rate * args.replay_share

        async def ticker(rate: float, action) -> None:
            if rate <= 0:
                return
            i = 0
            while True:
                due = self.t0 + i / rate
                if due - self.t0 >= seconds:
                    return
                delay = due - loop.time()
                if delay > 0.0005:
                    await asyncio.sleep(delay)
                action()
                i += 1

        if started:
            started.set()
        await asyncio.gather(
            ticker(single_rate, lambda: self.new_event(self.rng.randrange(n))),
            ticker(burst_rate, lambda: self._spawn(self.burst(self.rng.randrange(n)))),
            ticker(replay_rate, lambda: self._spawn(self.replay())),
        )
        self.load_stopped = wall()
        # Drain: the devices keep retrying until everything is answered.
        deadline = loop.time() + args.drain_seconds
        while (self.pending or self.cancels_pending > 0) and loop.time() < deadline:
            await asyncio.sleep(0.25)
        self.drained_at = wall()
        for task in list(self.tasks):
            task.cancel()
        self.pool.close_idle()


async def http10(
    port: int, method: str, path: str, *, headers: dict | None = None, body: bytes = b"", timeout: float = 10
) -> tuple[int, bytes]:
    """One HTTP/1.0 request (the server closes; no chunking): (status, body)."""
    async with asyncio.timeout(timeout):
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            head = f"{method} {path} HTTP/1.0\r\nHost: 127.0.0.1:{port}\r\nContent-Length: {len(body)}\r\n"
            head += "".join(f"{k}: {v}\r\n" for k, v in (headers or {}).items())
            writer.write(head.encode() + b"\r\n" + body)
            raw = await reader.read()
        finally:
            writer.close()
    status_line, _, rest = raw.partition(b"\r\n")
    if not status_line.startswith(b"HTTP/"):
        raise ValueError("no HTTP answer")
    return int(status_line[9:12]), rest.partition(b"\r\n\r\n")[2]


async def sign_in(port: int, customers: list[dict]) -> dict[int, str]:
    tokens = {}
    for c in customers:
        body = orjson.dumps({"email": c["email"], "password": CUSTOMER_PASSWORD})
        status, answer = await http10(
            port, "POST", "/_allauth/app/v1/auth/login", headers={"Content-Type": "application/json"}, body=body, timeout=30
        )
        if status != 200:
            raise StackError(f"sign-in of {c['email']} answered {status}: {answer[:300]!r}")
        tokens[c["id"]] = orjson.loads(answer)["meta"]["session_token"]
    return tokens


# --- Figures ----------------------------------------------------------------------------------


def load_figures(load: SoakLoad) -> dict:
    evs = load.events
    acked = [e for e in evs if e.acked_at]
    delays = sorted(e.acked_at - e.first_at for e in acked)
    kinds = Counter(k for _, _, k in load.attempts)
    return {
        "events": len(evs),
        "bursts": load.bursts,
        "requests": len(load.attempts),
        "acked": len(acked),
        "retried": sum(1 for e in evs if e.attempts > 1),
        "throttled": sum(1 for e in evs if e.throttled),
        "max_attempts": max((e.attempts for e in evs), default=0),
        "unacked": len(load.pending),
        "rejected": Counter(e.rejected for e in evs if e.rejected),
        "outcomes": Counter(e.outcome for e in acked),
        "failed_attempts": {k: v for k, v in kinds.most_common() if k not in NOT_FAILED},
        "resent_on_new_connection": kinds.get(RESENT, 0),
        "ack_delay": _pct(delays),
        "replays": dict(load.replays),
        "cancel_results": Counter(s for _, s in load.cancels),
        "cancel_attempts": dict(load.cancel_attempts),
        "cancels_unfinished": load.cancels_pending,
    }


def _pct(values: list[float]) -> dict:
    r = lambda x: None if x is None else round(x, 3)
    return {
        "n": len(values),
        "p50": r(loadgen.percentile(values, 0.5)),
        "p99": r(loadgen.percentile(values, 0.99)),
        "max": r(values[-1] if values else None),
    }


def fault_load_figures(load: SoakLoad, fault: dict) -> None:
    """What the devices saw from the kill on: when the intake acknowledged again, what failed."""
    t = fault["killed_at"]
    oks = [done for sent, done, kind in load.attempts if kind == "ack" and sent >= t]
    fault["intake_ok_at"] = min(oks) if oks else None


def fault_window_load(load: SoakLoad, fault: dict) -> None:
    lo, hi = fault["window"]
    kinds = Counter(kind for sent, _, kind in load.attempts if lo <= sent <= hi)
    fault["failed_attempts"] = {k: v for k, v in kinds.most_common() if k not in NOT_FAILED}
    fault["resent_on_new_connection"] = kinds.get(RESENT, 0)
    in_window = [e for e in load.events if lo <= e.first_at <= hi]
    fault["events_sent"] = len(in_window)
    fault["unacked"] = sum(1 for e in in_window if not e.acked_at and not e.rejected)
    # throttled events wait on the device's backoff, whatever the fault: counted apart
    fault["slowest_ack_s"] = round(max((e.acked_at - e.first_at for e in in_window if e.acked_at and not e.throttled), default=0.0), 2)
    fault["throttled"] = sum(1 for e in in_window if e.throttled)


def run_checks(lf: dict, db: dict, faults: list[dict], load: SoakLoad) -> dict[str, bool]:
    ev, od = db["events"], db["orders"]
    kinds = lf["failed_attempts"]
    return {
        f"every acknowledged event is in the event log ({ev['acked'] - ev['missing_in_log']}/{ev['acked']})": ev["missing_in_log"] == 0,
        "the event log holds the answer each device was given": ev["answer_differs"] == 0,
        f"every event acknowledged by the end of the drain ({lf['unacked']} left)": lf["unacked"] == 0,
        "no event refused (a 4xx outside the contract's answers)": not lf["rejected"],
        f"replays answered byte for byte, marked replayed ({lf['replays'].get('identical', 0)} identical, {lf['replays'].get('mismatch', 0)} not)": lf[
            "replays"
        ].get("mismatch", 0)
        == 0,
        "no 500 from the intake (an unavailable dependency is a 503)": not any(k.startswith("http_500") for k in kinds),
        "one order per order_placed answer, and every order was answered": od["placed_answer_names_two_events"] == 0
        and od["in_db_never_answered_placed"] == 0
        and od["answered_placed_missing_in_db"] == 0,
        "never two orders in progress for one customer and product": od["two_in_progress"] == 0,
        "order_in_progress answers name an order in progress": od["in_progress_answers_stale"] == 0,
        "every timeline follows the lifecycle": od["bad_transitions"] == 0,
        "every held order released exactly once": od["released_twice"] == 0 and od["not_released_once"] == 0,
        "every released order submitted exactly once": od["submitted_twice"] == 0 and od["submitted_not_once"] == 0,
        f"nothing stuck in releasing ({od['releasing_now']}) or held 2 s past its hold ({od['held_overdue']})": od["releasing_now"] == 0
        and od["held_overdue"] == 0,
        f"customers' cancellations: 200 = cancelled, 409 = released ({db['cancels']['checked']} checked)": db["cancels"]["wrong"] == 0
        and lf["cancels_unfinished"] == 0
        and set(lf["cancel_attempts"]) <= {"200", "409"} | {k for k in lf["cancel_attempts"] if k.startswith(("5", "conn_error"))},
        f"every fault injected and recovered ({sum(1 for f in faults if f.get('ready_at'))}/{len(faults)})": all(
            f.get("ready_at") and not f.get("error") for f in faults
        ),
    }


def print_report(args, lf: dict, db: dict, faults: list[dict], checks: dict, meta: dict) -> None:
    fmt = lambda d: "  ".join(f"{k}={v}" for k, v in d.items()) or "-"
    lat = lambda p: f"p50 {p['p50']} s  p99 {p['p99']} s  max {p['max']} s  (n={p['n']})"
    od = db["orders"]
    out = [
        "",
        f"=== Dash soak: {args.minutes:g} min of load, {len(faults)} faults ===",
        f"machine   {meta['machine']['nproc']} CPU  {meta['machine']['cpu_model']}  (load avg before: {' '.join(meta['machine']['loadavg_before'])})",
        (
            f"config    {args.rate:g} events/s ({args.burst_share:.0%} in bursts of 5-20 presses in 1 s)  replays {args.replay_share:.0%}  "
            f"buttons {args.buttons}  {len(meta['signed_in'])} customers cancel {args.cancel_share:.0%} of their held orders  hold {args.hold_seconds}s (0.5-1.5x)  "
            f"ship/deliver {args.ship_seconds}/{args.deliver_seconds}s  granian x{args.web_workers}  supervisor restart delay {args.restart_delay:g}s"
        ),
        (
            f"load      events {lf['events']} ({lf['bursts']} bursts)  requests {lf['requests']}  acknowledged {lf['acked']}  "
            f"retried {lf['retried']} (max {lf['max_attempts']} attempts; {lf['throttled']} throttled by the per-device limit)  unacknowledged {lf['unacked']}  refused {fmt(lf['rejected'])}"
        ),
        f"          answers: {fmt(lf['outcomes'])}",
        f"          failed attempts (retried): {fmt(lf['failed_attempts'])}  (requests resent at once on a new connection: {lf['resent_on_new_connection']})",
        f"          first send -> acknowledged: {lat(lf['ack_delay'])}",
        f"          replays: {fmt(lf['replays'])}",
        f"          cancels: answered {fmt(lf['cancel_results'])}  attempts {fmt(lf['cancel_attempts'])}",
        f"          drain after the load: {meta['drain_s']:.1f} s; settle (no held overdue, none releasing): {db['settle_wait_s']} s",
        (
            f"orders    {od['total']}  by status: {fmt(od['by_status'])}  releases per order: {fmt(od['releases_per_order'])}  "
            f"order_placed answers {od['placed_answers']}  (clock skew, max: timeline overlap {od['max_clock_overlap_s']} s, "
            f"order_in_progress answer vs its order {od['in_progress_answer_max_clock_skew_s']} s; tolerated up to 1 s)"
        ),
        f"events    log {db['events']['logged_total']} rows; acknowledged {db['events']['acked']}, missing {db['events']['missing_in_log']}, answer differs {db['events']['answer_differs']}, logged but never acknowledged {db['events']['logged_never_acked']}",
        "faults    (T = seconds after the load started; 'back' = the killed part answers again)",
    ]
    for f in faults:
        t = f["killed_at"]
        parts = [
            f"  {f['name']:<14} T+{t - meta['load_start']:.0f}s  {f.get('detail', '')}",
            (
                f"                 back {_secs(f.get('ready_at'), t)}"
                + (f" (restarted by the supervisor at +{f['supervisor_restart_at'] - t:.1f} s)" if f.get("supervisor_restart_at") else "")
                + f"  intake acked again {_secs(f.get('intake_ok_at'), t)}  releases resumed {f.get('releases_resumed_s')} s  submissions resumed {f.get('submissions_resumed_s')} s"
            ),
            (
                f"                 window {f['window'][1] - f['window'][0]:.1f} s: events {f['events_sent']}  failed attempts {fmt(f['failed_attempts'])}  "
                f"resent on a new connection {f['resent_on_new_connection']}  slowest ack {f['slowest_ack_s']} s (throttled events apart: {f['throttled']})  unacked {f['unacked']}"
            ),
            f"                 release lateness (holds ending in the window): {lat(f['lateness'])}",
            f"                 release -> submitted (releases in the window): {lat(f['submit_lag'])}",
        ]
        if f.get("error"):
            parts.append(f"                 ERROR {f['error']}")
        out += parts
    out.append(f"lateness  release after hold expiry, outside fault windows: {lat(db['lateness_outside_faults'])}")
    out.append(f"          all system releases: {lat(db['lateness_all'])}")
    out.append(f"submit    release -> submitted, outside fault windows: {lat(db['submit_lag_outside_faults'])}")
    for key, label in (
        ("events", "missing_examples"),
        ("events", "differs_examples"),
        ("orders", "two_in_progress_examples"),
        ("orders", "stale_examples"),
        ("orders", "bad_transition_examples"),
        ("orders", "not_released_examples"),
        ("cancels", "examples"),
    ):
        if db[key].get(label):
            out.append(f"examples  {key}.{label}: {db[key][label]}")
    out.append("")
    out += [f"{'PASS' if ok else 'FAIL'}  {name}" for name, ok in checks.items()]
    print("\n".join(out), flush=True)


# --- Main -------------------------------------------------------------------------------------


def fault_plan(start: float, seconds: float, names: list[str]) -> list[tuple[float, str]]:
    """Spread over the run: the first after 10 % of it, the last at 75 %, one at a time."""
    first, last = max(15.0, seconds * 0.10), seconds * 0.75
    if len(names) == 1:
        return [(start + first, names[0])]
    step = (last - first) / (len(names) - 1)
    return [(start + first + i * step, name) for i, name in enumerate(names)]


def main() -> int:
    p = argparse.ArgumentParser(prog="python -m bench.soak", description=__doc__.split("\n\n")[0])
    p.add_argument("--minutes", type=float, default=10, help="minutes of load (then drain and checks)")
    p.add_argument("--rate", type=float, default=200, help="new events per second (open model)")
    p.add_argument("--burst-share", type=float, default=0.15, help="share of the events that come in duplicate bursts")
    p.add_argument("--replay-share", type=float, default=0.02, help="exact replays of answered events, per new event")
    p.add_argument("--buttons", type=int, default=1000)
    p.add_argument("--cancel-customers", type=int, default=40, help="customers who sign in and cancel orders (2 buttons each)")
    p.add_argument("--cancel-share", type=float, default=0.5, help="share of those customers' held orders they cancel")
    p.add_argument("--hold-seconds", type=int, default=10)
    p.add_argument("--ship-seconds", type=int, default=15)
    p.add_argument("--deliver-seconds", type=int, default=15)
    p.add_argument("--web-workers", type=int, default=2)
    p.add_argument("--faults", default=",".join(FAULTS), help=f"comma list, in order, of: {', '.join(FAULTS)} (empty: none)")
    p.add_argument("--restart-delay", type=float, default=2.0, help="the supervisor starts a dead process again after this")
    p.add_argument("--drain-seconds", type=float, default=90, help="longest wait for unanswered events after the load")
    p.add_argument("--connections", type=int, default=256, help="cap on requests in flight")
    p.add_argument("--request-timeout", type=float, default=5.0, help="a device gives up on an answer after this and retries")
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--json", nargs="?", const="var/soak.json", metavar="PATH", help="also write the figures as JSON")
    p.add_argument("--keep", action="store_true", help="keep the temporary folder (logs, database files)")
    args = p.parse_args()
    faults = [f for f in args.faults.split(",") if f]
    unknown = set(faults) - set(FAULTS)
    if unknown:
        p.error(f"unknown fault(s): {', '.join(sorted(unknown))}")
    # start_stack's knobs, as `make bench` sets them
    args.web_server, args.web_threads, args.asgi_workers = "granian", 2, 1
    args.background_nice, args.background_share, args.worker_concurrency, args.diagnose = 10, 0.1, 1, False

    def on_term(signum, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_term)
    device_api.machine_info = device_api.machine()
    workdir = Path(tempfile.mkdtemp(prefix="dash-soak-"))
    stack = SoakStack(workdir)
    # Plain http on loopback (no TLS proxy here), and the customers all sign in from 127.0.0.1.
    stack.env.update(
        DASH_SSL_REDIRECT="false", DASH_SECURE_COOKIES="false", DASH_RATE_LOGIN="1000/m/ip", DASH_RATE_LOGIN_FAILED="1000/m/ip,1000/5m/key"
    )
    sup = None
    flt = None
    try:
        try:
            port, _ = start_stack(args, stack)
            asgi_port = int(stack.argv["uvicorn"][stack.argv["uvicorn"].index("--port") + 1])
            buttons = orjson.loads((workdir / "buttons.json").read_bytes())
            stack.run(
                "customers",
                [
                    sys.executable,
                    "-m",
                    "bench.soak_db",
                    "customers",
                    "--count",
                    str(args.cancel_customers),
                    "--password",
                    CUSTOMER_PASSWORD,
                    "--out",
                    str(workdir / "customers.json"),
                ],
            )
            customers = orjson.loads((workdir / "customers.json").read_bytes())
            tokens = asyncio.run(sign_in(asgi_port, customers))
        except (StackError, subprocess.SubprocessError, OSError, RuntimeError, TimeoutError) as exc:
            print(f"soak: the stack did not start: {exc}", file=sys.stderr)
            return 2
        print(
            f"soak: {len(tokens)} customers signed in through the app API; load {args.rate:g}/s for {args.minutes:g} min, faults: {', '.join(faults) or 'none'}",
            flush=True,
        )
        with contextlib.suppress(PermissionError):
            os.nice(-5)
        sup = Supervisor(stack, args.restart_delay)
        sup.start()
        load = SoakLoad(port=port, asgi_port=asgi_port, buttons=buttons, tokens=tokens, args=args)
        start = wall() + 0.05
        flt = Faults(stack, sup, fault_plan(start, args.minutes * 60, faults), port, args.web_workers)
        flt.start()
        try:
            import uvloop

            runner = uvloop.run
        except ImportError:
            runner = asyncio.run
        gc.collect()
        gc.disable()  # see bench.loadgen.run: a full collection over the records stalls the schedule
        try:
            runner(load.run())
        finally:
            gc.enable()
        flt.halt.set()
        flt.join(5)
        print(
            f"soak: load done; drained in {load.drained_at - load.load_stopped:.1f} s ({len(load.pending)} unanswered); checking ...",
            flush=True,
        )
        fault_records = [f for f in flt.done if "killed_at" in f]
        for f in fault_records:
            fault_load_figures(load, f)
        run_file = workdir / "run.json"
        run_file.write_bytes(
            orjson.dumps(
                {
                    "acked": [
                        [buttons[e.button]["serial"], e.event_id, e.status, e.outcome, e.order_id] for e in load.events if e.acked_at
                    ],
                    "cancels": load.cancels,
                    "faults": fault_records,
                }
            )
        )
        checks_file = workdir / "checks.json"
        # orders whose submit task died with Redis wait for the stalled-order sweep (beat, 30 s;
        # it takes orders untouched for 94 s with the default commerce retry budget)
        settle = args.hold_seconds * 1.5 + 180
        stack.run(
            "soak_db",
            [sys.executable, "-m", "bench.soak_db", "check", "--run", str(run_file), "--max-wait", str(settle), "--out", str(checks_file)],
            timeout=settle + 300,
        )
        db = orjson.loads(checks_file.read_bytes())
        for f in db["faults"]:
            fault_window_load(load, f)
        lf = load_figures(load)
        checks = run_checks(lf, db, db["faults"], load)
        meta = {
            "machine": device_api.machine_info,
            "signed_in": tokens,
            "load_start": load.load_start,
            "drain_s": load.drained_at - load.load_stopped,
        }
        print_report(args, lf, db, db["faults"], checks, meta)
        if args.json:
            write_json(args.json, {"load": lf, "db": db, "checks": checks})
        return 0 if all(checks.values()) else 1
    except StackError as exc:
        print(f"soak: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("soak: interrupted", file=sys.stderr)
        return 130
    finally:
        if flt:
            flt.halt.set()
        if sup:
            sup.stop()
        stack.close(keep=args.keep)


if __name__ == "__main__":
    sys.exit(main())
