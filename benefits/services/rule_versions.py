"""Rule versions: draft → approved (by another admin) → active → retired.

Activation is one transaction; at most one version is active, kept so by a
partial unique index (two racing activations: one commits, the other hits the
index and is retried by its caller, then retires the first).
"""
from datetime import datetime
from importlib import resources

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from ..errors import Conflict, FourEyes, NotApproved, NotFound
from ..models import RuleVersion, SourceType, VersionStatus
from ..rules import load_document
from . import audit, outbox

APPROVED = (VersionStatus.APPROVED, VersionStatus.ACTIVE, VersionStatus.RETIRED)
DEFAULT_PROGRAMME = resources.files("benefits.programmes") / "default.yaml"  # the bank's, rules/default.yaml


def summary(version: RuleVersion) -> dict:
    return {"version": version.id, "status": version.status, "author": version.author}


def get(session: Session, version_id: int, *, lock: bool = False) -> RuleVersion:
    query = select(RuleVersion).where(RuleVersion.id == version_id)
    version = session.execute(query.with_for_update() if lock else query).scalar_one_or_none()
    if version is None:
        raise NotFound(f"no rule version {version_id}")
    return version


def active_id(session: Session) -> int | None:
    """The active version's number, or None while no version is active."""
    return session.execute(
        select(RuleVersion.id).where(RuleVersion.status == VersionStatus.ACTIVE)).scalar_one_or_none()


def active(session: Session) -> RuleVersion:
    version_id = active_id(session)
    if version_id is None:
        raise NotFound("no rule version is active")
    return get(session, version_id)


def listing(session: Session, *, limit: int, before: int | None) -> list[RuleVersion]:
    query = select(RuleVersion)
    if before is not None:
        query = query.where(RuleVersion.id < before)
    return list(session.execute(query.order_by(RuleVersion.id.desc()).limit(limit)).scalars())


def create(session: Session, source: bytes, media_type: SourceType, *, actor: audit.Actor,
           now: datetime) -> RuleVersion:
    """A draft from a YAML or JSON document, refused whole (422, every error by path) if invalid."""
    document = load_document(source, media_type)
    version = RuleVersion(status=VersionStatus.DRAFT, author=actor.name, author_key_id=actor.key_id, created_at=now,
                          document=document, source=source.decode("utf-8"), source_type=media_type)
    session.add(version)
    session.flush()
    audit.record(session, actor, "rule_version.created", "rule_version", version.id, at=now,
                 after=summary(version))
    return version


def approve(session: Session, version_id: int, *, actor: audit.Actor, now: datetime) -> RuleVersion:
    version = get(session, version_id, lock=True)
    if version.status != VersionStatus.DRAFT:
        raise Conflict(f"rule version {version_id} is {version.status}, not a draft")
    if not actor.is_system:  # the service approves the first version it loads itself
        four_eyes(actor, version.author, version.author_key_id,
                  "A rule version must be approved by an admin other than its author.")
    version.status, version.approver, version.approver_key_id = VersionStatus.APPROVED, actor.name, actor.key_id
    version.approved_at = now
    audit.record(session, actor, "rule_version.approved", "rule_version", version.id, at=now,
                 before={"status": VersionStatus.DRAFT}, after=summary(version) | {"approver": actor.name})
    return version


def activate(session: Session, version_id: int, *, actor: audit.Actor, now: datetime) -> RuleVersion:
    """Make an approved version the active one; activating an older one is the rollback."""
    version = get(session, version_id, lock=True)
    if version.status not in APPROVED:
        raise NotApproved(f"rule version {version_id} is a draft: it must be approved before activation")
    if version.status == VersionStatus.ACTIVE:
        return version
    previous = active_id(session)
    session.execute(update(RuleVersion).where(RuleVersion.status == VersionStatus.ACTIVE)
                    .values(status=VersionStatus.RETIRED))
    version.status, version.activated_at = VersionStatus.ACTIVE, now
    session.flush()
    audit.record(session, actor, "rule_version.activated", "rule_version", version.id, at=now,
                 before={"active": previous}, after={"active": version.id})
    outbox.version_activated(session, version.id, previous, now=now)
    return version


def bootstrap(session: Session, source: bytes, media_type: SourceType, *, activate_it: bool,
              now: datetime) -> RuleVersion:
    """`benefits rules load`: the first version, by ``system``; activating only while none is active."""
    if activate_it and active_id(session) is not None:
        raise Conflict("a rule version is already active: change the programme through the admin API")
    version = create(session, source, media_type, actor=audit.SYSTEM, now=now)
    if activate_it:
        approve(session, version.id, actor=audit.SYSTEM, now=now)
        activate(session, version.id, actor=audit.SYSTEM, now=now)
    return version


def four_eyes(actor: audit.Actor, author: str, author_key_id: int | None, refusal: str) -> None:
    """Refuse (``FourEyes``, with ``refusal``) an approval by the author of what is approved: by the key that
    wrote it, or by another key of the same name (one admin may hold several keys). Rule versions and manual
    adjustments are approved so."""
    if actor.key_id == author_key_id or actor.name == author:
        raise FourEyes(refusal)
