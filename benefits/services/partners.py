"""Partners: hospitals, hotels, lounges, agencies, and the benefits each serves."""
import base64
import hashlib
import hmac
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..errors import Conflict, Invalid, NotFound
from ..models import Partner, PartnerKind
from ..rules import Program
from . import audit


@dataclass(frozen=True)
class NewPartner:
    """A partner as an admin registers it: the body of ``POST /admin/v1/partners``."""

    id: str
    name: str
    kind: PartnerKind
    benefits: tuple[str, ...]


def get(session: Session, partner_id: str) -> Partner:
    partner = session.get(Partner, partner_id)
    if partner is None:
        raise NotFound(f"no partner {partner_id!r}")
    return partner


def listing(session: Session) -> list[Partner]:
    return list(session.execute(select(Partner).order_by(Partner.id)).scalars())


def create(session: Session, program: Program, new: NewPartner, *, actor: audit.Actor, now: datetime) -> Partner:
    """A partner serving benefits of the active programme's catalog."""
    unknown = [{"path": f"json.benefits[{index}]", "message": f"unknown benefit {benefit!r} (not in the catalog)"}
               for index, benefit in enumerate(new.benefits) if benefit not in program.catalog]
    if unknown:
        raise Invalid(unknown)
    if session.get(Partner, new.id) is not None:
        raise Conflict(f"partner {new.id!r} exists already")
    partner = Partner(id=new.id, name=new.name, kind=new.kind, benefits=sorted(set(new.benefits)), created_at=now)
    session.add(partner)
    session.flush()
    audit.record(session, actor, "partner.created", "partner", partner.id, at=now,
                 after={"id": partner.id, "name": partner.name, "kind": partner.kind, "benefits": partner.benefits})
    return partner


def customer_ref(secret: str, partner_id: str, customer_id: str) -> str:
    """The customer's pseudonym for one partner: stable for it, different for every other partner,
    and not reversible without the server's secret (an HMAC of both ids)."""
    mac = hmac.new(secret.encode(), f"{partner_id}\x00{customer_id}".encode(), hashlib.sha256).digest()
    return "cr_" + base64.b32encode(mac[:15]).decode().lower()
