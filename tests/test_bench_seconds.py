"""`make bench` samples the machine every second of the measured window, so a slow second can be
told from a second in which something outside the benchmark took the cores."""

import os
import signal
import subprocess
import sys
import time

import psycopg

from bench.device_api import BACKGROUND_APP, DEVICE_APP, BackendWatcher, CpuSampler, backend_kinds, machine_in_slow_seconds

SPIN = "import time\nend = time.monotonic() + 30\nwhile time.monotonic() < end: pass"


def _sample(seconds: int) -> list[dict]:
    sampler = CpuSampler({os.getpid(): "this test"}, delay=0.0, seconds=seconds)
    sampler.start()
    sampler.join(seconds + 10)
    return sampler.by_second


def _orphan_spinner() -> int:
    """A busy process whose parent is not this one (its shell exits at once), as a neighbour's is."""
    out = subprocess.run(
        ["sh", "-c", f'{sys.executable} -c "$0" >/dev/null 2>&1 & echo $!', SPIN], capture_output=True, text=True, check=True
    )
    return int(out.stdout.split()[0])


def test_a_process_outside_the_benchmark_shows_as_other_processes():
    pid = _orphan_spinner()
    try:
        time.sleep(0.2)
        seconds = _sample(2)
    finally:
        os.kill(pid, signal.SIGKILL)
    assert len(seconds) == 2
    for second in seconds:
        assert second["others_pct"] >= 50, seconds  # a spinning process takes a whole core


def test_the_benchmarks_own_processes_do_not():
    child = subprocess.Popen([sys.executable, "-c", SPIN])
    try:
        time.sleep(0.2)
        seconds = _sample(2)
    finally:
        child.kill()
        child.wait()
    for second in seconds:
        own = second["busy_pct"] - second["others_pct"] - second["steal_pct"] - second["interrupts_pct"]
        assert own >= 40, seconds  # the child spins in this test's process tree: counted as ours
        assert second["roles"]["this test"] >= 40, seconds  # and under its role


def test_the_slow_seconds_are_set_against_the_others():
    def second(busy, steal, interrupts, others, postgres, web):
        roles = {"postgres": postgres, "web": web}
        return {"busy_pct": busy, "steal_pct": steal, "interrupts_pct": interrupts, "others_pct": others, "roles": roles}

    by_second = [
        second(150.0, 1.0, 8.0, 2.0, 60.0, 70.0),
        second(196.0, 12.0, 9.0, 30.0, 90.0, 60.0),
        second(140.0, 3.0, 6.0, 4.0, 50.0, 70.0),
        second(190.0, 8.0, 9.0, 20.0, 80.0, 66.0),
    ]
    summary = machine_in_slow_seconds(by_second, {1, 3})
    assert summary["slow"] == {
        "seconds": 2,
        "busy_pct": 193.0,
        "steal_pct": 10.0,
        "interrupts_pct": 9.0,
        "others_pct": 25.0,
        "roles": {"postgres": 85.0, "web": 63.0},
    }
    assert summary["others"] == {
        "seconds": 2,
        "busy_pct": 145.0,
        "steal_pct": 2.0,
        "interrupts_pct": 7.0,
        "others_pct": 3.0,
        "roles": {"postgres": 55.0, "web": 70.0},
    }
    assert machine_in_slow_seconds([], {1}) is None


def test_a_process_that_ends_within_the_window_is_counted():
    # given a process of the benchmark's that spins for a second and a half, then exits
    # (an autovacuum worker, say): two marks at the window's edges would not see it at all
    cpu = CpuSampler({os.getpid(): "this test"}, delay=0.0, seconds=3)
    cpu.start()
    time.sleep(0.3)
    child = subprocess.Popen([sys.executable, "-c", SPIN.replace("30", "1.5")])
    child.wait()
    cpu.join(15)

    report = cpu.report()
    assert report["by_process"]["this test"]["cpu_pct"] >= 30, report  # 1.5 s of a core over 3 s
    assert report["window_s"] == 3.0


def test_a_role_is_split_by_what_its_processes_serve():
    # given two spinning children of this process, one the split knows and one it does not
    first = subprocess.Popen([sys.executable, "-c", SPIN])
    second = subprocess.Popen([sys.executable, "-c", SPIN])
    try:
        time.sleep(0.2)
        cpu = CpuSampler({os.getpid(): "this test"}, delay=0.0, seconds=2, split={"this test": lambda: {first.pid: "first"}})
        cpu.start()
        cpu.join(15)
    finally:
        for child in (first, second):
            child.kill()
            child.wait()
    roles = cpu.report()["by_process"]
    assert roles["this test: first"]["processes"] == 1, roles
    assert roles["this test: first"]["cpu_pct"] >= 30, roles
    assert roles["this test: other"]["cpu_pct"] >= 30, roles  # the second child, and this process
    assert "this test" not in roles


def test_postgres_processes_are_named_by_what_they_serve():
    rows = [
        (10, DEVICE_APP, "client backend", None),
        (11, BACKGROUND_APP, "client backend", None),
        (12, "", "parallel worker", 11),
        (13, "", "autovacuum worker", None),
        (14, "", "walwriter", None),
        (15, "dash-bench", "client backend", None),
        (16, "", "parallel worker", 10),
    ]
    assert backend_kinds(rows) == {
        10: "device API",
        11: "background",
        12: "background",
        13: "autovacuum",
        14: "server",
        15: "server",
        16: "device API",
    }


def test_the_background_backends_are_found_and_reniced_on_the_real_server():
    url = os.environ["DATABASE_URL"]
    with (
        psycopg.connect(url, application_name=BACKGROUND_APP) as background,
        psycopg.connect(url, application_name=DEVICE_APP) as device,
    ):
        watcher = BackendWatcher(url, nice=10, every=0.1)
        watcher.start()
        try:
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline and not {background.info.backend_pid, device.info.backend_pid} <= watcher.kinds.keys():
                time.sleep(0.05)
        finally:
            watcher.stop()
            watcher.join(5)
        assert watcher.kinds[background.info.backend_pid] == "background"
        assert watcher.kinds[device.info.backend_pid] == "device API"
        assert os.getpriority(os.PRIO_PROCESS, background.info.backend_pid) == 10
        assert os.getpriority(os.PRIO_PROCESS, device.info.backend_pid) == 0
