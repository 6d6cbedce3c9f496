"""How gunicorn listens: on TCP a socket per worker, so that kept-alive connections spread over the processes;
a Unix socket stays one socket that every worker accepts from."""
import http.client
import os
import socket
import subprocess
import sys
import time

import pytest

from conftest import BACKENDS
from servers import ROOT, database, environment, prepare, served

LISTEN = "0A"  # /proc/net/tcp's state of a listening socket
ACCEPTING = 0x10000  # /proc/net/unix's flag of a listening socket


def tcp_listeners(port: int) -> int:
    with open("/proc/net/tcp") as table:
        rows = [line.split() for line in table.readlines()[1:]]
    return sum(1 for row in rows if int(row[1].split(":")[1], 16) == port and row[3] == LISTEN)


def unix_listeners(path: str) -> int:
    with open("/proc/net/unix") as table:
        rows = [line.split() for line in table.readlines()[1:]]
    return sum(1 for row in rows if len(row) == 8 and row[7] == path and int(row[3], 16) & ACCEPTING)


@pytest.mark.parametrize("backend", BACKENDS)
def test_each_worker_listens_on_a_tcp_socket_of_its_own(backend, tmp_path):
    with served(backend, tmp_path) as run:
        assert tcp_listeners(run.server.port) == run.server.workers == 2


class UnixHTTPConnection(http.client.HTTPConnection):
    def __init__(self, path: str):
        super().__init__("localhost", timeout=30)
        self.path = path

    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.connect(self.path)


def ready(path: str) -> bool:
    connection = UnixHTTPConnection(path)
    try:
        connection.request("GET", "/readyz")
        return connection.getresponse().status == 200
    except OSError:
        return False
    finally:
        connection.close()


@pytest.mark.parametrize("backend", BACKENDS)
def test_on_a_unix_socket_the_workers_share_one_listening_socket(backend, tmp_path):
    path = str(tmp_path / "benefits.sock")
    with database(backend, tmp_path) as url:
        prepare(url)
        server = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "--config", "python:benefits.gunicorn", "--workers", "2",
             "--bind", f"unix:{path}", "--no-control-socket", "wsgi:app"],
            cwd=ROOT, env=environment(url), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            start_new_session=True)
        try:
            deadline = time.monotonic() + 60
            while not ready(path):
                assert server.poll() is None and time.monotonic() < deadline, "gunicorn did not start"
                time.sleep(0.1)
            time.sleep(1)  # both workers booted
            assert unix_listeners(path) == 1
            assert all(ready(path) for _ in range(8))
        finally:
            os.killpg(server.pid, 15)
            server.wait(timeout=30)
