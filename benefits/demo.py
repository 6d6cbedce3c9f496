"""Demo data for `make run`: keys to try the API with (printed), partners and customers."""
from datetime import datetime, timezone

import click
from flask import current_app
from flask.cli import with_appcontext

from .services import audit, keys


def seed(session, now: datetime) -> list[tuple[str, str]]:
    """Create the demo data that is missing; returns (shell variable, key) pairs of new keys."""
    created = []
    for variable, role, name in (("ADMIN_KEY", "admin", "demo-admin"), ("ADMIN2_KEY", "admin", "demo-approver"),
                                 ("APP_KEY", "app", "demo-app")):
        _, plaintext = keys.create_key(session, role=role, name=name, actor=audit.SYSTEM, now=now)
        created.append((variable, plaintext))
    return created


@click.command("demo")
@with_appcontext
def demo_command():
    """Create demo data and print fresh demo keys as shell exports."""
    with current_app.extensions["benefits"].sessions() as session:
        created = seed(session, datetime.now(timezone.utc))
        session.commit()
    click.echo("# demo keys (shown once; paste into your shell):")
    for variable, plaintext in created:
        click.echo(f"export {variable}={plaintext}")
