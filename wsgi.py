"""The WSGI entry point: ``gunicorn -c python:benefits.gunicorn wsgi:app`` (or ``benefits.server:app``)."""
from benefits.server import app  # noqa: F401
