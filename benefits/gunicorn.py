"""gunicorn settings for the service: ``gunicorn -c python:benefits.gunicorn benefits.server:app``.

The workers share one directory of metric samples (``PROMETHEUS_MULTIPROC_DIR``,
made empty when gunicorn starts), so that ``/metrics`` adds up every worker's
counts, and a worker's samples are marked dead when it exits.

On TCP addresses each worker listens on a socket of its own (``SO_REUSEPORT``),
and the kernel spreads new connections over them. On one shared socket the
worker that wakes first accepts most of a burst of connections: a client that
keeps a few connections alive (a load balancer's pool) then sends all its
requests to one process while another core idles, and the rate halves. A Unix
socket or sockets handed over by systemd stay shared, as gunicorn makes them.
"""
import gc
import os
import shutil
import tempfile

worker_class = "gthread"
threads = 4
accesslog = None  # the service logs every request itself, by its route template (never a pass code)


def on_starting(server):
    spread_connections(server.cfg)
    directory = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if directory:
        shutil.rmtree(directory, ignore_errors=True)
        os.makedirs(directory)
    else:
        directory = tempfile.mkdtemp(prefix="benefits-metrics-")
        server.made_metrics_directory = directory  # removed again on_exit
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = directory


def spread_connections(cfg) -> None:
    """A listening socket a worker when every address is TCP and gunicorn makes the sockets itself."""
    tcp = all(not address.startswith(("unix:", "fd://")) for address in cfg.bind)
    if tcp and not os.environ.get("LISTEN_FDS"):
        cfg.set("reuse_port", True)


def post_worker_init(worker):
    """The worker has loaded the app: what start-up allocated (modules, compiled statements, the rules) is
    frozen, left out of the garbage collector's passes. A full pass over it took 180 to 220 ms on a 2-core
    machine, a pause for the requests under way. A bulk command's chunks (``benefits events import``,
    ``benefits consume``, which freeze it too) made such passes often: the import of 20,000 events took 12%
    longer on SQLite and 5% on PostgreSQL without the freeze (the medians of three alternating pairs)."""
    gc.freeze()


def on_exit(server):
    directory = getattr(server, "made_metrics_directory", None)
    if directory:
        shutil.rmtree(directory, ignore_errors=True)


def child_exit(server, worker):
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)
