"""`make bench` puts the background work in a CPU cgroup of low weight when the machine lets it
(root and a writable cpu controller, as on the machine the figures come from)."""

import subprocess
import sys
from pathlib import Path

import pytest

from bench.device_api import BackgroundCgroup, Stack, autogroup_nice


def test_a_background_process_and_what_it_forks_run_in_the_low_weight_cgroup(tmp_path):
    cgroup = BackgroundCgroup.create(0.1)
    if cgroup is None:
        pytest.skip("no writable CPU cgroup controller here (needs root)")
    stack = Stack(tmp_path)
    stack.background_cgroup = cgroup
    try:
        # when a background process starts and forks a child
        forks = "import subprocess, time; c = subprocess.Popen(['sleep', '30']); print(c.pid, flush=True); time.sleep(30)"
        stack.spawn("bg", [sys.executable, "-c", forks], nice=10)
        parent = stack.procs["bg"]
        log = tmp_path / "logs" / "bg.log"
        for _ in range(100):
            if log.exists() and log.read_text().strip():
                break
            subprocess.run(["sleep", "0.1"], check=True)
        child = int(log.read_text().split()[0])

        # then both are in the cgroup, whose weight is a tenth of a session's
        members = set(cgroup.procs.read_text().split())
        assert {str(parent.pid), str(child)} <= members
        weight = next(p for p in (cgroup.path / "cpu.shares", cgroup.path / "cpu.weight") if p.exists())
        assert int(weight.read_text()) in (102, 10)
    finally:
        stack.stop()
    # and the cgroup goes with the stack
    assert not Path(cgroup.path).exists()


def test_a_sessions_weight_is_set_and_put_back():
    # given a process in a session of its own, as the caller of `make bench` is in theirs
    proc = subprocess.Popen(["sleep", "30"], start_new_session=True)
    try:
        path = Path(f"/proc/{proc.pid}/autogroup")
        if not path.exists():
            pytest.skip("no autogroups in this kernel")
        # when the benchmark raises it for the load, then puts it back
        before = autogroup_nice(proc.pid, -5)
        during = path.read_text().split()[-1]
        assert autogroup_nice(proc.pid, before) == -5
        after = path.read_text().split()[-1]
    finally:
        proc.kill()
        proc.wait()
    # then it had -5 during the load, and the level it had before after it
    assert (before, during, after) == (0, "-5", "0")
