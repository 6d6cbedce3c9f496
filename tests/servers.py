"""A real gunicorn against a prepared database, for the crash and load tests.

``database(backend, tmp_path)`` gives a URL: a fresh SQLite file, or a fresh
PostgreSQL schema (dropped afterwards) reached through ``search_path``.
``prepare(url)`` migrates it, loads and activates the default programme and
creates an app and an admin key with the ``benefits`` command line, as an
operator would. ``Server`` runs gunicorn (gthread workers) on a free loopback
port in its own process group, so that ``kill()`` can SIGKILL the master and
every worker at once; every test stops what it starts in a ``finally``.
``Client`` is a small keep-alive HTTP/JSON client for one thread.
``served(backend, tmp_path)`` puts the four together for a test.
"""
from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa

from benefits.db import make_engine
from conftest import ENCRYPTION_KEY, POSTGRES_URL

ROOT = Path(__file__).resolve().parent.parent
HOST = "127.0.0.1"  # loopback only: these tests never send traffic anywhere else


@contextmanager
def database(backend: str, tmp_path: Path):
    """An empty database for one server: its URL, dropped again afterwards on PostgreSQL."""
    if backend == "sqlite":
        yield f"sqlite:///{tmp_path / 'server.db'}"
        return
    schema = f"benefits_server_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    admin = sa.create_engine(POSTGRES_URL)
    try:
        with admin.begin() as connection:
            connection.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
        url = sa.engine.make_url(POSTGRES_URL).update_query_dict({"options": f"-csearch_path={schema}"})
        yield url.render_as_string(hide_password=False)
    finally:
        with admin.begin() as connection:
            connection.execute(sa.text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        admin.dispose()


def environment(url: str) -> dict:
    env = {name: value for name, value in os.environ.items() if not name.startswith("BENEFITS_")}
    env.update(BENEFITS_DATABASE_URL=url, BENEFITS_ENV="development", BENEFITS_LOG_LEVEL="WARNING",
               BENEFITS_SECRET_KEY="test-server-secret", BENEFITS_RULES_REFRESH_SECONDS="1",
               BENEFITS_ENCRYPTION_KEYS=ENCRYPTION_KEY)
    return env


def cli(url: str, *args: str) -> str:
    """Run ``benefits ARGS`` against the database; its output."""
    done = subprocess.run([str(Path(sys.executable).parent / "benefits"), *args], cwd=ROOT, env=environment(url),
                          capture_output=True, text=True, timeout=300)
    if done.returncode != 0:
        raise RuntimeError(f"benefits {' '.join(args)} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
    return done.stdout


def prepare(url: str) -> dict[str, str]:
    """Migrate, load the default programme, create keys: ``{"app": key, "admin": key}``."""
    cli(url, "db", "upgrade")
    cli(url, "rules", "load", "rules/default.yaml", "--activate")
    return {role: cli(url, "keys", "create", "--role", role, "--name", f"{role}-under-test").strip().splitlines()[-1]
            for role in ("app", "admin")}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        return probe.getsockname()[1]


class Server:
    """gunicorn serving ``wsgi:app`` against ``url``, in a process group of its own."""

    def __init__(self, url: str, log_path: Path, *, workers: int = 2, threads: int = 4):
        self.url, self.log_path, self.workers, self.threads = url, log_path, workers, threads
        self.port = free_port()
        self.process: subprocess.Popen | None = None

    @property
    def address(self) -> tuple[str, int]:
        return HOST, self.port

    def start(self, ready_within: float = 60) -> "Server":
        assert self.process is None, "already running"
        log = open(self.log_path, "ab")
        try:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "gunicorn", "--config", "python:benefits.gunicorn", "--workers",
                 str(self.workers), "--threads", str(self.threads), "--bind", f"{HOST}:{self.port}", "--timeout", "120",
                 "--graceful-timeout", "5", "--no-control-socket", "wsgi:app"],
                cwd=ROOT, env=environment(self.url), stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        finally:
            log.close()
        deadline = time.monotonic() + ready_within
        while True:
            if self.process.poll() is not None:
                self.process = None
                raise RuntimeError(f"gunicorn exited while starting:\n{self.log_tail()}")
            try:
                status, _ = Client(self.address, timeout=2).request("GET", "/readyz")
                if status == 200:
                    return self
            except OSError:
                pass
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"gunicorn was not ready within {ready_within} s:\n{self.log_tail()}")
            time.sleep(0.1)

    def _signal_group(self, signum: int) -> None:
        try:
            os.killpg(self.process.pid, signum)  # start_new_session: the group id is the master's pid
        except ProcessLookupError:
            pass

    def kill(self) -> None:
        """SIGKILL the master and every worker at once: a crash, no shutdown of any kind."""
        if self.process is None:
            return
        self._signal_group(signal.SIGKILL)
        self.process.wait(timeout=30)
        self.process = None

    def stop(self) -> None:
        """Stop gracefully (SIGTERM), or kill after 20 s."""
        if self.process is None:
            return
        self._signal_group(signal.SIGTERM)
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self._signal_group(signal.SIGKILL)
            self.process.wait(timeout=30)
        # workers may outlive a master that was killed: make sure none of the group is left
        self._signal_group(signal.SIGKILL)
        self.process = None

    def log_tail(self, lines: int = 60) -> str:
        try:
            return "\n".join(self.log_path.read_text("utf-8", "replace").splitlines()[-lines:])
        except FileNotFoundError:
            return "(no log)"

    def __enter__(self) -> "Server":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


class Client:
    """One keep-alive connection; JSON in and out. Not thread-safe: one per thread."""

    def __init__(self, address: tuple[str, int], key: str | None = None, timeout: float = 60,
                 resend_on_idle_close: bool = True):
        self.address, self.key, self.timeout = address, key, timeout
        self.resend_on_idle_close = resend_on_idle_close
        self.connection: http.client.HTTPConnection | None = None

    def request(self, method: str, path: str, body=None, headers: dict | None = None):
        """``(status, parsed JSON body or None)``; raises OSError/HTTPException when no answer came."""
        sent = {"Accept": "application/json"}
        if self.key:
            sent["Authorization"] = f"Bearer {self.key}"
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            sent["Content-Type"] = "application/json"
        sent.update(headers or {})
        for attempt in (1, 2):
            reused = self.connection is not None
            if self.connection is None:
                self.connection = http.client.HTTPConnection(*self.address, timeout=self.timeout)
            try:
                self.connection.request(method, path, body=data, headers=sent)
                response = self.connection.getresponse()
                raw = response.read()
                break
            except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError):
                self.close()
                # a kept-alive connection the server had closed while idle: the request never reached it
                if not (reused and self.resend_on_idle_close and attempt == 1):
                    raise
            except (OSError, http.client.HTTPException):
                self.close()
                raise
        if response.getheader("Connection", "").lower() == "close":
            self.close()
        try:
            return response.status, json.loads(raw) if raw else None
        except ValueError:
            return response.status, raw.decode("utf-8", "replace")

    def close(self) -> None:
        if self.connection is not None:
            self.connection.close()
            self.connection = None


@dataclass
class Served:
    keys: dict[str, str]
    server: Server
    engine: sa.Engine


@contextmanager
def served(backend: str, tmp_path: Path):
    """A prepared database, a started server and an engine on the database; the server's log on failure."""
    with database(backend, tmp_path) as url:
        keys = prepare(url)
        server = Server(url, tmp_path / "gunicorn.log")
        engine = make_engine(url)
        try:
            server.start()
            yield Served(keys, server, engine)
        except BaseException:
            print(server.log_tail())
            raise
        finally:
            server.stop()
            engine.dispose()
