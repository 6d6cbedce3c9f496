"""gunicorn settings for the service: ``gunicorn -c python:benefits.gunicorn benefits.server:app``.

The workers share one directory of metric samples (``PROMETHEUS_MULTIPROC_DIR``,
made empty when gunicorn starts), so that ``/metrics`` adds up every worker's
counts, and a worker's samples are marked dead when it exits.
"""
import os
import shutil
import tempfile

worker_class = "gthread"
threads = 4
accesslog = None  # the service logs every request itself, by its route template (never a pass code)


def on_starting(server):
    directory = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if directory:
        shutil.rmtree(directory, ignore_errors=True)
        os.makedirs(directory)
    else:
        directory = tempfile.mkdtemp(prefix="benefits-metrics-")
        server.made_metrics_directory = directory  # removed again on_exit
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = directory


def on_exit(server):
    directory = getattr(server, "made_metrics_directory", None)
    if directory:
        shutil.rmtree(directory, ignore_errors=True)


def child_exit(server, worker):
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)
