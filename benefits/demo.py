"""Demo data for `make run`: keys to try the API with (printed), partners and customers."""
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal

import click
from flask import current_app
from flask.cli import with_appcontext

from .models import Customer, Event, Partner
from .services import audit, customers, events, keys, partners
from .services.customers import Rules

PARTNERS = (
    ("HUAXIA_KEY", "huaxia-general", "Huaxia General Hospital", "hospital",
     ["medical_green_channel", "annual_health_check"]),
    ("HARBOUR_KEY", "harbour-international", "Harbour International Medical Centre", "hospital",
     ["private_doctor", "annual_health_check"]),
    ("JINLING_KEY", "jinling-cancer", "Jinling Cancer Centre", "hospital",
     ["mdt_consultation", "medical_green_channel"]),
    ("BUND_KEY", "bund-grand", "The Bund Grand Hotel", "hotel", ["hotel_night", "exclusive_event", "birthday_gift"]),
    ("WESTLAKE_KEY", "westlake-retreat", "West Lake Retreat", "hotel", ["hotel_night"]),
    ("SKYPORT_KEY", "skyport-lounges", "SkyPort Airport Lounges", "lounge", ["airport_lounge"]),
    ("BRIDGE_KEY", "bridge-education", "Bridge Overseas Education", "education",
     ["study_abroad_consulting", "tuition_remittance", "overseas_account_opening"]),
)
CUSTOMERS = (
    ("demo-private-01", {"name": "王建国", "aum": Decimal(8_200_000), "annual_contribution": Decimal(450_000),
                         "tags": ["children_studying_abroad"], "birthday": "03-14"}),
    ("demo-wealth-01", {"name": "李梅", "aum": Decimal(950_000), "annual_contribution": Decimal(60_000),
                        "tags": ["children_studying_abroad"], "birthday": "07-02"}),
    ("demo-wealth-02", {"name": "陈晓", "aum": Decimal(150_000), "annual_contribution": Decimal(260_000),
                        "tags": [], "birthday": "11-30"}),
    ("demo-mass-01", {"name": "张伟", "aum": Decimal(80_000), "annual_contribution": Decimal(5_000),
                      "tags": [], "birthday": "01-09"}),
)
EVENTS = (
    ("demo-private-01", "transaction", {"amount": Decimal(500_000), "category": "wealth_product"}),
    ("demo-private-01", "learning", {"activity": "lecture_attended"}),
    ("demo-wealth-01", "transaction", {"amount": Decimal(200_000), "category": "fund"}),
    ("demo-wealth-01", "learning", {"activity": "course_completed", "course_id": "fx-basics"}),
    ("demo-wealth-02", "transaction", {"amount": Decimal(12_000), "category": "card_spend"}),
    ("demo-mass-01", "learning", {"activity": "quiz_passed"}),
)


def seed(session, rules: Rules, now: datetime) -> list[tuple[str, str]]:
    """Create the demo data that is missing; returns (shell variable, key) pairs of the new keys."""
    created = []
    for variable, role, name in (("ADMIN_KEY", "admin", "demo-admin"), ("ADMIN2_KEY", "admin", "demo-approver"),
                                 ("APP_KEY", "app", "demo-app")):
        _, plaintext = keys.create_key(session, role=role, name=name, actor=audit.SYSTEM, now=now)
        created.append((variable, plaintext))
    for variable, partner_id, name, kind, benefits in PARTNERS:
        if session.get(Partner, partner_id) is None:
            partners.create(session, rules, {"id": partner_id, "name": name, "kind": kind, "benefits": benefits},
                            actor=audit.SYSTEM, now=now)
        _, plaintext = keys.create_key(session, role="partner", name=f"{partner_id}-desk", partner_id=partner_id,
                                       actor=audit.SYSTEM, now=now)
        created.append((variable, plaintext))
    for customer_id, profile in CUSTOMERS:
        if session.get(Customer, customer_id) is None:
            customers.upsert(session, rules, customer_id, profile | {"customer_since": date(2019, 6, 1)},
                             actor=audit.SYSTEM, now=now)
    for number, (customer_id, kind, fields) in enumerate(EVENTS, start=1):
        if session.get(Event, f"demo-event-{number}") is not None:
            continue
        body = {"id": f"demo-event-{number}", "customer_id": customer_id, "type": kind,
                "occurred_at": now - timedelta(days=30), "currency": "CNY" if kind == "transaction" else None}
        events.record(session, rules, body | fields, actor=audit.SYSTEM, now=now)
    return created


@click.command("demo")
@with_appcontext
def demo_command():
    """Create demo partners and customers, and print fresh demo keys as shell exports."""
    extension = current_app.extensions["benefits"]
    with extension.sessions() as session:
        version, program = extension.programs.active(session)
        created = seed(session, Rules(version, program), datetime.now(timezone.utc))
        session.commit()
    click.echo("# demo keys (shown once; paste into your shell):")
    for variable, plaintext in created:
        click.echo(f"export {variable}={plaintext}")
