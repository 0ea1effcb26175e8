"""`make bench`: the device API under an open-model load on the production-like stack.

Starts, in a temporary folder: PostgreSQL (durable: fsync and synchronous_commit on), Redis,
the device API pool (`dash.wsgi:device_application` under granian's WSGI workers, or gunicorn
with --web-server gunicorn), uvicorn (the ASGI app for pages and websockets, idle here), a
Celery worker for submissions, one for the beat sweeps, one for the bulk queue (the analytics
rollup, the prunes), and Celery beat. Creates a catalog,
customers and claimed buttons, primes the order pipeline with a gentler first phase, drives
`POST /api/v1/device/events` at a fixed arrival rate from this process (bench.loadgen), waits
for held orders to be released, reads the database, prints the figures and stops everything.

    python -m bench.device_api --rate 800 --duration 60 --buttons 3000 --web-workers 2
    make bench BENCH_ARGS="--rate 200 --duration 10 --buttons 500"

Exit code 0 whenever a measurement was made (PASS or FAIL), 2 when the stack didn't start.
"""

import argparse
import contextlib
import os
import platform
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import orjson

from bench import loadgen
from dash.localstack import Server, free_port, start_postgres, start_redis

ROOT = Path(__file__).resolve().parent.parent
BACKGROUND_APP = "dash-background"  # application_name of the background processes' connections
DEVICE_APP = "dash"  # and of the web's: DASH_DB_APPLICATION_NAME's default
TARGETS = {"accepted_per_s": 800.0, "p99_ms": 100.0, "lateness_p99_s": 2.0}
# Durable, production-like: nothing here trades durability for speed.
PG_SETTINGS = {
    "fsync": "on",
    "synchronous_commit": "on",
    "full_page_writes": "on",
    "shared_buffers": "256MB",
    "max_wal_size": "2GB",
    "max_connections": "200",
}


class StackError(RuntimeError):
    pass


class Stack:
    """The processes this benchmark started; `stop` ends them, and only them."""

    def __init__(self, workdir: Path):
        self.workdir = workdir
        self.logs = workdir / "logs"
        self.logs.mkdir(parents=True)
        self.servers: list[Server] = []
        self.backends: BackendWatcher | None = None
        self.background_cgroup: BackgroundCgroup | None = None
        self.procs: dict[str, subprocess.Popen] = {}
        self.env = dict(os.environ)

    def start_stores(self) -> None:
        pg = start_postgres(self.workdir / "pg", settings=PG_SETTINGS)
        self.servers.append(pg)
        self.pg_datadir = self.workdir / "pg" / "pgdata"
        rd = start_redis(self.workdir / "redis")
        self.servers.append(rd)
        self.redis_url = rd.url
        self.redis_pid = rd.proc.pid
        self.env.update(DATABASE_URL=pg.url, REDIS_URL=rd.url)

    def run(self, name: str, argv: list[str], timeout: float = 300) -> str:
        done = subprocess.run(
            argv,
            check=False,
            env=self.env,
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        if done.returncode != 0:
            raise StackError(f"{name} failed ({done.returncode}):\n{done.stdout[-2000:]}\n{done.stderr[-4000:]}")
        return done.stdout

    def spawn(self, name: str, argv: list[str], nice: int = 0) -> None:
        log = open(self.logs / f"{name}.log", "ab")  # noqa: SIM115 - closed with the process; appended to across restarts
        if nice:
            argv = ["nice", "-n", str(nice), *argv]
            if self.background_cgroup is not None:
                # into the background's cgroup before it execs, so every process it forks is there too
                argv = ["sh", "-c", f'echo $$ > {self.background_cgroup.procs} 2>/dev/null; exec "$@"', "sh", *argv]
        # Own session: stopping it reaches its children (workers, pool processes) too.
        self.procs[name] = proc = subprocess.Popen(
            argv,
            env={**self.env, "DASH_DB_APPLICATION_NAME": BACKGROUND_APP} if nice else self.env,
            cwd=ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()
        if nice:
            autogroup_nice(proc.pid, nice)

    def close(self, *, keep: bool) -> None:
        """Stop everything, then keep the folder (logs, database files) or remove it."""
        self.stop()
        if keep:
            print(f"kept {self.workdir}")
        else:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def check_alive(self) -> None:
        for name, proc in self.procs.items():
            if proc.poll() is not None:
                raise StackError(f"{name} exited with code {proc.returncode}:\n{self.log_tail(name)}")

    def log_tail(self, name: str, chars: int = 3000) -> str:
        path = self.logs / f"{name}.log"
        return path.read_text(errors="replace")[-chars:] if path.exists() else ""

    def postmaster_pid(self) -> int | None:
        try:
            return int((self.pg_datadir / "postmaster.pid").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return None

    def stop(self) -> None:
        if self.backends is not None:
            self.backends.stop()
        for name, proc in reversed(self.procs.items()):
            if proc.poll() is None:
                _signal_group(proc.pid, signal.SIGTERM)
        deadline = time.monotonic() + 15
        for proc in self.procs.values():
            try:
                proc.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                pass
            _signal_group(proc.pid, signal.SIGKILL)  # stragglers left in the group, if any
            if proc.poll() is None:
                proc.wait(5)
        for server in reversed(self.servers):
            server.stop()
        if self.background_cgroup is not None:
            self.background_cgroup.remove()


class BackendWatcher(threading.Thread):
    """Watches PostgreSQL's processes every `every` seconds (`kinds`: pid -> what it serves,
    for the CPU report) and, with `nice`, gives the backends that serve background work
    (connections named BACKGROUND_APP: the Celery workers and beat; and autovacuum's) the same
    lower priority as those processes, so a rollup's or a sweep's SQL yields the CPU to the
    device API's queries as their Python does. New connections are picked up within `every`
    seconds. (PostgreSQL has no priority of its own; on a database server of its own this
    matters less.)"""

    def __init__(self, database_url: str, nice: int, every: float = 0.5, cgroup: "BackgroundCgroup | None" = None):
        super().__init__(daemon=True, name="background-backends")
        self.database_url, self.nice, self.every, self.cgroup = database_url, nice, every, cgroup
        self.kinds: dict[int, str] = {}
        self.stopped = threading.Event()

    def run(self) -> None:
        import psycopg

        try:
            with psycopg.connect(self.database_url, autocommit=True, application_name="dash-bench") as conn:
                while True:
                    rows = conn.execute("SELECT pid, application_name, backend_type, leader_pid FROM pg_stat_activity").fetchall()
                    kinds = backend_kinds(rows)
                    for pid, kind in kinds.items():  # every time: a pid may be reused by a new backend
                        if self.nice and kind in ("background", "autovacuum"):
                            with contextlib.suppress(OSError):
                                os.setpriority(os.PRIO_PROCESS, pid, self.nice)
                            if self.cgroup is not None:
                                self.cgroup.add(pid)
                    self.kinds = kinds  # published once those it found are reniced
                    if self.stopped.wait(self.every):
                        return
        except psycopg.Error:
            pass  # the database went away: the run is ending, or its own checks will say so

    def stop(self) -> None:
        self.stopped.set()


def backend_kinds(rows) -> dict[int, str]:
    """pid -> what the PostgreSQL process serves, from pg_stat_activity's (pid, application_name,
    backend_type, leader_pid): "device API" (the web's connections, DEVICE_APP), "background"
    (BACKGROUND_APP), "autovacuum", or "server" (WAL writer, checkpointer, the rest). A
    parallel worker serves what its leader serves."""
    kinds = {}
    for pid, app, backend_type, _ in rows:
        if backend_type == "autovacuum worker":
            kinds[pid] = "autovacuum"
        elif backend_type == "client backend" and app == BACKGROUND_APP:
            kinds[pid] = "background"
        elif backend_type == "client backend" and app == DEVICE_APP:
            kinds[pid] = "device API"
        else:
            kinds[pid] = "server"
    for pid, _, backend_type, leader in rows:
        if backend_type == "parallel worker" and leader in kinds:
            kinds[pid] = kinds[leader]
    return kinds


def write_json(relative: str, data: dict) -> None:
    """The figures as JSON, at a path relative to the repository (--json)."""
    path = ROOT / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(orjson.dumps(data, option=orjson.OPT_INDENT_2 | orjson.OPT_NON_STR_KEYS))
    print(f"\nJSON written to {path}")


class BackgroundCgroup:
    """A CPU cgroup of low weight for the background work -- the Celery processes and the
    PostgreSQL backends that serve them, and autovacuum -- as production gets from systemd's
    `CPUWeight=` on those services. Nice levels do not reach far enough: with autogroups every
    session is weighed as one, and the background backends are forked by the postmaster, so a
    rollup's SQL or an autovacuum weighed as much as the device API's statements (the slow
    seconds of the runs lined up with them). Tasks in a cgroup of their own are weighed as that
    cgroup. Needs root and a writable cpu controller (cgroup v1 `cpu`, or v2 with `cpu` enabled):
    `create` returns None without them, and the nice levels are all there is."""

    def __init__(self, path: Path):
        self.path = path
        self.procs = path / "cgroup.procs"

    @classmethod
    def create(cls, share: float) -> "BackgroundCgroup | None":
        candidates = [(Path("/sys/fs/cgroup/cpu"), "cpu.shares", str(max(2, round(1024 * share))))]
        v2 = Path("/sys/fs/cgroup")
        with contextlib.suppress(OSError):
            if "cpu" in (v2 / "cgroup.subtree_control").read_text().split():
                candidates.append((v2, "cpu.weight", str(max(1, round(100 * share)))))
        for root, weight_file, weight in candidates:
            path = root / f"dash-bench-background-{os.getpid()}"
            try:
                path.mkdir()
            except OSError:
                continue
            try:
                (path / weight_file).write_text(weight)
                return cls(path)
            except OSError:
                with contextlib.suppress(OSError):
                    path.rmdir()
        return None

    def add(self, pid: int) -> None:
        with contextlib.suppress(OSError):  # gone already
            self.procs.write_text(str(pid))

    def remove(self) -> None:
        """Once its processes have ended (a cgroup with members cannot be removed)."""
        for _ in range(50):
            try:
                self.path.rmdir()
                return
            except OSError:
                time.sleep(0.1)


def autogroup_nice(pid: int, nice: int) -> int | None:
    """Set a session's CPU weight; returns the level it had (None without autogroups). With the
    kernel's autogroups (sched_autogroup_enabled, the default on desktop and many cloud
    kernels) every session is scheduled as one group, and a process's own nice level only ranks
    it within its session: `nice -n 10` on a process that starts a session of its own changes
    nothing against the other sessions. The session's weight is the autogroup's nice level, set
    here (inherited by the children it forks)."""
    path = Path(f"/proc/{pid}/autogroup")
    try:
        before = int(path.read_text().split()[-1])  # "/autogroup-123 nice 0"
        path.write_text(str(nice))
    except (OSError, ValueError, IndexError):
        return None  # no autogroups here: the process's nice level is what counts
    return before


def _signal_group(pgid: int, sig: int) -> None:
    try:
        os.killpg(pgid, sig)
    except ProcessLookupError:
        pass


def wait_http_ok(url: str, stack: Stack, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    last = ""
    while time.monotonic() < deadline:
        stack.check_alive()
        try:
            with urllib.request.urlopen(url, timeout=2) as resp:
                if resp.status == 200:
                    return
                last = f"HTTP {resp.status}"
        except OSError as exc:
            last = str(exc)
        time.sleep(0.25)
    raise StackError(f"{url} not healthy after {timeout}s: {last}")


def wait_worker_consuming(redis_url: str, stack: Stack, timeout: float = 60) -> bool:
    """The Celery worker is ready when it blocks on the queue (BRPOP) in Redis."""
    import redis

    client = redis.Redis.from_url(redis_url)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        stack.check_alive()
        if any(c.get("cmd") in ("brpop", "blpop") for c in client.client_list()):
            return True
        time.sleep(0.25)
    return False


# --- CPU per process: /proc before and after the measured window ------------------------


def _proc_table() -> dict[int, tuple[int, int, str]]:
    """pid -> (ppid, CPU ticks, comm). The ticks are the process's own (utime + stime) and
    those of the children it has reaped (cutime + cstime): a process that ends between two
    samples lands in its parent's figure, so its CPU is still counted."""
    table = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as fh:
                raw = fh.read().decode(errors="replace")
        except OSError:
            continue
        close = raw.rfind(")")
        rest = raw[close + 2 :].split()
        table[int(entry)] = (
            int(rest[1]),
            int(rest[11]) + int(rest[12]) + int(rest[13]) + int(rest[14]),
            raw[raw.find("(") + 1 : close],
        )
    return table


def _machine_ticks() -> tuple[int, int, int, int]:
    """(busy, total, interrupts, steal) jiffies over all CPUs. Interrupt time (softirq: the
    loopback network's packets, mostly) and steal (the hypervisor running other guests on our
    CPUs) count as busy but belong to no process."""
    with open("/proc/stat") as fh:
        values = [int(v) for v in fh.readline().split()[1:]]
    idle = values[3] + values[4]
    total = sum(values[:8])
    return total - idle, total, values[5] + values[6], values[7]


class CpuSampler(threading.Thread):
    """CPU by role (the processes under each root pid) over the measured window, and the
    machine each second of it: how busy it was, what the hypervisor stole, and what processes
    outside the benchmark took, so that a slow second can be told from a second in which a
    neighbour took the cores (the report sets the seconds whose p99 passed 100 ms against the
    others). One read of /proc a second, about 3 ms of CPU. Sampled each second, a process that
    lived a few seconds of the window (an autovacuum worker, a new connection's backend) is
    counted, which two readings at the window's edges would miss."""

    def __init__(self, roots: dict[int, str], delay: float, seconds: int, split: dict[str, Callable[[], dict[int, str]]] | None = None):
        super().__init__(daemon=True, name="cpu-sampler")
        self.roots, self.delay, self.seconds = roots, delay, seconds
        self.split = split or {}  # role -> (pid -> part of it): "postgres" -> "postgres: device API", ...
        self.by_second: list[dict] = []
        self.role_ticks: dict[str, int] = {}
        self.role_pids: dict[str, set[int]] = {}
        self.machine = (0, 0, 0, 0)  # _machine_ticks() summed over the seconds sampled
        self.wall = 0.0
        self.stopped = threading.Event()

    def _roles(self, table: dict) -> dict[int, str]:
        """pid -> role, for the processes under a root; a role in `split` is named by its part
        ("postgres: device API"), "other" for a process the split does not know."""
        roles = {}
        parts = {role: parts() for role, parts in self.split.items()}
        for pid in table:
            node = pid
            for _ in range(50):
                if node in self.roots:
                    role = self.roots[node]
                    roles[pid] = f"{role}: {parts[role].get(pid, 'other')}" if role in parts else role
                    break
                parent = table.get(node)
                if parent is None or parent[0] <= 1:
                    break
                node = parent[0]
        return roles

    def run(self) -> None:
        start = time.monotonic() + self.delay
        hz = os.sysconf("SC_CLK_TCK")
        before = None
        for i in range(self.seconds + 1):
            if self.stopped.wait(max(0.0, start + i - time.monotonic())):
                return
            now, table, ticks = time.monotonic(), _proc_table(), _machine_ticks()
            ours = {pid: (table[pid][1], role) for pid, role in self._roles(table).items()}
            if before is not None:
                t0, ours0, ticks0 = before
                deltas = {pid: (v - ours0.get(pid, (0, role))[0], role) for pid, (v, role) in ours.items()}
                # A process that ended: its whole CPU is now in its parent's reaped-children
                # figure, so what was counted of it already comes off.
                deltas |= {pid: (-v, role) for pid, (v, role) in ours0.items() if pid not in ours}
                by_role: dict[str, int] = {}
                for pid, (delta, role) in deltas.items():
                    by_role[role] = by_role.get(role, 0) + delta
                    self.role_pids.setdefault(role, set()).add(pid)
                for role, delta in by_role.items():
                    self.role_ticks[role] = self.role_ticks.get(role, 0) + delta
                second = [b - a for a, b in zip(ticks0, ticks, strict=True)]
                self.machine = tuple(a + b for a, b in zip(self.machine, second, strict=True))
                self.wall += now - t0
                busy, _, interrupts, steal = (v / ((now - t0) * hz) * 100 for v in second)
                roles_pct = {role: round(delta / ((now - t0) * hz) * 100, 1) for role, delta in by_role.items()}
                self.by_second.append(
                    {
                        "busy_pct": round(busy, 1),
                        "steal_pct": round(steal, 1),
                        "interrupts_pct": round(interrupts, 1),
                        "others_pct": round(max(0.0, busy - sum(roles_pct.values()) - steal - interrupts), 1),
                        "roles": roles_pct,
                    }
                )
            before = (now, ours, ticks)

    def stop(self) -> None:
        self.stopped.set()

    def report(self) -> dict | None:
        """CPU by role over the seconds sampled (None before two samples)."""
        if self.wall <= 0:
            return None
        hz = os.sysconf("SC_CLK_TCK")

        def pct(ticks: int) -> float:
            return ticks / hz / self.wall * 100

        out = {
            role: {"cpu_pct": round(pct(ticks), 1), "processes": len(self.role_pids[role])}
            for role, ticks in sorted(self.role_ticks.items())
        }
        busy, _, interrupts, steal = (pct(v) for v in self.machine)
        return {
            "window_s": round(self.wall, 1),
            "by_process": out,
            "machine_busy_pct": round(busy, 1),
            "other_processes_pct": round(max(0.0, busy - pct(sum(self.role_ticks.values()))), 1),
            "interrupts_pct": round(interrupts, 1),
            "steal_pct": round(steal, 1),
            "capacity_pct": os.cpu_count() * 100,
        }


MACHINE_FIGURES = ("busy_pct", "steal_pct", "interrupts_pct", "others_pct")


def machine_in_slow_seconds(by_second: list[dict], slow: set[int]) -> dict | None:
    """The machine's mean figures, and each role's CPU, in the slow seconds and in the others."""
    if not by_second:
        return None
    out = {}
    for name, rows in (
        ("slow", [s for i, s in enumerate(by_second) if i in slow]),
        ("others", [s for i, s in enumerate(by_second) if i not in slow]),
    ):
        roles = sorted({role for r in rows for role in r["roles"]})
        out[name] = (
            {"seconds": len(rows)}
            | {key: _mean([r[key] for r in rows]) for key in MACHINE_FIGURES}
            | {"roles": {role: _mean([r["roles"].get(role, 0.0) for r in rows]) for role in roles}}
        )
    return out


def _mean(values: list[float]) -> float | None:
    return round(sum(values) / len(values), 1) if values else None


# --- The run ------------------------------------------------------------------------------


def machine() -> dict:
    model = ""
    try:
        with open("/proc/cpuinfo") as fh:
            model = next(
                (line.split(":", 1)[1].strip() for line in fh if line.startswith("model name")),
                "",
            )
    except OSError:
        pass
    return {
        "nproc": os.cpu_count(),
        "cpu_model": model,
        "python": platform.python_version(),
        "loadavg_before": Path("/proc/loadavg").read_text().split()[:3],
    }


def start_stack(args, stack: Stack) -> tuple[int, list[str]]:
    workdir = stack.workdir
    py = sys.executable
    t = time.monotonic()
    if args.diagnose:
        PG_SETTINGS.update(log_min_duration_statement="25ms", log_autovacuum_min_duration="0", log_checkpoints="on")
    stack.start_stores()
    stack.env.update(
        DJANGO_SETTINGS_MODULE="dash.settings",
        DASH_DEBUG="false",
        DASH_LOG_LEVEL="WARNING",
        DASH_SECRET_KEY="bench-" + "x" * 50,
        DASH_SIM_SHIP_SECONDS=str(args.ship_seconds),
        DASH_SIM_DELIVER_SECONDS=str(args.deliver_seconds),
        PYTHONUNBUFFERED="1",
    )
    stack.run("migrate", [py, "manage.py", "migrate", "--noinput"])
    tokens_file = workdir / "buttons.json"
    print(
        stack.run(
            "setup_data",
            [py, "-m", "bench.setup_data", "--buttons", str(args.buttons), "--hold-seconds", str(args.hold_seconds),
             "--seed", str(args.seed), "--out", str(tokens_file)],
        ).strip()
    )  # fmt: skip
    port = free_port()
    if args.web_server == "granian":
        web_cmd = [py, "-m", "granian", "--interface", "wsgi", "--host", "127.0.0.1", "--port", str(port),
                   "--workers", str(args.web_workers), "--blocking-threads", str(args.web_threads),
                   "--backlog", "2048", "--log-level", "warning", "--no-ws", "--respawn-failed-workers", "dash.wsgi:device_application"]  # fmt: skip
    else:
        web_cmd = [py, "-m", "gunicorn", "dash.wsgi:device_application", "-k", args.web_class, "--threads", str(args.web_threads),
                   "-w", str(args.web_workers), "-b", f"127.0.0.1:{port}", "--backlog", "2048", "--timeout", "30",
                   "--graceful-timeout", "5", "--log-level", "warning", "--no-control-socket"]  # fmt: skip
    stack.spawn("gunicorn", web_cmd)
    asgi_port = None
    if args.asgi_workers:
        asgi_port = free_port()
        stack.spawn(
            "uvicorn",
            [py, "-m", "uvicorn", "dash.asgi:application", "--host", "127.0.0.1", "--port", str(asgi_port),
             "--workers", str(args.asgi_workers), "--no-access-log", "--log-level", "warning"],
        )  # fmt: skip
    # Background work yields the CPU to the device API: with everything on two cores, a
    # sweep's burst would otherwise show up as intake latency (in production the workers run
    # on machines of their own). Releases have a 2 s budget; answers to devices have 100 ms.
    background = args.background_nice
    if background and args.background_share > 0:
        stack.background_cgroup = BackgroundCgroup.create(args.background_share)
    task_log = "INFO" if args.diagnose else "WARNING"
    stack.spawn(
        "worker",
        [py, "-m", "celery", "-A", "dash", "worker", "-Q", "celery", "-n", "submit@%h", "--concurrency", str(args.worker_concurrency), "-l", task_log],
        nice=background,
    )  # fmt: skip
    stack.spawn(
        "sweeper",
        [py, "-m", "celery", "-A", "dash", "worker", "-Q", "sweeps", "-n", "sweeps@%h", "--pool", "solo", "-l", task_log],
        nice=background,
    )  # fmt: skip
    stack.spawn(
        "bulk",
        [py, "-m", "celery", "-A", "dash", "worker", "-Q", "bulk", "-n", "bulk@%h", "--pool", "solo", "-l", task_log],
        nice=background,
    )  # fmt: skip
    stack.spawn(
        "beat",
        [py, "-m", "celery", "-A", "dash", "beat", "-s", str(workdir / "beat-schedule"), "-l", "WARNING"],
        nice=background,
    )  # fmt: skip
    stack.backends = BackendWatcher(stack.env["DATABASE_URL"], background, cgroup=stack.background_cgroup)
    stack.backends.start()
    wait_http_ok(f"http://127.0.0.1:{port}/healthz", stack)
    if asgi_port:
        wait_http_ok(f"http://127.0.0.1:{asgi_port}/healthz", stack)
    if not wait_worker_consuming(stack.redis_url, stack):
        print("warning: the Celery worker did not start consuming within 60 s", flush=True)
    print(f"stack up in {time.monotonic() - t:.1f}s (logs in {stack.logs})", flush=True)
    tokens = [b["token"] for b in orjson.loads(tokens_file.read_bytes())]
    return port, tokens


def measure(args, stack: Stack, port: int, tokens: list[str]) -> dict:
    # The generator stands in for thousands of independent devices, which have CPUs of their
    # own: when it shares two cores with the stack, it must not be the one that is late (its
    # lateness would count as the server's latency). Its session's autogroup too: with
    # autogroups a nice level only ranks a process within its session. (Needs root; harmless
    # without.)
    with contextlib.suppress(PermissionError):
        os.nice(-5)
    session_nice = autogroup_nice(os.getpid(), -5)  # the caller's whole session: put back below
    try:
        return _measure(args, stack, port, tokens)
    finally:
        if session_nice is not None:
            autogroup_nice(os.getpid(), session_nice)


def _measure(args, stack: Stack, port: int, tokens: list[str]) -> dict:
    primed_ids: set[str] = set()
    cycle = args.hold_seconds + args.ship_seconds + args.deliver_seconds
    prime_seconds = cycle if args.prime_seconds is None else args.prime_seconds
    if prime_seconds > 0:
        # Every button's first press places an order. Starting from an empty database at full
        # rate, that is thousands of orders in the first seconds, delivered together one order
        # cycle later, and reordered together again: waves of orders one cycle apart, which no
        # fleet of independent devices makes (a run measured order placements swinging between
        # 0 and 125 a second; primed as below, 46 on average in the measured window). So each
        # button is pressed once, in a shuffled order, spread over one order cycle (hold + ship
        # + deliver): the orders in progress start spread evenly over their cycle, as in the
        # steady state.
        rate = len(tokens) / prime_seconds
        print(f"prime: each button pressed once over {prime_seconds:g}s ({rate:.0f}/s; not measured) ...", flush=True)
        prime = loadgen.run(
            host="127.0.0.1", port=port, tokens=tokens, rate=rate, warmup=0, duration=prime_seconds,
            max_connections=args.connections, timeout=args.timeout, replay_share=0, seed=args.seed + 1, each_once=True,
        )  # fmt: skip
        primed_ids = set(prime["placed_order_ids"])
        print(f"prime: {len(primed_ids)} orders placed, {prime['errors']} errors", flush=True)
    roots = {os.getpid(): "loadgen (this process)", stack.redis_pid: "redis"}
    if pm := stack.postmaster_pid():
        roots[pm] = "postgres"
    names = {
        "gunicorn": "web (device API)",
        "uvicorn": "uvicorn (idle)",
        "worker": "celery worker (submit)",
        "sweeper": "celery worker (sweeps)",
        "bulk": "celery worker (bulk)",
        "beat": "celery beat",
    }
    roots.update({proc.pid: names[name] for name, proc in stack.procs.items()})
    backends = stack.backends
    sampler = CpuSampler(roots, delay=args.warmup + 0.05, seconds=int(args.duration), split={"postgres": lambda: backends.kinds})
    sampler.start()
    print(
        f"load: {args.rate:g}/s for {args.warmup:g}s warmup + {args.duration:g}s measured ...",
        flush=True,
    )
    load = loadgen.run(
        host="127.0.0.1",
        port=port,
        tokens=tokens,
        rate=args.rate,
        warmup=args.warmup,
        duration=args.duration,
        max_connections=args.connections,
        timeout=args.timeout,
        replay_share=args.replay_share,
        seed=args.seed,
        half_close=args.half_close,
    )
    sampler.stop()
    sampler.join(5)  # a sample under way finishes before the figures are read
    load["machine_by_second"] = sampler.by_second
    load["placed_order_ids"] = sorted(set(load["placed_order_ids"]) | primed_ids)
    load["primed_orders"] = len(primed_ids)
    try:
        stack.check_alive()
    except StackError as exc:  # the figures so far are still worth printing
        print(f"warning: {exc}", file=sys.stderr)
    print(
        f"load done; waiting up to {args.hold_seconds * 1.5 + args.settle:g}s for held orders to be released ...",
        flush=True,
    )
    figures_file = stack.workdir / "figures.json"
    stack.run(
        "db_figures",
        [
            sys.executable,
            "-m",
            "bench.db_figures",
            "--max-wait",
            str(args.hold_seconds * 1.5 + args.settle),
            "--out",
            str(figures_file),
        ],
        timeout=args.hold_seconds * 1.5 + args.settle + 120,
    )
    db = orjson.loads(figures_file.read_bytes())
    return build_report(args, load, db, sampler.report(), cgroup_share=args.background_share if stack.background_cgroup else None)


def build_report(args, load: dict, db: dict, cpu: dict | None, cgroup_share: float | None = None) -> dict:
    expected_ids = set(load.pop("placed_order_ids"))
    db_ids = set(db.pop("order_ids"))
    lateness = db.pop("release_lateness_s")
    orders = {
        "expected": len(expected_ids),
        "created": db["orders_created"],
        "order_placed_answers": load["order_placed_answers"],
        "order_in_progress_answers": load["order_in_progress_answers"],
        "answered_placed_but_missing_in_db": len(expected_ids - db_ids),
        "in_db_but_never_answered_placed": len(db_ids - expected_ids),
        "by_status": db["orders_by_status"],
        "customer_products_with_two_in_progress": db["customer_products_with_two_in_progress"],
    }
    release = {
        "count": len(lateness),
        "p50_s": _round(loadgen.percentile(lateness, 0.50), 3),
        "p99_s": _round(loadgen.percentile(lateness, 0.99), 3),
        "max_s": _round(lateness[-1] if lateness else None, 3),
        "held_overdue_after_wait": db["held_overdue"],
        "settle_wait_s": db["settle_wait_s"],
    }
    slow = {int(sec) for sec in load["seconds_over_100ms"]}
    load["machine_in_slow_seconds"] = machine_in_slow_seconds(load.get("machine_by_second", []), slow)
    acknowledged = sum(v for k, v in load["outcome_counts"].items() if not k.startswith("error:")) - load["replays"]["ok"]
    lat = load["latency_ms"]
    checks = {
        f"accepted events/s >= {TARGETS['accepted_per_s']:g}": load["accepted_per_s"] >= TARGETS["accepted_per_s"],
        f"latency p99 <= {TARGETS['p99_ms']:g} ms": lat["p99"] is not None and lat["p99"] <= TARGETS["p99_ms"],
        "zero errors": load["errors"] == 0,
        "orders created == expected": orders["created"] == orders["expected"] == len(db_ids & expected_ids)
        and orders["customer_products_with_two_in_progress"] == 0,
        f"release lateness p99 <= {TARGETS['lateness_p99_s']:g} s": release["p99_s"] is not None
        and release["p99_s"] <= TARGETS["lateness_p99_s"]
        and release["held_overdue_after_wait"] == 0,
    }
    return {
        "at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine_info,
        "config": {
            "rate": args.rate,
            "duration_s": args.duration,
            "warmup_s": args.warmup,
            "buttons": args.buttons,
            "web_workers": args.web_workers,
            "web_server": args.web_server,
            "web_threads": args.web_threads,
            "asgi_workers": args.asgi_workers,
            "worker_concurrency": args.worker_concurrency,
            "hold_seconds": args.hold_seconds,
            "ship_deliver_s": [args.ship_seconds, args.deliver_seconds],
            "max_connections": args.connections,
            "half_close": args.half_close,
            "background_nice": args.background_nice,
            "background_cgroup_share": cgroup_share,
        },
        "load": load,
        "events": {
            "acknowledged_new": acknowledged,
            "recorded_in_db": db["device_events_recorded"],
        },
        "orders": orders,
        "release_lateness": release,
        "cpu": _with_cost_per_event(cpu, load["accepted_per_s"]),
        "checks": checks,
    }


def _with_cost_per_event(cpu: dict | None, per_s: float) -> dict | None:
    """CPU milliseconds each accepted event cost, per process group: what the hot path costs."""
    if cpu and per_s > 0:
        for entry in cpu["by_process"].values():
            entry["cpu_ms_per_event"] = round(entry["cpu_pct"] / 100 / per_s * 1000, 3)
    return cpu


def _round(value, digits):
    return None if value is None else round(value, digits)


def print_report(r: dict) -> None:
    m, c, load, o, rel = (
        r["machine"],
        r["config"],
        r["load"],
        r["orders"],
        r["release_lateness"],
    )
    lat = load["latency_ms"]
    out = [
        "",
        "=== Dash device API benchmark ===",
        f"machine   {m['nproc']} CPU  {m['cpu_model']}  (load avg before: {' '.join(m['loadavg_before'])})",
        (
            f"config    rate {c['rate']:g}/s  measured {c['duration_s']:g}s (+{c['warmup_s']:g}s warmup)  buttons {c['buttons']}  "
            f"device API {c['web_server']} x{c['web_workers']} ({c['web_threads']} threads)  uvicorn workers {c['asgi_workers']}  celery concurrency {c['worker_concurrency']}  "
            f"hold {c['hold_seconds']}s  background nice {c.get('background_nice', 0)} (Celery and its PostgreSQL backends)"
            + (f", in a CPU cgroup of {c['background_cgroup_share']:.0%} weight" if c.get("background_cgroup_share") else "")
        ),
        (
            f"requests  scheduled {load['scheduled']}  answered {load['answered']}  replays {load['replays']['sent']} "
            f"(ok {load['replays']['ok']})  late sends (whole run) {load['late_sends']} (max slip {load['max_send_slip_ms']} ms)  "
            f"connections peak {load['peak_connections']} / opened {load['connections_opened']}"
        ),
        (
            f"accepted  {load['accepted_per_s']:.1f} events/s  ({load['accepted_in_window']} of the events sent in the measured window; "
            f"answers that arrived in it: {load.get('completed_in_window', '-')})"
        ),
        f"latency   p50 {lat['p50']} ms  p90 {lat['p90']} ms  p99 {lat['p99']} ms  max {lat['max']} ms  (from the scheduled time, n={lat['count']})",
        (
            f"slow      seconds of the window with p99 > 100 ms: {len(load['seconds_over_100ms'])} "
            f"{_fmt(dict(list(load['seconds_over_100ms'].items())[:12]))}"
        ),
        *_slow_seconds_machine(load.get("machine_in_slow_seconds")),
        f"status    {_fmt(load['status_counts'])}",
        f"outcomes  {_fmt(load['outcome_counts'])}",
        f"errors    {load['errors']}  {_fmt(load['error_kinds'])}",
        f"events    acknowledged (new) {r['events']['acknowledged_new']}  recorded in DB {r['events']['recorded_in_db']}",
        (
            f"orders    expected {o['expected']}  created {o['created']}  (order_placed answers {o['order_placed_answers']}, "
            f"order_in_progress answers {o['order_in_progress_answers']}, placed-but-missing {o['answered_placed_but_missing_in_db']}, "
            f"in-DB-but-unseen {o['in_db_but_never_answered_placed']}, two in progress {o['customer_products_with_two_in_progress']})"
        ),
        f"          by status: {_fmt(o['by_status'])}",
        (
            f"release   lateness after hold expiry p50 {rel['p50_s']} s  p99 {rel['p99_s']} s  max {rel['max_s']} s  "
            f"(n={rel['count']}, still held and overdue after wait {rel['held_overdue_after_wait']}, waited {rel['settle_wait_s']} s)"
        ),
        f"loadgen   cpu {load['loadgen_cpu_s']} s over {load['loadgen_wall_s']} s",
    ]
    if r["cpu"]:
        cpu = r["cpu"]
        out.append(
            f"cpu       measured window, % of one core (the machine has {cpu['capacity_pct']}%): busy {cpu['machine_busy_pct']}%, "
            f"of which outside this benchmark's processes {cpu['other_processes_pct']}% "
            f"(interrupts {cpu['interrupts_pct']}%, steal by the hypervisor {cpu['steal_pct']}%, other processes the rest)"
        )
        for role, v in sorted(cpu["by_process"].items(), key=lambda kv: -kv[1]["cpu_pct"]):
            cost = f"  {v['cpu_ms_per_event']:.3f} ms/event" if "cpu_ms_per_event" in v else ""
            out.append(f"          {role:<24} {v['cpu_pct']:6.1f}%  ({v['processes']} processes){cost}")
        foreign = round(cpu["other_processes_pct"] - cpu["interrupts_pct"], 1)  # interrupts: our own traffic, mostly
        if foreign > 10:
            out.append(
                f"warning   the hypervisor and other processes took {foreign}% of a core during the window: "
                "the machine was not quiet, so these figures understate the stack"
            )
    out.append("")
    out += [f"{'PASS' if ok else 'FAIL'}  {name}" for name, ok in r["checks"].items()]
    print("\n".join(out), flush=True)


def _slow_seconds_machine(m: dict | None) -> list[str]:
    if not m or not m["slow"]["seconds"] or not m["others"]["seconds"]:
        return []

    def part(g):
        return f"busy {g['busy_pct']}%, steal {g['steal_pct']}%, interrupts {g['interrupts_pct']}%, other processes {g['others_pct']}%"

    lines = [f"          the machine in those seconds: {part(m['slow'])}; in the other {m['others']['seconds']}: {part(m['others'])}"]
    rises = sorted(((m["slow"]["roles"][role] - m["others"]["roles"].get(role, 0.0), role) for role in m["slow"]["roles"]), reverse=True)
    rises = [(rise, role) for rise, role in rises if rise > 0]
    if rises:
        shown = "  ".join(f"{role} {m['slow']['roles'][role]}% ({m['others']['roles'].get(role, 0.0)}%)" for _, role in rises[:3])
        lines.append(f"          ours that rose most in them (the other seconds in brackets): {shown}")
    return lines


def _fmt(counts: dict) -> str:
    return "  ".join(f"{k}={v}" for k, v in counts.items()) or "-"


machine_info: dict = {}


def main() -> int:
    global machine_info
    parser = argparse.ArgumentParser(prog="python -m bench.device_api", description=__doc__.split("\n\n")[0])
    parser.add_argument("--rate", type=float, default=800, help="events per second offered (open model)")
    parser.add_argument("--duration", type=float, default=60, help="measured seconds, after the warmup")
    parser.add_argument(
        "--warmup",
        type=float,
        default=50,
        help="seconds of full load before the measured window: one order cycle (hold + ship + deliver), so that "
        "the burst of first orders at the switch to full rate has been released, shipped and delivered",
    )
    parser.add_argument("--buttons", type=int, default=3000)
    parser.add_argument(
        "--web-workers",
        type=int,
        default=os.cpu_count() or 2,
        help="worker processes serving the device API (default: one per core; on 2 cores, 4 cost 7-17 %% more CPU per event)",
    )
    parser.add_argument(
        "--asgi-workers",
        type=int,
        default=1,
        help="uvicorn workers (idle here); 0 = don't start",
    )
    parser.add_argument(
        "--prime-seconds",
        type=float,
        default=None,
        help="a first, unmeasured phase that presses each button once, spread over this many seconds "
        "(default: one order cycle, hold + ship + deliver; 0 = none)",
    )
    parser.add_argument("--web-server", choices=["gunicorn", "granian"], default="granian", help="the device API's WSGI server")
    parser.add_argument("--web-class", default="sync", help="gunicorn worker class for the device API (sync or gthread)")
    parser.add_argument(
        "--background-nice",
        type=int,
        default=10,
        help="nice level of the Celery processes and of the PostgreSQL backends serving them (0 = none)",
    )
    parser.add_argument(
        "--background-share",
        type=float,
        default=0.1,
        help="the same background in a CPU cgroup of this weight against a session's (needs root and a cpu controller; 0 = none)",
    )
    parser.add_argument("--web-threads", type=int, default=2, help="threads per web worker (granian blocking threads, gunicorn gthread)")
    parser.add_argument("--worker-concurrency", type=int, default=1, help="Celery worker processes")
    parser.add_argument("--hold-seconds", type=int, default=10, help="the buttons' mean hold window (each 0.5x to 1.5x)")
    parser.add_argument("--ship-seconds", type=int, default=20, help="DASH_SIM_SHIP_SECONDS")
    parser.add_argument("--deliver-seconds", type=int, default=20, help="DASH_SIM_DELIVER_SECONDS")
    parser.add_argument(
        "--settle",
        type=float,
        default=30,
        help="seconds past the last hold to wait for releases",
    )
    parser.add_argument(
        "--connections",
        type=int,
        default=128,
        help="cap on in-flight requests (open connections)",
    )
    parser.add_argument("--timeout", type=float, default=10, help="per-request timeout, seconds")
    parser.add_argument(
        "--replay-share",
        type=float,
        default=0.01,
        help="share of requests that replay an earlier event",
    )
    parser.add_argument(
        "--half-close",
        action="store_true",
        help="client shuts its write side after each request",
    )
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--json",
        nargs="?",
        const="var/bench-device-api.json",
        metavar="PATH",
        help="also write the figures as JSON",
    )
    parser.add_argument(
        "--diagnose",
        action="store_true",
        help="workers log every task at INFO; PostgreSQL logs statements over 25 ms, autovacuum and checkpoints "
        "(use with --keep; the window's wall-clock start is in the JSON as load.window_started_unix)",
    )
    parser.add_argument(
        "--keep",
        action="store_true",
        help="keep the temporary folder (logs, database files)",
    )
    args = parser.parse_args()

    def on_term(signum, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_term)
    machine_info = machine()
    workdir = Path(tempfile.mkdtemp(prefix="dash-bench-"))
    stack = Stack(workdir)
    try:
        try:
            port, tokens = start_stack(args, stack)
        except (
            StackError,
            subprocess.SubprocessError,
            OSError,
            RuntimeError,
            TimeoutError,
        ) as exc:
            print(f"bench: the stack did not start: {exc}", file=sys.stderr)
            return 2
        report = measure(args, stack, port, tokens)
        print_report(report)
        if args.json:
            write_json(args.json, report)
        return 0
    except StackError as exc:
        print(f"bench: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("bench: interrupted", file=sys.stderr)
        return 130
    finally:
        stack.close(keep=args.keep)


if __name__ == "__main__":
    sys.exit(main())
