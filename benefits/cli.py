"""The `benefits` command line.

Each command is one or more units of work (``benefits.db.run``) calling the
same services as the API. A refusal or a configuration problem is one line on
stderr and an exit code (``EXIT_CODES``), never a traceback; every command but
``db upgrade`` refuses a database that lacks the schema rather than create one.
"""
import gc
import json
import os
import sys
from datetime import timedelta
from functools import wraps
from pathlib import Path

import click
from flask import current_app
from flask.cli import with_appcontext
from sqlalchemy.exc import OperationalError

from . import db, migrate
from .config import ConfigurationError
from .errors import DomainError
from .extension import Extension
from .models import Role, SourceType
from .services import audit, customers, keys, ledger, outbox, partners, redemptions, reports, rule_versions, webhooks
from .services.profiles import local_today

EXIT_REFUSED = 1  # the service refused: an unknown key or version, an invalid document, rejected lines
EXIT_UNUSABLE = 2  # usage or configuration: bad arguments, settings, no database or no schema
EXIT_BROKEN = 3  # the audit chain does not verify
EXIT_CODES = {0: "done", EXIT_REFUSED: "refused", EXIT_UNUSABLE: "usage or configuration",
              EXIT_BROKEN: "audit chain broken"}
SETTINGS = {"help_option_names": ["-h", "--help"], "max_content_width": 110}


class Refused(click.ClickException):
    exit_code = EXIT_REFUSED


class Unusable(click.ClickException):
    exit_code = EXIT_UNUSABLE


class Command(click.Command):
    """A command whose refusals and configuration problems end it with one line and their exit code."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except DomainError as error:
            raise Refused(error.message) from None
        except ConfigurationError as error:
            raise Unusable(str(error)) from None
        except OperationalError as error:
            raise Unusable(f"the database cannot be used: {str(error.orig).strip().splitlines()[0]}") from None


class Group(click.Group):
    command_class = Command

    def __init__(self, name=None, summary: str | None = None, **kwargs):
        super().__init__(name, **({"short_help": summary, "help": summary} if summary else {}), **kwargs)


def _extension() -> Extension:
    return current_app.extensions["benefits"]


def _run(work, *, write: bool = True):
    """``work(session)`` in one unit of work on the app's database."""
    return db.run(_extension().sessions, work, write=write)


def needs_schema(command):
    """Refuse to run on a database without the current schema (and never create an empty SQLite file)."""
    @wraps(command)
    def checked(*args, **kwargs):
        problem = migrate.schema_problem(current_app.config["DATABASE_URL"])
        if problem:
            raise Unusable(problem)
        return command(*args, **kwargs)
    return checked


def app_command(group: click.Group, name: str, summary: str, *, schema: bool = True):
    """A command of ``group`` run in the app's context, with the one-line ``summary`` of ``--help``."""
    def decorate(function):
        function = needs_schema(function) if schema else function
        return group.command(name, short_help=summary)(with_appcontext(function))
    return decorate


db_group = Group("db", "The database schema.")


@app_command(db_group, "upgrade", "Create or migrate every table to the newest schema.", schema=False)
def db_upgrade():
    """Create or migrate every table to the newest schema (safe to repeat)."""
    migrate.upgrade(current_app.config["DATABASE_URL"])
    click.echo("database is up to date")


rules_group = Group("rules", "Rule versions: bootstrap, export, the active one.")


@app_command(rules_group, "load", "Load a rule document as a new version (bootstrap).")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path), required=False)
@click.option("--activate", is_flag=True, help="Approve and activate it (only while no version is active).")
def rules_load(path: Path | None, activate: bool):
    """Load a rule document as a new version, audited as system (PATH: default, the bank's programme)."""
    source = path.read_bytes() if path else rule_versions.DEFAULT_PROGRAMME.read_bytes()
    media_type = SourceType.JSON if path and path.suffix.lower() == ".json" else SourceType.YAML
    version = _run(lambda s: rule_versions.bootstrap(s, source, media_type, activate_it=activate,
                                                     now=_extension().now()))
    click.echo(f"rule version {version.id} loaded ({version.status})")


@app_command(rules_group, "export", "Print a version's document as it was uploaded.")
@click.argument("version", type=int)
def rules_export(version: int):
    """Print a version's document as it was uploaded, byte for byte."""
    click.echo(_run(lambda s: rule_versions.get(s, version).source, write=False), nl=False)


@app_command(rules_group, "active", "Print the active version's number, or nothing.")
def rules_active():
    """Print the active version's number, or nothing while no version is active."""
    active = _run(rule_versions.active_id, write=False)
    if active is not None:
        click.echo(active)


keys_group = Group("keys", "API keys: create, list, revoke.")


@app_command(keys_group, "create", "Create a key; the key alone is on the last line.")
@click.option("--role", type=click.Choice([role.value for role in Role]), required=True)
@click.option("--name", required=True)
@click.option("--partner", "partner_id", default=None, help="The partner a partner key belongs to.")
def keys_create(role: str, name: str, partner_id: str | None):
    """Create a key; the key itself is printed alone on the last line (it is shown only now)."""
    key, plaintext = _run(lambda s: keys.create_key(s, role=Role(role), name=name, partner_id=partner_id,
                                                    actor=audit.SYSTEM, now=_extension().now()))
    click.echo(f"created {role} key {key.id} ({name}); it is shown only now:")
    click.echo(plaintext)


@app_command(keys_group, "list", "Every key: id, role, name, partner, created, last used, revoked.")
def keys_list():
    """Every key, newest first: id, role, name, partner, created, last used, revoked (never the key)."""
    rows = [("id", "role", "name", "partner", "created", "last_used", "revoked")]
    for key in _run(lambda s: keys.listing(s, limit=None, before=None), write=False):
        rows.append((str(key.id), key.role, key.name, key.partner_id or "-", _moment(key.created_at),
                     _moment(key.last_used_at), _moment(key.revoked_at)))
    widths = [max(len(row[column]) for row in rows) for column in range(len(rows[0]))]
    for row in rows:
        click.echo("  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip())


def _moment(value) -> str:
    return value.isoformat(timespec="seconds") if value else "-"


@app_command(keys_group, "revoke", "Revoke a key: refused (401) from its next request on.")
@click.argument("key_id", type=int)
def keys_revoke(key_id: int):
    """Revoke a key: it is refused (401) from the next request on, on every process (audited)."""
    key = _run(lambda s: keys.revoke(s, key_id, actor=audit.SYSTEM, now=_extension().now()))
    click.echo(f"revoked key {key.id} ({key.name})")


audit_group = Group("audit", "The audit trail: verify the chain, export its tip.")


@app_command(audit_group, "verify", "Walk the hash chain; exit 3 if it is broken.")
@click.option("--tip", "tip_file", type=click.File("r"), default=None,
              help="A tip saved by `audit export-tip`: the chain must still extend it.")
def audit_verify(tip_file):
    """Walk the hash chain, every row and link; exit 3 if a row was changed or removed.

    With --tip, the chain must also still hold the row of a tip saved earlier,
    with the same hash: a rewrite of the chain from before that row is detected
    even if it was made consistent.
    """
    result = _run(audit.verify, write=False)
    click.echo(f"ok={result['ok']} checked={result['checked']} first_bad={result['first_bad']}")
    if result["ok"] and tip_file is not None:
        saved = _read_tip(tip_file)
        held = _run(lambda s: audit.extends(s, saved["seq"], saved["hash"]), write=False)
        click.echo(f"tip seq={saved['seq']} {'held' if held else 'NOT held'}")
        result["ok"] = held
    sys.exit(0 if result["ok"] else EXIT_BROKEN)


def _read_tip(tip_file) -> dict:
    try:
        saved = json.load(tip_file)
        return {"seq": int(saved["seq"]), "hash": str(saved["hash"])}
    except (ValueError, KeyError, TypeError):
        raise Unusable(f"{tip_file.name} is not a tip written by `benefits audit export-tip`") from None


@app_command(audit_group, "export-tip", "Print the chain's tip as JSON, for write-once storage.")
def audit_export_tip():
    """Print the chain's tip (seq, hash, time) as one line of JSON, to keep where nobody can rewrite it."""
    click.echo(json.dumps(_run(audit.tip, write=False)))


points_group = Group("points", "Points: expire lots past their date, announce those about to.")


@app_command(points_group, "expire", "Expire every lot past its expiry (daily, for cron).")
def points_expire():
    """Write expire entries for every lot past its expiry (daily, for cron)."""
    total_points = total_customers = 0
    now = _extension().now()
    while True:
        points, expired_customers = _run(lambda s: ledger.expire_some(s, now))
        if not expired_customers:
            break
        total_points += points
        total_customers += expired_customers
    click.echo(f"expired {total_points} points of {total_customers} customers")


@app_command(points_group, "notify-expiring", "Announce lots about to expire, once each (daily, for cron).")
def points_notify_expiring():
    """Write a points.expiring message for every lot with unspent points that expires within the active
    programme's points.expiry_notice_days (default 30), once a lot (daily, for cron)."""
    total = 0
    while count := _with_program(outbox.notify_expiring):
        total += count
    click.echo(f"announced {total} lots")


outbox_group = Group("outbox", "Messages out: deliver them to the webhooks, prune them.")


@app_command(outbox_group, "run", "Deliver outbox messages to the webhook endpoints (run it beside the API).")
@click.option("--once", is_flag=True, help="Deliver what is due now, then exit (retries wait for the next run).")
@click.option("--concurrency", type=click.IntRange(1, 64), default=8, show_default=True,
              help="HTTP calls at a time, each to another stream.")
@click.option("--poll", type=click.FloatRange(0.01, 60), default=0.1, show_default=True,
              help="Seconds between looks for due messages when there are none.")
def outbox_run(once: bool, concurrency: int, poll: float):
    """Deliver the outbox to the webhook endpoints, signed (Standard Webhooks), with retries; several workers
    may run at once. Stops cleanly on SIGTERM or Ctrl-C. Exits 0 whatever the deliveries' outcomes."""
    import signal

    from . import delivery, logs

    extension = _extension()
    if not extension.config.TESTING:
        logs.configure(os.environ.get("BENEFITS_LOG_LEVEL", "INFO"))  # one JSON line per attempt, on stderr
    worker = delivery.Worker(extension.sessions, extension.encryption,
                             delivery.Settings.of(extension.config, concurrency=concurrency, poll=poll),
                             extension.now)
    if not once:
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, lambda *_: worker.stop.set())
        click.echo(f"delivering (concurrency {concurrency}); SIGTERM or Ctrl-C stops", err=True)
    counts = worker.run(once=once)
    click.echo(", ".join(f"{outcome} {counts[outcome]}" for outcome in ("delivered", "retrying", "failed", "lost",
                                                                         "pruned")))


@app_command(outbox_group, "prune", "Delete delivered messages older than the retention period.")
def outbox_prune():
    """Delete the messages older than BENEFITS_OUTBOX_RETENTION_DAYS that every active endpoint has received
    (or skipped); the worker does it too, every ten minutes."""
    extension, total, now = _extension(), 0, _extension().now()
    retention = timedelta(days=extension.config.OUTBOX_RETENTION_DAYS)
    while count := _run(lambda s: outbox.prune(s, now, retention)):
        total += count
    click.echo(f"pruned {total} messages")


@app_command(outbox_group, "reencrypt", "Encrypt every webhook secret again with the first encryption key.")
def outbox_reencrypt():
    """Encrypt every stored webhook secret again with the first key of BENEFITS_ENCRYPTION_KEYS: after it, the
    other keys can be removed from the setting."""
    count = _run(lambda s: webhooks.reencrypt(s, _extension().encryption))
    click.echo(f"re-encrypted the secrets of {count} webhooks")


@app_command(outbox_group, "new-key", "Print a new key for BENEFITS_ENCRYPTION_KEYS.", schema=False)
def outbox_new_key():
    """Print a new Fernet key (the URL-safe base64 of 32 random bytes) for BENEFITS_ENCRYPTION_KEYS."""
    from .encryption import new_key

    click.echo(new_key())


redemptions_group = Group("redemptions", "Partner redemptions: lapse expired holds.")


@app_command(redemptions_group, "lapse", "Lapse every hold past its expiry (every minute, for cron).")
def redemptions_lapse():
    """Write the lapsed state of every hold past its expiry (for cron; the quota returned already)."""
    total, now = 0, _extension().now()
    while count := _run(lambda s: redemptions.lapse_due(s, now)):
        total += count
    click.echo(f"lapsed {total} holds")


events_group = Group("events", "Transactions and learning activity: import a file.")


@app_command(events_group, "import", "Record events from a CSV or JSON lines file; exit 1 if lines were rejected.")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, readable=True, path_type=Path))
@click.option("--format", "fmt", type=click.Choice(["auto", "csv", "jsonl"]), default="auto", show_default=True,
              help="auto: by the extension (.csv; .jsonl, .ndjson, .json), else by the first character.")
@click.option("--rejected", "rejected_path", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Where rejected lines are written, each with its line number and reason [default: FILE.rejected].")
@click.option("--chunk-size", type=click.IntRange(1, 1000), default=1000, show_default=True,
              help="Events per transaction.")
def events_import(file: Path, fmt: str, rejected_path: Path | None, chunk_size: int):
    """Record events from FILE: CSV with a header row, or JSON lines; one POST /api/v1/events body a line.

    CSV columns (a header row names them, in any order): id, customer_id, type,
    occurred_at (required), amount, currency, category, channel, activity,
    course_id; an empty cell is an absent field. Idempotent by event id (a
    re-import counts duplicates); prints `created N, duplicate N, rejected N`
    and exits 1 when any line was rejected.
    """
    from . import imports

    rejected_path = rejected_path or file.with_name(file.name + ".rejected")
    if rejected_path.resolve() == file.resolve():
        raise click.UsageError("--rejected must name another file than FILE")
    extension = _extension()
    summary = imports.Summary()
    try:
        with click.progressbar(length=file.stat().st_size, label=f"importing {file.name}", file=sys.stderr) as bar:
            fmt, lines = imports.read(file, fmt, on_progress=bar.update)
            writer = imports.RejectedWriter(rejected_path, fmt)
            try:
                imports.run(lines, sessions=extension.sessions, programs=extension.programs, clock=extension.now,
                            rejected=writer, chunk=chunk_size, summary=summary)
            finally:
                writer.close()
    except imports.ImportRefused as error:
        raise Refused(str(error)) from None
    except (DomainError, OperationalError, OSError) as error:
        message = error.message if isinstance(error, DomainError) else str(error).splitlines()[0]
        raise Refused(f"import stopped ({summary.line()} before it): {message}") from None
    click.echo(summary.line())
    if summary.rejected:
        click.echo(f"rejected lines are in {rejected_path}", err=True)
        sys.exit(EXIT_REFUSED)


customers_group = Group("customers", "Customers: re-evaluate them under the active version.")


@app_command(customers_group, "reevaluate", "Re-evaluate customers last evaluated under another version.")
def customers_reevaluate():
    """Re-evaluate every customer last evaluated under another rule version than the active one (after an
    activation, and once after an upgrade): tiers, signals and the benefit grants the reports count."""
    total, after = 0, ""
    while done := _with_program(lambda s, program, now: customers.reevaluate_some(s, program, now, after=after)):
        total, after = total + len(done), done[-1]
    click.echo(f"re-evaluated {total} customers")


def _with_program(work, *, write: bool = True):
    """``work(session, program, now)`` in one unit of work, under the active version."""
    extension = _extension()

    def run(session):
        with extension.programs.active(session) as program:
            return work(session, program, extension.now())

    return _run(run, write=write)


reports_group = Group("reports", "Finance reports, as JSON or CSV (month-end jobs).")
FORMAT = click.option("--format", "fmt", type=click.Choice(["json", "csv"]), default="json", show_default=True)
PART = click.option("--part", default=None, help="With --format csv: the part of the report (its first by default).")
MONTH = click.DateTime(formats=["%Y-%m"])
DAY = click.DateTime(formats=["%Y-%m-%d"])


def _report(name: str, work, fmt: str, part: str | None) -> None:
    """Run a report in a reading unit and print it: JSON, or one part of it as CSV."""
    answer = _with_program(work, write=False)
    if fmt == "csv":
        try:
            click.echo(reports.csv_text(reports.table(name, answer, part)), nl=False)
        except DomainError as error:
            raise Unusable(f"--part: {error.errors[0]['message']}") from None
    else:
        click.echo(json.dumps(answer, default=_plain, ensure_ascii=False, indent=1))


def _plain(value):
    return value.isoformat() if hasattr(value, "isoformat") else str(value)


def _day(value):
    """A date given as an option (click gives a datetime), or None."""
    return value.date() if value else None


def _months(first, last, program, now) -> tuple:
    return reports.month_period(_day(first), _day(last), local_today(program, now))


def months(command):
    """The --from and --to months of a report over months."""
    command = click.option("--to", "last", type=MONTH, default=None, help="YYYY-MM [default: this month]")(command)
    return click.option("--from", "first", type=MONTH, default=None,
                        help="YYYY-MM [default: 11 months before --to]")(command)


@app_command(reports_group, "points", "The points roll-forward by month.")
@months
@FORMAT
@PART
def reports_points(first, last, fmt, part):
    """The points roll-forward by month: opening, earned, spent, expired, reversed, adjusted, closing."""
    _report("points", lambda s, program, now: reports.points(
        s, program, *_months(first, last, program, now)), fmt, part)


@app_command(reports_group, "liability", "Outstanding points, debts, IFRS 15 deferred revenue and its roll-forward.")
@click.option("--as-of", "as_of", type=DAY, default=None, help="YYYY-MM-DD [default: today]")
@FORMAT
@PART
def reports_liability(as_of, fmt, part):
    """Outstanding points at the end of a day by expiry month, debts, deferred revenue and its roll-forward."""
    _report("liability", lambda s, program, now: reports.liability(
        s, program, _day(as_of) or local_today(program, now), now=now), fmt, part)


@app_command(reports_group, "benefits", "Benefit utilisation, and customers entitled now.")
@months
@FORMAT
@PART
def reports_benefits(first, last, fmt, part):
    """Confirmed quantities by month, benefit, partner and tier; customers entitled and quota granted now."""
    _report("benefits", lambda s, program, now: reports.benefits(
        s, program, *_months(first, last, program, now)), fmt, part)


@app_command(reports_group, "statement", "A partner's statement of a month.")
@click.argument("partner_id")
@click.argument("month", type=MONTH)
@FORMAT
def reports_statement(partner_id, month, fmt):
    """A partner's statement of MONTH (YYYY-MM): its confirmed redemptions at their unit price."""
    secret = current_app.config["SECRET_KEY"]
    _report("statement", lambda s, program, now: reports.statement(
        s, program, partners.get(s, partner_id), month.date(), secret=secret), fmt, None)


@app_command(reports_group, "tiers", "The tier migration matrix and the signals raised by month.")
@click.option("--from", "first", type=DAY, default=None, help="YYYY-MM-DD [default: a year before --to]")
@click.option("--to", "last", type=DAY, default=None, help="YYYY-MM-DD [default: today]")
@FORMAT
@PART
def reports_tiers(first, last, fmt, part):
    """Customers by tier at the end of --from and of --to, and the signals raised and cleared between."""
    _report("tiers", lambda s, program, now: reports.tiers(
        s, program, *reports.day_period(_day(first), _day(last), local_today(program, now))), fmt, part)


@click.command("demo", cls=Command, short_help="Demo partners, customers and events; print fresh demo keys.")
@with_appcontext
@needs_schema
def demo_command():
    """Create the demo partners, customers and events that are missing, and print fresh demo keys as shell exports."""
    from . import demo

    created = _with_program(lambda session, program, now: demo.seed(session, program, now))
    click.echo("# demo keys (shown once; paste into your shell):")
    for variable, plaintext in created:
        click.echo(f"export {variable}={plaintext}")


@click.command("consume", cls=Command, short_help="Record events from RabbitMQ, acknowledged once committed.")
@click.option("--chunk-size", type=click.IntRange(1, 1000), default=1000, show_default=True,
              help="Messages per transaction (the prefetch is two chunks).")
@click.option("--exit-when-idle", type=click.FloatRange(min=0), default=None, metavar="SECONDS",
              help="Stop once the queue has been empty this long [default: run until SIGTERM].")
@with_appcontext
@needs_schema
def consume_command(chunk_size: int, exit_when_idle: float | None):
    """Record events from the queue BENEFITS_AMQP_QUEUE at BENEFITS_AMQP_URL, one POST /api/v1/events body a
    message; refused ones go to the dead-letter exchange `<queue>.dlx` with the header x-benefits-reason.
    Prints the counts when it stops."""
    from . import consumer

    extension = _extension()
    try:
        tally = consumer.consume(extension.config.AMQP_URL, extension.config.AMQP_QUEUE,
                                 sessions=extension.sessions, programs=extension.programs, clock=extension.now,
                                 chunk=chunk_size, exit_when_idle=exit_when_idle)
    except consumer.BrokerUnusable as error:
        raise Unusable(str(error)) from None
    click.echo(tally.line())


@click.command("serve", cls=Command, short_help="Serve the API and the console with gunicorn.")
@click.option("--bind", default="127.0.0.1:5000", show_default=True)
@click.option("--workers", type=click.IntRange(1, 64), default=2, show_default=True)
@click.option("--threads", type=click.IntRange(1, 64), default=4, show_default=True)
def serve_command(bind: str, workers: int, threads: int):
    """Serve the API (and the console) with gunicorn: gthread workers, JSON logs on stderr."""
    os.execvp(sys.executable, [sys.executable, "-m", "gunicorn", "--config", "python:benefits.gunicorn",
                               "--workers", str(workers), "--threads", str(threads), "--bind", bind,
                               "benefits.server:app"])


COMMANDS = (db_group, rules_group, keys_group, audit_group, points_group, redemptions_group, events_group,
            consume_command, outbox_group, customers_group, reports_group, demo_command)


def init_app(app) -> None:
    for command in COMMANDS:
        app.cli.add_command(command)


@click.group(cls=Group, context_settings=SETTINGS, epilog="Exit codes: " + ", ".join(
    f"{code} {meaning}" for code, meaning in EXIT_CODES.items()) + ". Configuration: BENEFITS_* environment "
    "variables (BENEFITS_DATABASE_URL, BENEFITS_SECRET_KEY, ...).")
@click.pass_context
def benefits(ctx):
    """VIP Benefits: the service's operations."""
    if ctx.invoked_subcommand == "serve":
        return
    from . import create_app

    try:
        app = create_app(http=False)
    except ConfigurationError as error:
        raise Unusable(str(error)) from None
    ctx.with_resource(app.app_context())


def main():
    for command in (*COMMANDS, serve_command):
        benefits.add_command(command)
    gc.freeze()  # what the imports allocated is left out of the collector's passes (gunicorn.post_worker_init)
    benefits.main(prog_name="benefits")
