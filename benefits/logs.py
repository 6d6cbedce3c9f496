"""Structured logs: one JSON object a line on stderr, with the request's id on every line of a request.

Request lines name the route template (``/partner/v1/passes/<code>``), never the
path sent, so no pass code and no customer id reaches a log; keys appear as
their id and name, never the key.
"""
import logging
import sys
from datetime import datetime, timezone

from . import jsontext

STANDARD = set(vars(logging.makeLogRecord({}))) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line = {"time": datetime.fromtimestamp(record.created, timezone.utc).isoformat(timespec="milliseconds"),
                "level": record.levelname.lower(), "logger": record.name, "pid": record.process,
                "message": record.getMessage()}
        line |= {name: value for name, value in vars(record).items() if name not in STANDARD}
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return jsontext.dumps(line, default=str)


def configure(level: str = "INFO") -> None:
    """JSON lines on stderr for the service's loggers and gunicorn's."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for name in ("gunicorn.error", "gunicorn.access"):
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True
