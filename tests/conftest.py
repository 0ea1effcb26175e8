"""Shared fixtures. The suite runs on PostgreSQL and Redis started by `make test`
(python -m dash.localstack run -- pytest ...)."""

import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter, deque
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from django.core.cache import cache

from tests.factories import ProductFactory, UserFactory, make_button


def pytest_configure(config):
    url = os.environ.get("DATABASE_URL", "")
    if not url.startswith("postgres"):
        raise pytest.UsageError("The suite runs on PostgreSQL: use `make test` (it starts one), or set DATABASE_URL.")
    from django.conf import settings

    # WhiteNoise serves STATIC_ROOT (filled by collectstatic in `make run`) and warns when it is missing.
    settings.STATIC_ROOT.mkdir(parents=True, exist_ok=True)


@pytest.fixture(autouse=True, scope="session")
def _live_server_backlog():
    """Django's test server listens with a backlog of 10: a burst of sixty devices overflows
    it and the kernel resets connections before Dash sees them. Production servers (uvicorn)
    listen with 2048; give the live server room for the bursts the tests send."""
    from django.core.servers.basehttp import ThreadedWSGIServer
    from django.test.testcases import LiveServerThread

    class BurstWSGIServer(ThreadedWSGIServer):
        request_queue_size = 256

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(LiveServerThread, "server_class", BurstWSGIServer)
        yield


@pytest.fixture(autouse=True)
def _clean_redis():
    """Throttle buckets and cache entries never leak from one test into the next."""
    yield
    import redis
    from django.conf import settings

    redis.Redis.from_url(settings.REDIS_URL).flushdb()
    cache.clear()


@pytest.fixture
def customer(db):
    return UserFactory(username="alice", email="alice@example.test")


@pytest.fixture
def other_customer(db):
    return UserFactory(username="bob", email="bob@example.test")


@pytest.fixture
def product(db):
    return ProductFactory(name="Laundry Pods", price="12.49", max_quantity=3)


@pytest.fixture
def button(customer, product):
    return make_button(customer=customer, product=product)


@pytest.fixture
def press(client):
    """POST a press to the device API through Django's test client."""

    def _press(device, event_id: str, **extra):
        body = {"event_id": event_id, "type": "press", **extra}
        return client.post("/api/v1/device/events", body, content_type="application/json", HTTP_AUTHORIZATION=f"Device {device.token}")

    return _press


@pytest.fixture
def post_event(client):
    """POST raw bytes to the intake: `post_event(body, token=..., content_type=...)`."""

    def _post(body, *, token: str | None, content_type: str = "application/json"):
        headers = {"HTTP_AUTHORIZATION": f"Device {token}"} if token is not None else {}
        # CONTENT_TYPE again: the test client drops it when the body is empty.
        return client.post("/api/v1/device/events", body, content_type=content_type, CONTENT_TYPE=content_type, **headers)

    return _post


# --- The real stack: a fake outside shop and real Celery workers --------------------------


@dataclass(frozen=True)
class ShopRequest:
    key: str | None
    body: bytes
    signed: bool  # the HMAC signature checked out with the shop's secret
    status: int  # what the shop answered (or would have, for a request it hung on)


class FakeShop:
    """The outside e-commerce engine, as a real HTTP server on 127.0.0.1.

    Idempotent like a real shop: the first accepted request for an `Idempotency-Key` creates
    an order and its reference; later requests with that key get the same reference. A
    request it hangs on is accepted first, then left unanswered (the worst case: the shop has
    the order, the caller never learns it)."""

    SECRET = "test-shop-secret"

    def __init__(self):
        self.lock = threading.Condition()
        self.requests: list[ShopRequest] = []
        self.accepted: dict[str, str] = {}  # idempotency key -> reference
        self._statuses: deque[int] = deque()
        self._hangs = 0
        self.unhang = threading.Event()
        shop = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                answer, hang = shop._handle(self.headers, body)
                if hang:
                    shop.unhang.wait(60)
                payload = json.dumps(answer[1]).encode()
                with contextlib.suppress(OSError):
                    self.send_response(answer[0])
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_port}/orders"
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), name="fake-shop", daemon=True)
        self.thread.start()

    def _handle(self, headers, body: bytes) -> tuple[tuple[int, dict], bool]:
        from orders.commerce import signing

        key = headers.get("Idempotency-Key")
        signed = signing.verify(self.SECRET, body, headers.get(signing.TIMESTAMP_HEADER), headers.get(signing.SIGNATURE_HEADER))
        with self.lock:
            status = self._statuses.popleft() if self._statuses else 200
            hang = self._hangs > 0
            self._hangs -= hang
            if status == 200:
                reference = self.accepted.setdefault(key, f"SHOP-{len(self.accepted) + 1:04d}")
                answer = (200, {"reference": reference})
            else:
                answer = (status, {"error": f"shop says {status}"})
            self.requests.append(ShopRequest(key=key, body=body, signed=signed, status=status))
            self.lock.notify_all()
        return answer, hang

    def answer_with(self, *statuses: int) -> None:
        """The next requests get these statuses, in order; then 200 again."""
        with self.lock:
            self._statuses.extend(statuses)

    def hang_next(self, count: int = 1) -> None:
        """Accept the next `count` requests but answer only once `unhang` is set."""
        with self.lock:
            self._hangs += count

    def wait_for_requests(self, count: int, timeout: float = 30.0) -> list[ShopRequest]:
        with self.lock:
            if not self.lock.wait_for(lambda: len(self.requests) >= count, timeout):
                raise AssertionError(f"the shop got {len(self.requests)} requests, expected {count} within {timeout}s")
            return list(self.requests)

    def posts_by_key(self) -> Counter:
        with self.lock:
            return Counter(r.key for r in self.requests)

    def close(self) -> None:
        self.unhang.set()
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(10)


@pytest.fixture
def fake_shop(settings):
    """A fake shop, and the real `http` commerce backend pointed at it."""
    shop = FakeShop()
    settings.DASH_COMMERCE_BACKEND = "http"
    settings.DASH_COMMERCE_URL = shop.url
    settings.DASH_COMMERCE_SECRET = FakeShop.SECRET
    settings.DASH_COMMERCE_TIMEOUT = 10.0
    try:
        yield shop
    finally:
        shop.close()


class CeleryWorker:
    """A real `celery -A dash worker` process on the test database and the test Redis."""

    def __init__(self, name: str, env: dict[str, str], log_path: Path):
        self.name = name
        self.application_name = f"dash-test-{name}"
        self.log_path = log_path
        self._log = open(log_path, "wb")  # noqa: SIM115 - closed in stop()
        cmd = [
            str(Path(sys.executable).with_name("celery")), "-A", "dash", "worker", "--pool", "solo", "--concurrency", "1", "--queues", "celery,sweeps,bulk",
            "-l", "INFO", "-n", f"{name}@%h", "--without-mingle", "--without-gossip", "--without-heartbeat",
        ]  # fmt: skip
        self.proc = subprocess.Popen(cmd, cwd=settings_base_dir(), env=env, stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def wait_ready(self, timeout: float = 30.0) -> "CeleryWorker":
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if " ready." in self.log():
                return self
            if self.proc.poll() is not None:
                raise AssertionError(f"worker {self.name} exited with {self.proc.returncode}:\n{self.log()[-3000:]}")
            time.sleep(0.05)
        raise AssertionError(f"worker {self.name} not ready after {timeout}s:\n{self.log()[-3000:]}")

    def kill(self, *, wait_for_db: bool = True) -> None:
        """SIGKILL, like the OOM killer or a pulled plug: no cleanup, no ack, no rollback by the worker.

        `wait_for_db=False` when the worker's session is blocked on a lock the test holds:
        call `wait_disconnected()` after letting go of it."""
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(10)
        if wait_for_db:
            self.wait_disconnected()

    def stop(self) -> None:
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(10)
        self._log.close()
        self.wait_disconnected()

    def db_backends(self) -> int:
        from django.db import connections

        with connections["default"].cursor() as cursor:
            cursor.execute("SELECT count(*) FROM pg_stat_activity WHERE application_name = %s", [self.application_name])
            return cursor.fetchone()[0]

    def wait_disconnected(self, timeout: float = 30.0) -> None:
        """PostgreSQL ends a dead client's session (and rolls its transaction back) on its own;
        wait for that, so no lock of the dead worker outlives it."""
        deadline = time.monotonic() + timeout
        while self.db_backends():
            if time.monotonic() > deadline:
                raise AssertionError(f"worker {self.name}'s database session outlived it by {timeout}s")
            time.sleep(0.05)


def settings_base_dir() -> Path:
    from django.conf import settings

    return Path(settings.BASE_DIR)


@pytest.fixture
def celery_worker_process(settings, tmp_path):
    """Start real Celery workers: `start(**env)` returns a ready `CeleryWorker`.

    They use the test database (the test needs `django_db(transaction=True)` so they see
    its rows), the test Redis and the commerce settings of the test at start time. All are
    stopped at the end of the test."""
    workers: list[CeleryWorker] = []

    def start(**extra_env: str) -> CeleryWorker:
        db = settings.DATABASES["default"]
        name = f"w{len(workers) + 1}"
        url = urlsplit(os.environ["DATABASE_URL"])
        db_url = url._replace(path=f"/{db['NAME']}", query=f"application_name=dash-test-{name}").geturl()
        env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "dash.settings",
            "PYTHONUNBUFFERED": "1",
            "DATABASE_URL": db_url,
            "REDIS_URL": settings.REDIS_URL,
            "DASH_COMMERCE_BACKEND": settings.DASH_COMMERCE_BACKEND,
            "DASH_COMMERCE_URL": settings.DASH_COMMERCE_URL,
            "DASH_COMMERCE_SECRET": settings.DASH_COMMERCE_SECRET,
            "DASH_COMMERCE_MAX_ATTEMPTS": str(settings.DASH_COMMERCE_MAX_ATTEMPTS),
            "DASH_COMMERCE_BACKOFF_SECONDS": str(settings.DASH_COMMERCE_BACKOFF_SECONDS),
            "DASH_RELEASE_BATCH": str(settings.DASH_RELEASE_BATCH),
            # the tests follow task execution through the worker's per-task log lines
            "DASH_TASK_LOG_LEVEL": "INFO",
            **extra_env,
        }
        worker = CeleryWorker(name, env, tmp_path / f"celery-{name}.log")
        workers.append(worker)
        return worker.wait_ready()

    try:
        yield start
    finally:
        for worker in workers:
            worker.stop()


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    """PBKDF2 costs half a second per user on a busy machine; tests don't need its strength."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def eager_tasks():
    """Run queued Celery tasks in-process (the real task code), e.g. so that their mail can be read."""
    from dash.celery import app

    app.conf.task_always_eager = True
    yield
    app.conf.task_always_eager = False
