"""Demo data for `make run` (`benefits demo`): keys to try the API with, partners, customers, events."""
from datetime import date, datetime, timedelta
from decimal import Decimal

from .models import Customer, Event, EventType, Partner, PartnerKind, Role
from .rules import Program
from .services import audit, customers, events, keys, partners
from .services.events import ReportedEvent
from .services.partners import NewPartner
from .services.profiles import CustomerProfile

PARTNERS = (
    ("HUAXIA_KEY", NewPartner("huaxia-general", "Huaxia General Hospital", PartnerKind.HOSPITAL,
                              ("medical_green_channel", "annual_health_check"))),
    ("HARBOUR_KEY", NewPartner("harbour-international", "Harbour International Medical Centre", PartnerKind.HOSPITAL,
                               ("private_doctor", "annual_health_check"))),
    ("JINLING_KEY", NewPartner("jinling-cancer", "Jinling Cancer Centre", PartnerKind.HOSPITAL,
                               ("mdt_consultation", "medical_green_channel"))),
    ("BUND_KEY", NewPartner("bund-grand", "The Bund Grand Hotel", PartnerKind.HOTEL,
                            ("hotel_night", "exclusive_event", "birthday_gift"))),
    ("WESTLAKE_KEY", NewPartner("westlake-retreat", "West Lake Retreat", PartnerKind.HOTEL, ("hotel_night",))),
    ("SKYPORT_KEY", NewPartner("skyport-lounges", "SkyPort Airport Lounges", PartnerKind.LOUNGE, ("airport_lounge",))),
    ("BRIDGE_KEY", NewPartner("bridge-education", "Bridge Overseas Education", PartnerKind.EDUCATION,
                              ("study_abroad_consulting", "tuition_remittance", "overseas_account_opening"))),
)
SINCE = date(2019, 6, 1)
CUSTOMERS = (
    ("demo-private-01", CustomerProfile("王建国", Decimal(8_200_000), Decimal(450_000), ("children_studying_abroad",),
                                        "03-14", customer_since=SINCE)),
    ("demo-wealth-01", CustomerProfile("李梅", Decimal(950_000), Decimal(60_000), ("children_studying_abroad",),
                                       "07-02", customer_since=SINCE)),
    ("demo-wealth-02", CustomerProfile("陈晓", Decimal(150_000), Decimal(260_000), (), "11-30", customer_since=SINCE)),
    ("demo-mass-01", CustomerProfile("张伟", Decimal(80_000), Decimal(5_000), (), "01-09", customer_since=SINCE)),
)
EVENTS = (
    ("demo-private-01", EventType.TRANSACTION, {"amount": Decimal(500_000), "category": "wealth_product"}),
    ("demo-private-01", EventType.LEARNING, {"activity": "lecture_attended"}),
    ("demo-wealth-01", EventType.TRANSACTION, {"amount": Decimal(200_000), "category": "fund"}),
    ("demo-wealth-01", EventType.LEARNING, {"activity": "course_completed", "course_id": "fx-basics"}),
    ("demo-wealth-02", EventType.TRANSACTION, {"amount": Decimal(12_000), "category": "card_spend"}),
    ("demo-mass-01", EventType.LEARNING, {"activity": "quiz_passed"}),
)


def seed(session, program: Program, now: datetime) -> list[tuple[str, str]]:
    """Create the demo data that is missing; returns (shell variable, key) pairs of the new keys."""
    created = []
    for variable, role, name in (("ADMIN_KEY", Role.ADMIN, "demo-admin"), ("ADMIN2_KEY", Role.ADMIN, "demo-approver"),
                                 ("APP_KEY", Role.APP, "demo-app")):
        _, plaintext = keys.create_key(session, role=role, name=name, actor=audit.SYSTEM, now=now)
        created.append((variable, plaintext))
    for variable, partner in PARTNERS:
        if session.get(Partner, partner.id) is None:
            partners.create(session, program, partner, actor=audit.SYSTEM, now=now)
        _, plaintext = keys.create_key(session, role=Role.PARTNER, name=f"{partner.id}-desk", partner_id=partner.id,
                                       actor=audit.SYSTEM, now=now)
        created.append((variable, plaintext))
    for customer_id, profile in CUSTOMERS:
        if session.get(Customer, customer_id) is None:
            customers.upsert(session, program, customer_id, profile, actor=audit.SYSTEM, now=now)
    for number, (customer_id, kind, fields) in enumerate(EVENTS, start=1):
        event_id = f"demo-event-{number}"
        if session.get(Event, event_id) is not None:
            continue
        currency = "CNY" if kind == EventType.TRANSACTION else None
        events.record(session, program, ReportedEvent(event_id, customer_id, kind, now - timedelta(days=30),
                                                      currency=currency, **fields), actor=audit.SYSTEM, now=now)
    return created
