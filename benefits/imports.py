"""Importing events from a file: CSV with a header row, or JSON lines, one event a line.

Each line is the body of ``POST /api/v1/events``, validated by the same schema
as the API, and recorded by the same service as ``POST /api/v1/events/batch``
(``events.record_batch``): idempotent by the event's id, one transaction per
chunk, each chunk's events taken in customer order so that imports and batch
requests running side by side lock customers in the same order. A line that is
not valid, names an unknown customer or reuses an event id with another body is
rejected with its line number and reason; the others go on.

In a CSV file an empty cell is an absent field; a header naming a column the
event body does not have, or lacking a required one, refuses the whole file
before anything is recorded.
"""
import codecs
import csv
import io
import json
import re
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Callable, Iterable, Iterator

from marshmallow import ValidationError

from . import db
from .errors import Invalid
from .schemas import flatten, parse_json
from .schemas.events import EventIn
from .services import audit, events
from .services.events import ReportedEvent

CHUNK = 1000
FORMATS = ("csv", "jsonl")
JSONL_SUFFIXES = (".jsonl", ".ndjson", ".json")
MAX_LINE = 64 * 1024  # bytes: far beyond any valid event, small enough to refuse junk early


class ImportRefused(Exception):
    """The file as a whole cannot be imported (nothing of it was recorded)."""


@dataclass
class Line:
    """One line of the file: its number (1-based, header included), its text, and the event or why not."""

    number: int
    text: str
    event: ReportedEvent | None = None
    reason: str | None = None
    message: str | None = None
    errors: list = field(default_factory=list)


@dataclass
class Summary:
    created: int = 0
    duplicate: int = 0
    rejected: int = 0
    rejected_lines: list = field(default_factory=list)  # kept only when no writer takes them

    def line(self) -> str:
        return f"created {self.created}, duplicate {self.duplicate}, rejected {self.rejected}"


# ---------------------------------------------------------------- reading


def detect_format(path: Path, head: bytes) -> str:
    """``csv`` or ``jsonl``: by the file's extension, else by its first non-blank character."""
    suffix = path.suffix.lower()
    if suffix == ".csv":
        return "csv"
    if suffix in JSONL_SUFFIXES:
        return "jsonl"
    text = head.decode("utf-8", errors="replace").lstrip("\ufeff \t\r\n")
    return "jsonl" if text.startswith("{") else "csv"


class _Progress:
    """Counts the bytes read, for a progress bar."""

    def __init__(self, stream, on_progress: Callable[[int], None] | None):
        self.stream, self.on_progress = stream, on_progress

    def __iter__(self) -> Iterator[bytes]:
        for raw in self.stream:
            if self.on_progress:
                self.on_progress(len(raw))
            yield raw


def _decoded(raw_lines: Iterable[bytes]) -> Iterator[str]:
    """Text lines; bytes that are not UTF-8 stay as surrogates so the line can be refused on its own."""
    first = True
    for raw in raw_lines:
        yield decoded(raw) if first else raw.decode("utf-8", errors="surrogateescape")
        first = False


_UNDECODED = re.compile("[\udc80-\udcff]")  # the surrogates that stand for bytes that are not UTF-8


def _bad_text(text: str) -> bool:
    return _UNDECODED.search(text) is not None


def _invalid_encoding(number: int, text: str) -> Line:
    return Line(number, text.encode("utf-8", "surrogateescape").decode("utf-8", "replace"),
                reason="invalid", message="the line is not valid UTF-8")


def _too_long(number: int, text: str) -> Line:
    return Line(number, text[:200] + "…", reason="invalid", message=f"the line is longer than {MAX_LINE} bytes")


def read_jsonl(raw_lines: Iterable[bytes]) -> Iterator[Line]:
    schema = EventIn()
    for number, text in enumerate(_decoded(raw_lines), start=1):
        text = text.rstrip("\r\n")
        if text.strip():
            yield json_line(number, text, schema)


def json_line(number: int, text: str, schema: EventIn | None = None) -> Line:
    """One event written as a JSON object (a line of a file, a message of the broker), validated."""
    if _bad_text(text):
        return _invalid_encoding(number, text)
    if len(text) > MAX_LINE:
        return _too_long(number, text)
    try:
        raw = parse_json(text)
    except Invalid as error:
        return _refused(number, text, error.errors)
    except ValueError as error:
        return Line(number, text, reason="invalid", message=f"not valid JSON: {error}")
    if not isinstance(raw, dict):
        return Line(number, text, reason="invalid", message="not a JSON object (one event per line)")
    return _validated(schema or EventIn(), number, text, raw)


def decoded(raw: bytes) -> str:
    """Bytes as text; what is not UTF-8 stays as surrogates, so that ``json_line`` refuses it alone."""
    return raw.removeprefix(codecs.BOM_UTF8).decode("utf-8", errors="surrogateescape")


def csv_header(header: list[str]) -> list[str]:
    """The header's column names, checked against the event body's fields."""
    schema = EventIn()
    names = [name.strip() for name in header]
    known = set(schema.fields)
    problems = []
    unknown = [name for name in names if name not in known]
    if unknown:
        problems.append(f"unknown column(s) {', '.join(repr(n) for n in unknown)} "
                        f"(the columns are the event's fields: {', '.join(schema.fields)})")
    duplicated = sorted({name for name in names if names.count(name) > 1})
    if duplicated:
        problems.append(f"column(s) named twice: {', '.join(duplicated)}")
    required = [name for name, f in schema.fields.items() if f.required and name not in names]
    if required:
        problems.append(f"required column(s) missing: {', '.join(required)}")
    if problems:
        raise ImportRefused("the CSV header row is not usable: " + "; ".join(problems))
    return names


def read_csv(raw_lines: Iterable[bytes]) -> Iterator[Line]:
    """The CSV file's lines; its header row is read and checked at once (``ImportRefused``)."""
    schema = EventIn()
    reader = csv.reader(_decoded(raw_lines), strict=True)
    try:
        header = next(reader)
    except StopIteration:
        return iter(())
    except csv.Error as error:
        raise ImportRefused(f"the CSV header row is not usable: {error}") from None
    if any(_bad_text(name) for name in header):
        raise ImportRefused("the CSV header row is not valid UTF-8")
    names = csv_header(header)

    def rows() -> Iterator[Line]:
        ended = reader.line_num
        while True:
            number = ended + 1
            try:
                cells = next(reader)
            except StopIteration:
                return
            except csv.Error as error:
                ended = reader.line_num
                yield Line(number, "", reason="invalid", message=f"not valid CSV: {error}")
                continue
            ended = reader.line_num
            if not cells or (len(cells) == 1 and not cells[0].strip()):
                continue
            text = _csv_text(cells)
            if any(_bad_text(cell) for cell in cells):
                yield _invalid_encoding(number, text)
                continue
            if len(text) > MAX_LINE:
                yield _too_long(number, text)
                continue
            if len(cells) != len(names):
                yield Line(number, text, reason="invalid",
                           message=f"the line has {len(cells)} cells, the header {len(names)}")
                continue
            raw = {name: cell for name, cell in zip(names, cells) if cell != ""}
            yield _validated(schema, number, text, raw)

    return rows()


def _csv_text(cells: list[str]) -> str:
    out = io.StringIO()
    csv.writer(out, lineterminator="").writerow(cells)
    return out.getvalue()


def _validated(schema, number: int, text: str, raw: dict) -> Line:
    try:
        return Line(number, text, event=schema.load(raw))
    except ValidationError as error:
        return _refused(number, text, flatten(error.messages))


def in_line(errors: list[dict]) -> list[dict]:
    """Errors with paths as a line names them: ``amount``, not the API's ``json.amount``."""
    return [{**error, "path": error["path"].removeprefix("json.")} for error in errors]


def _refused(number: int, text: str, errors: list[dict], reason: str = "invalid") -> Line:
    errors = in_line(errors)
    return Line(number, text, reason=reason, message="; ".join(f"{e['path']}: {e['message']}" for e in errors[:5]),
                errors=errors)


def read(path: Path, fmt: str = "auto", on_progress: Callable[[int], None] | None = None) -> tuple[str, Iterator[Line]]:
    """The file's format and its lines, read as they are consumed (a CSV header is checked at once)."""
    if fmt not in ("auto", *FORMATS):
        raise ImportRefused(f"unknown format {fmt!r}: use csv or jsonl")
    stream = open(path, "rb")
    try:
        if fmt == "auto":
            fmt = detect_format(path, stream.read(4096))
            stream.seek(0)
        raw_lines = _Progress(stream, on_progress)
        lines = read_csv(raw_lines) if fmt == "csv" else read_jsonl(raw_lines)
    except BaseException:
        stream.close()
        raise

    def closing() -> Iterator[Line]:
        with stream:
            yield from lines

    return fmt, closing()


# ---------------------------------------------------------------- rejected lines


class RejectedWriter:
    """Rejected lines with their line number and reason, in the input's own format.

    CSV: the columns ``line,reason,message`` and then the original line's cells
    (the line itself as one cell: a spreadsheet shows it, a person fixes it);
    JSON lines: ``{"line", "reason", "message", "errors", "text"}`` a line.
    """

    def __init__(self, path: Path, fmt: str):
        self.fmt = fmt
        self.file = open(path, "w", encoding="utf-8", newline="")
        if fmt == "csv":
            self.csv = csv.writer(self.file)
            self.csv.writerow(["line", "reason", "message", "text"])

    def write(self, line: Line) -> None:
        if self.fmt == "csv":
            self.csv.writerow([line.number, line.reason, line.message, line.text])
        else:
            self.file.write(json.dumps({"line": line.number, "reason": line.reason, "message": line.message,
                                        "errors": line.errors, "text": line.text}, ensure_ascii=False) + "\n")

    def close(self) -> None:
        self.file.close()


# ---------------------------------------------------------------- recording


def import_actor() -> audit.Actor:
    """``system``, with a request id shared by every audit row of this import."""
    return audit.Actor.system(request_id=f"import-{uuid.uuid4().hex[:16]}")


def record_chunk(sessions, programs, chunk: list[ReportedEvent], *, actor: audit.Actor,
                 now: datetime) -> list[dict]:
    """One unit of work: ``events.record_many`` under the active version; run again when it lost a race
    (an event of the chunk committed meanwhile by another writer: the retry answers it as a duplicate)."""
    def work(session):
        with programs.active(session) as program:
            return [outcome.result() for outcome in events.record_many(session, program, chunk, actor=actor,
                                                                         now=now)]

    return db.run(sessions, work)


def run(lines: Iterable[Line], *, sessions, programs, clock: Callable[[], datetime],
        rejected: RejectedWriter | None = None, chunk: int = CHUNK, actor: audit.Actor | None = None,
        summary: Summary | None = None) -> Summary:
    """Record the lines' events in chunks of ``chunk`` valid events; returns the counts.

    ``summary``, when given, is filled as chunks commit: after a failure it
    tells what was recorded before it.
    """
    actor = actor or import_actor()
    summary = summary if summary is not None else Summary()

    def reject(line: Line) -> None:
        summary.rejected += 1
        if rejected is not None:
            rejected.write(line)
        else:
            summary.rejected_lines.append(line)

    def flush(pending: list[Line], refused: list[Line]) -> None:
        results = record_chunk(sessions, programs, [line.event for line in pending], actor=actor,
                               now=clock()) if pending else []
        for line, result in zip(pending, results):
            if result["status"] == "created":
                summary.created += 1
            elif result["status"] == "duplicate":
                summary.duplicate += 1
            else:
                error = result["error"]
                refusal = _refused(line.number, line.text, error["errors"], error["reason"])
                refused.append(refusal if refusal.errors else Line(line.number, line.text, reason=error["reason"],
                                                                   message=error["message"]))
        for line in sorted(refused, key=lambda item: item.number):
            reject(line)

    pending: list[Line] = []
    refused: list[Line] = []
    for line in lines:
        if line.event is None:
            refused.append(line)
        else:
            pending.append(line)
        if len(pending) >= chunk:
            flush(pending, refused)
            pending, refused = [], []
    flush(pending, refused)
    return summary

