"""The WSGI application gunicorn serves (``benefits.server:app``), with JSON logs on stderr."""
import os

from . import create_app, logs

logs.configure(os.environ.get("BENEFITS_LOG_LEVEL", "INFO"))
app = create_app()
