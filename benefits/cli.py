"""The `benefits` command line, built on Flask's CLI.

Each command is one or more units of work (``benefits.db.run``) calling the
same services as the API.
"""
import os
import sys
from pathlib import Path

import click
from flask import current_app
from flask.cli import FlaskGroup, with_appcontext

from . import db
from .extension import Extension
from .models import Role, SourceType
from .services import audit, keys, ledger, redemptions, rule_versions


def _extension() -> Extension:
    return current_app.extensions["benefits"]


def _run(work, *, write: bool = True):
    """``work(session)`` in one unit of work on the app's database."""
    return db.run(_extension().sessions, work, write=write)


def migrations_dir() -> Path:
    return Path(__file__).resolve().parent.parent / "migrations"


def alembic_config(url: str):
    from alembic.config import Config as AlembicConfig

    config = AlembicConfig()
    config.set_main_option("script_location", str(migrations_dir()))
    config.attributes["url"] = url
    return config


def upgrade(url: str, revision: str = "head") -> None:
    from alembic import command

    command.upgrade(alembic_config(url), revision)


db_group = click.Group("db", help="The database schema.")


@db_group.command("upgrade")
@with_appcontext
def db_upgrade():
    """Create or migrate every table to the newest schema."""
    upgrade(current_app.config["DATABASE_URL"])
    click.echo("database is up to date")


rules = click.Group("rules", help="Rule versions.")


@rules.command("load")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--activate", is_flag=True, help="Approve and activate it (only while no version is active).")
@with_appcontext
def rules_load(path: Path, activate: bool):
    """Load a rule document as a new version (bootstrap, audited as system)."""
    media_type = SourceType.JSON if path.suffix.lower() == ".json" else SourceType.YAML
    version = _run(lambda s: rule_versions.bootstrap(s, path.read_bytes(), media_type, activate_it=activate,
                                                     now=_extension().now()))
    click.echo(f"rule version {version.id} loaded ({version.status})")


@rules.command("export")
@click.argument("version", type=int)
@with_appcontext
def rules_export(version: int):
    """Print a version's document as it was uploaded."""
    click.echo(_run(lambda s: rule_versions.get(s, version).source, write=False), nl=False)


@rules.command("active")
@with_appcontext
def rules_active():
    """Print the active version's number, or nothing."""
    active = _run(rule_versions.active_id, write=False)
    if active is not None:
        click.echo(active)


keys_group = click.Group("keys", help="API keys.")


@keys_group.command("create")
@click.option("--role", type=click.Choice([role.value for role in Role]), required=True)
@click.option("--name", required=True)
@click.option("--partner", "partner_id", default=None, help="The partner a partner key belongs to.")
@with_appcontext
def keys_create(role: str, name: str, partner_id: str | None):
    """Create a key; the key itself is printed alone on the last line."""
    key, plaintext = _run(lambda s: keys.create_key(s, role=Role(role), name=name, partner_id=partner_id,
                                                    actor=audit.SYSTEM, now=_extension().now()))
    click.echo(f"created {role} key {key.id} ({name}); it is shown only now:")
    click.echo(plaintext)


@keys_group.command("revoke")
@click.argument("key_id", type=int)
@with_appcontext
def keys_revoke(key_id: int):
    """Revoke a key: it is refused (401) from the next request on, on every process."""
    key = _run(lambda s: keys.revoke(s, key_id, actor=audit.SYSTEM, now=_extension().now()))
    click.echo(f"revoked key {key.id} ({key.name})")


audit_group = click.Group("audit", help="The audit trail.")


@audit_group.command("verify")
@with_appcontext
def audit_verify():
    """Walk the hash chain; exits 1 if any row was changed or removed."""
    result = _run(audit.verify, write=False)
    click.echo(f"ok={result['ok']} checked={result['checked']} first_bad={result['first_bad']}")
    sys.exit(0 if result["ok"] else 1)


points = click.Group("points", help="Points.")


@points.command("expire")
@with_appcontext
def points_expire():
    """Write expire entries for every lot past its expiry (for cron)."""
    total_points = total_customers = 0
    now = _extension().now()
    while True:
        points, expired_customers = _run(lambda s: ledger.expire_some(s, now))
        if not expired_customers:
            break
        total_points += points
        total_customers += expired_customers
    click.echo(f"expired {total_points} points of {total_customers} customers")


redemptions_group = click.Group("redemptions", help="Partner redemptions.")


@redemptions_group.command("lapse")
@with_appcontext
def redemptions_lapse():
    """Write the lapsed state of every hold past its expiry (for cron; the quota returned already)."""
    total, now = 0, _extension().now()
    while count := _run(lambda s: redemptions.lapse_due(s, now)):
        total += count
    click.echo(f"lapsed {total} holds")


events_group = click.Group("events", help="Transactions and learning activity.")


@events_group.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, readable=True, path_type=Path))
@click.option("--format", "fmt", type=click.Choice(["auto", "csv", "jsonl"]), default="auto", show_default=True,
              help="auto: by the extension (.csv; .jsonl, .ndjson, .json), else by the first character.")
@click.option("--rejected", "rejected_path", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Where rejected lines are written, each with its line number and reason [default: FILE.rejected].")
@click.option("--chunk-size", type=click.IntRange(1, 1000), default=1000, show_default=True,
              help="Events per transaction.")
@with_appcontext
def events_import(file: Path, fmt: str, rejected_path: Path | None, chunk_size: int):
    """Record events from FILE: CSV with a header row, or JSON lines; one POST /api/v1/events body a line.

    Idempotent by event id (a re-import counts duplicates); prints
    `created N, duplicate N, rejected N`.
    """
    from sqlalchemy.exc import SQLAlchemyError

    from .errors import DomainError
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
        raise click.ClickException(str(error)) from None
    except (DomainError, SQLAlchemyError, OSError) as error:
        message = error.message if isinstance(error, DomainError) else str(error).splitlines()[0]
        raise click.ClickException(f"import stopped ({summary.line()} before it): {message}") from None
    click.echo(summary.line())
    if summary.rejected:
        click.echo(f"rejected lines are in {rejected_path}", err=True)


def init_app(app) -> None:
    from .demo import demo_command

    for group in (db_group, rules, keys_group, audit_group, points, redemptions_group, events_group, demo_command):
        app.cli.add_command(group)


def _create_app():
    from . import create_app

    return create_app()


def main():
    os.environ.setdefault("FLASK_RUN_FROM_CLI", "false")
    cli = FlaskGroup(create_app=_create_app, help="VIP Benefits: the service and its operations.")
    cli.main(prog_name="benefits")
