"""What the benchmarks of bench/ share: databases, gunicorn servers, wrk, and the table.

Every server of a run is started by ``serve`` with the same gunicorn settings
(``GUNICORN``, those of ``make run``), binds 127.0.0.1 on a free port, and is
stopped when its block ends, whatever happens in it. Load comes from wrk with
the same threads and connections for every row (``Load``); POST bodies are
made by Lua scripts, p99 comes from wrk's latency distribution.
"""
import contextlib
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import sqlalchemy as sa

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benefits.migrate import upgrade  # noqa: E402
from benefits.db import reachable  # noqa: E402

DEFAULT_RULES = ROOT / "rules" / "default.yaml"
POSTGRES_URL = os.environ.get("BENEFITS_BENCH_POSTGRES_URL",
                              os.environ.get("BENEFITS_TEST_POSTGRES_URL",
                                             "postgresql+psycopg://postgres@127.0.0.1:5432/test"))
SECRET = "bench-secret-not-for-production"
GUNICORN = ["--config", "python:benefits.gunicorn", "--workers", "2", "--threads", "4"]
GUNICORN_TEXT = "gunicorn -c python:benefits.gunicorn --workers 2 --threads 4 (gthread, as `make run`), a listening socket a worker, no access log"


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def postgres_reachable() -> bool:
    return reachable(POSTGRES_URL)


def usable_backends(text: str) -> list[str]:
    """The backends of a comma-separated list, PostgreSQL left out (and said so) when it is not reachable."""
    backends = [b.strip() for b in text.split(",") if b.strip()]
    if "postgresql" in backends and not postgres_reachable():
        log(f"PostgreSQL is not reachable at {POSTGRES_URL}: its rows are skipped")
        backends.remove("postgresql")
    return backends


class Database:
    """A fresh, migrated database: an SQLite file in a temporary folder, or a PostgreSQL schema; removed by close()."""

    def __init__(self, backend: str, label: str = "bench"):
        self.backend = backend
        self.schema = None
        self.directory = tempfile.TemporaryDirectory(prefix=f"{label}-")
        self.path = Path(self.directory.name)
        if backend == "sqlite":
            self.url = f"sqlite:///{self.path}/benefits.db"
        else:
            self.schema = f"{label}_{os.getpid()}_{uuid.uuid4().hex[:6]}".replace("-", "_")
            self.admin = sa.create_engine(POSTGRES_URL)
            with self.admin.begin() as connection:
                connection.execute(sa.text(f'CREATE SCHEMA "{self.schema}"'))
            url = sa.engine.make_url(POSTGRES_URL).update_query_dict({"options": f"-csearch_path={self.schema}"})
            self.url = url.render_as_string(hide_password=False)
        upgrade(self.url)

    def close(self) -> None:
        if self.schema:
            with self.admin.begin() as connection:
                connection.execute(sa.text(f'DROP SCHEMA "{self.schema}" CASCADE'))
            self.admin.dispose()
            self.schema = None
        self.directory.cleanup()

    def __enter__(self):
        return self

    def __exit__(self, *_):
        self.close()

    def env(self) -> dict:
        """The environment a server or the CLI needs to use this database."""
        return {**os.environ, "BENEFITS_DATABASE_URL": self.url, "BENEFITS_SECRET_KEY": SECRET,
                "BENEFITS_INSTANCE_DIR": str(self.path), "PYTHONPATH": str(ROOT)}


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Server:
    url: str
    process: subprocess.Popen
    log_path: Path


@contextlib.contextmanager
def serve(app_spec: str, env: dict, *, log_path: Path, ready_path: str = "/healthz", extra: tuple = ()):
    """gunicorn serving ``app_spec`` on 127.0.0.1:<free port>; stopped (its whole process group) on exit."""
    port = free_port()
    command = [str(Path(sys.executable).parent / "gunicorn"), *GUNICORN, *extra, "--bind", f"127.0.0.1:{port}",
               "--graceful-timeout", "5", app_spec]
    with open(log_path, "ab") as log_file:
        process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log_file, stderr=log_file,
                                   start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"{app_spec} did not start; see {log_path}:\n" + _tail(log_path))
            try:
                with urllib.request.urlopen(url + ready_path, timeout=2) as response:
                    if response.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"{app_spec} not ready within 60 s; see {log_path}:\n" + _tail(log_path))
            time.sleep(0.2)
        yield Server(url, process, log_path)
    finally:
        _stop(process)


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=5)


def _tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


# ---------------------------------------------------------------- wrk


@dataclass(frozen=True)
class Load:
    """wrk's settings, the same for every row: 2 threads, 8 connections (one per server thread)."""

    threads: int = 2
    connections: int = 8
    seconds: float = 8.0
    warmup_seconds: float = 2.0

    def text(self) -> str:
        return (f"wrk -t{self.threads} -c{self.connections}, {self.seconds:g} s measured after "
                f"{self.warmup_seconds:g} s of warm-up, on the same 2-core machine")


@dataclass
class Measured:
    requests: int
    seconds: float
    rps: float
    p50_ms: float
    p99_ms: float
    errors: int  # socket errors and non-2xx/3xx answers
    raw: str = field(repr=False, default="")


def wrk_path() -> str:
    path = shutil.which("wrk")
    if path is None:
        raise RuntimeError("wrk is not installed: `apt-get install -y wrk` (make bench does it)")
    return path


def wrk(url: str, load: Load, *, script: str | None = None, args: tuple = (), seconds: float | None = None) -> Measured:
    """Run wrk against ``url`` (a Lua ``script``'s text for POSTs and varied paths)."""
    seconds = load.seconds if seconds is None else seconds
    command = [wrk_path(), f"-t{load.threads}", f"-c{load.connections}", f"-d{max(1, round(seconds))}s",
               "--latency", "--timeout", "10s"]
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as lua:
        lua.write(script or "")
    try:
        if script:
            command += ["-s", lua.name]
        command.append(url)
        if args:
            command += ["--", *[str(a) for a in args]]
        done = subprocess.run(command, capture_output=True, text=True, timeout=seconds + 60)
    finally:
        os.unlink(lua.name)
    if done.returncode != 0:
        raise RuntimeError(f"wrk failed ({done.returncode}): {done.stderr or done.stdout}")
    return parse_wrk(done.stdout)


UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}


def _ms(text: str) -> float:
    match = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text.strip())
    if not match:
        raise ValueError(f"not a wrk duration: {text!r}")
    return float(match.group(1)) * UNITS[match.group(2)]


def parse_wrk(output: str) -> Measured:
    requests = re.search(r"(\d+) requests in ([\d.]+)(us|ms|s|m)", output)
    rps = re.search(r"Requests/sec:\s+([\d.]+)", output)
    p50 = re.search(r"^\s+50%\s+(\S+)", output, re.M)
    p99 = re.search(r"^\s+99%\s+(\S+)", output, re.M)
    if not (requests and rps and p50 and p99):
        raise RuntimeError(f"cannot read wrk's output:\n{output}")
    errors = 0
    non_2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", output)
    if non_2xx:
        errors += int(non_2xx.group(1))
    socket_errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output)
    if socket_errors:
        errors += sum(int(g) for g in socket_errors.groups())
    return Measured(requests=int(requests.group(1)), seconds=_ms(requests.group(2) + requests.group(3)) / 1000,
                    rps=float(rps.group(1)), p50_ms=_ms(p50.group(1)), p99_ms=_ms(p99.group(1)), errors=errors,
                    raw=output)


def measure(url: str, load: Load, *, script: str | None = None, args: tuple = ()) -> Measured:
    """A warm-up run (discarded), then the measured run.

    A script's first argument is a run label that makes its ids unique: the
    warm-up gets its own.
    """
    if load.warmup_seconds > 0:
        warm_args = (f"{args[0]}w", *args[1:]) if args else ()
        wrk(url, load, script=script, args=warm_args, seconds=load.warmup_seconds)
    return wrk(url, load, script=script, args=args)


def lua_string_list(values) -> str:
    return "{" + ", ".join('"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"' for v in values) + "}"


def seed(app, now, *, key_name: str, customers: dict[str, tuple[int, "Decimal"]]) -> str:
    """The default programme, active; an app key (returned); ``{prefix: (count, aum)}`` customers
    ``<prefix>00000``, ``<prefix>00001``..., written through the services."""
    from benefits import db
    from benefits.services import audit, customers as customer_service, keys, rule_versions
    from benefits.services.profiles import CustomerProfile

    extension = app.extensions["benefits"]
    db.run(extension.sessions, lambda s: rule_versions.bootstrap(s, DEFAULT_RULES.read_bytes(), "yaml",
                                                                activate_it=True, now=now))

    def write(session):
        with extension.programs.active(session) as program:
            _, key = keys.create_key(session, role="app", name=key_name, actor=audit.SYSTEM, now=now)
            for prefix, (count, aum) in customers.items():
                for i in range(count):
                    customer_service.upsert(session, program, f"{prefix}{i:05d}", CustomerProfile("张三", aum),
                                            actor=audit.SYSTEM, now=now)
            return key

    return db.run(extension.sessions, write)


LUA_THREAD_IDS = """
local next_thread = 0
function setup(thread)
  thread:set("tid", next_thread)
  next_thread = next_thread + 1
end
"""

LUA_POST_INIT = """
function init(args)
  n = 0
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/json"
  wrk.headers["Authorization"] = "Bearer " .. args[2]
  start(args)
end
"""


# ---------------------------------------------------------------- the table


@dataclass
class Row:
    """One row of the table: a measurement, its baseline from the same run, and their ratio."""

    backend: str
    name: str
    value: str
    baseline: str
    ratio: float | None  # value ÷ baseline as a share (throughput) or a factor (time)
    ratio_text: str
    target: str = ""
    met: bool | None = None
    note: str = ""
    data: dict = field(default_factory=dict)

    def as_json(self) -> dict:
        return {"backend": self.backend, "name": self.name, "value": self.value, "baseline": self.baseline,
                "ratio": self.ratio, "ratio_text": self.ratio_text, "target": self.target, "met": self.met,
                "note": self.note, **({"data": self.data} if self.data else {})}


def share(value: float, baseline: float) -> tuple[float | None, str]:
    if not baseline:
        return None, "n/a"
    ratio = value / baseline
    return ratio, f"{ratio:.0%}"


def verdict(met: bool | None) -> str:
    return {True: "yes", False: "NO", None: ""}[met]


def table(rows: list[Row]) -> str:
    headers = ("backend", "measurement", "value", "baseline (same run)", "ratio", "target", "met")
    cells = [(r.backend, r.name, r.value, r.baseline, r.ratio_text, r.target, verdict(r.met)) for r in rows]
    widths = [max(len(h), *(len(c[i]) for c in cells)) if cells else len(h) for i, h in enumerate(headers)]
    line = lambda values: "| " + " | ".join(v.ljust(w) for v, w in zip(values, widths)) + " |"  # noqa: E731
    out = [line(headers), "|" + "|".join("-" * (w + 2) for w in widths) + "|"]
    out += [line(c) for c in cells]
    notes = [f"- {r.backend} {r.name}: {r.note}" for r in rows if r.note]
    return "\n".join(out + ([""] + notes if notes else []))


def rate(value: float) -> str:
    return f"{value:,.0f}"
