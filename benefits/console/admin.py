"""The admins' console: rule versions (write, compare, simulate, approve, activate), the audit trail, partners
and keys."""
from flask import g, request, url_for
from marshmallow import ValidationError

from ..api import context
from ..api.admin.partners import PartnerIn
from ..api.admin.audit import AuditArgs
from ..errors import NotFound
from ..models import PartnerKind, Role, SourceType, VersionStatus
from ..rules import diff_documents, line_of
from ..services import audit, keys, partners, rule_versions, simulation
from ..schemas import flatten
from . import blp
from .pages import action, page, render

SAMPLE = 200


@blp.get("/admin")
@page(Role.ADMIN)
def versions():
    return render("console/versions.html", versions=rule_versions.listing(g.session, limit=100, before=None))


def show_version(version_id: int, outcome: dict | None = None):
    s = g.session
    version = rule_versions.get(s, version_id)
    active_id = rule_versions.active_id(s)
    diff = None
    if active_id is not None and active_id != version.id:
        diff = diff_documents(rule_versions.get(s, active_id).document, version.document)
    own = g.actor.name == version.author or (version.author_key_id is not None and version.author_key_id == g.api_key.id)
    return render("console/version.html", version=version, active_id=active_id, diff=diff, own=own,
                  outcome=outcome, statuses=VersionStatus, approvable=rule_versions.APPROVED, sample=SAMPLE)


@blp.get("/admin/versions/<int:version_id>")
@page(Role.ADMIN)
def version(version_id):
    return show_version(version_id)


@blp.post("/admin/versions/<int:version_id>/approve")
@page(Role.ADMIN)
def approve(version_id):
    outcome = action("approve", lambda: {"message": "Version {version} is approved.", "values": {
        "version": rule_versions.approve(g.session, version_id, actor=context.actor(), now=context.now()).id}},
        g.session)
    return show_version(version_id, outcome)


@blp.post("/admin/versions/<int:version_id>/activate")
@page(Role.ADMIN)
def activate(version_id):
    outcome = action("activate", lambda: {"message": "Version {version} is active.", "values": {
        "version": rule_versions.activate(g.session, version_id, actor=context.actor(), now=context.now()).id}},
        g.session)
    return show_version(version_id, outcome)


@blp.get("/admin/versions/new")
@page(Role.ADMIN)
def new_version():
    active_id = rule_versions.active_id(g.session)
    source = rule_versions.get(g.session, active_id).source if active_id is not None else ""
    return render("console/new_version.html", source=source, problems=None)


@blp.post("/admin/versions/new")
@page(Role.ADMIN)
def save_draft():
    source = request.form.get("document", "").replace("\r\n", "\n")
    media_type = SourceType.JSON if source.lstrip().startswith("{") else SourceType.YAML

    def work() -> dict:
        created = rule_versions.create(g.session, source.encode("utf-8", "surrogatepass"), media_type,
                                       actor=context.actor(), now=context.now())
        return {"version": created.id}

    outcome = action("save-draft", work, g.session)
    if not outcome["ok"]:
        problems = [{**problem, "line": line_of(source, problem["path"])} for problem in outcome["errors"]] or [
            {"path": "document", "line": None, "message": outcome["message"]}]
        return render("console/new_version.html", source=source, problems=problems), 422
    return show_version(outcome["version"], {"ok": True, "message": "Version {version} is saved as a draft.",
                                              "values": {"version": outcome["version"]}})


@blp.post("/admin/versions/<int:version_id>/simulate")
@page(Role.ADMIN)
def simulate(version_id):
    size = request.form.get("sample", str(SAMPLE))
    size = min(max(int(size), 1), simulation.MAX_CUSTOMERS) if size.isdigit() else SAMPLE
    active_id = context.program().version
    answer = simulation.simulate(g.session, context.extension().programs, version_id, active_version=active_id,
                                 now=context.now(), sample=size)
    return render("console/simulation.html", version=rule_versions.get(g.session, version_id), active_id=active_id,
                  summary=answer["summary"], bars=chart_bars(answer["summary"]))


def chart_bars(summary: dict) -> list[dict]:
    """The simulation summary as bars: tier moves, then each benefit gained (+) and lost (−)."""
    bars = [{"label": "Tier up", "value": summary["tier_up"], "sign": 1},
            {"label": "Tier down", "value": summary["tier_down"], "sign": -1}]
    for benefit in sorted(set(summary["benefit_gained"]) | set(summary["benefit_lost"])):
        bars.append({"label": benefit, "value": summary["benefit_gained"].get(benefit, 0), "sign": 1,
                     "benefit": True, "kind": "Gained"})
        bars.append({"label": benefit, "value": summary["benefit_lost"].get(benefit, 0), "sign": -1,
                     "benefit": True, "kind": "Lost"})
    widest = max([bar["value"] for bar in bars] + [1])
    for number, bar in enumerate(bars):
        bar["y"], bar["width"] = 28 * number, round(300 * bar["value"] / widest)
    return bars


@blp.get("/admin/audit")
@page(Role.ADMIN)
def audit_trail():
    try:
        filters = AuditArgs().load({name: value for name, value in request.args.items()
                                    if name in AuditArgs().fields and value})
    except ValidationError as error:
        return render("console/audit.html", rows=[], filters=request.args, problems=flatten(error.messages),
                      verified=None, next_page=None), 422
    before = int(filters["cursor"]) if filters.get("cursor") else None
    rows = audit.search(g.session, limit=filters["limit"] + 1, before=before,
                        **{name: filters[name] for name in ("action", "subject", "actor", "since", "until")})
    next_page = None
    if len(rows) > filters["limit"]:
        kept = {name: value for name, value in request.args.items() if name not in ("cursor", "verify")}
        next_page = url_for("console.audit_trail", **kept, cursor=rows[filters["limit"] - 1].seq)
    verified = audit.verify(g.session) if request.args.get("verify") else None
    return render("console/audit.html", rows=rows[:filters["limit"]], filters=request.args, problems=None,
                  verified=verified, next_page=next_page)


def show_partners(outcome: dict | None = None, status: int = 200):
    return render("console/partners.html", partners=partners.listing(g.session),
                  keys=keys.listing(g.session, limit=None, before=None), kinds=list(PartnerKind),
                  outcome=outcome), status


@blp.get("/admin/partners")
@page(Role.ADMIN)
def partner_list():
    return show_partners()


@blp.post("/admin/partners")
@page(Role.ADMIN)
def create_partner():
    body = {"id": request.form.get("id", "").strip(), "name": request.form.get("name", "").strip(),
            "kind": request.form.get("kind", ""),
            "benefits": [item.strip() for item in request.form.get("benefits", "").split(",") if item.strip()]}

    def work() -> dict:
        created = partners.create(g.session, context.program(), PartnerIn().load(body), actor=context.actor(),
                                  now=context.now())
        return {"message": "Partner {id} is created.", "values": {"id": created.id}}

    return show_partners(action("create-partner", work, g.session))


@blp.post("/admin/keys")
@page(Role.ADMIN)
def create_key():
    role, name = request.form.get("role", ""), request.form.get("name", "").strip()[:100]
    partner_id = request.form.get("partner_id") or None

    def work() -> dict:
        if role not in set(Role) or not name:
            raise NotFound("a key needs a role and a name")
        if role == Role.PARTNER:
            partners.get(g.session, partner_id or "")
        key, plaintext = keys.create_key(g.session, role=Role(role), name=name,
                                         partner_id=partner_id if role == Role.PARTNER else None,
                                         actor=context.actor(), now=context.now())
        return {"message": "The new key, shown only now:", "values": {}, "key": plaintext}

    return show_partners(action("create-key", work, g.session, secret="key"))


@blp.post("/admin/keys/<int:key_id>/revoke")
@page(Role.ADMIN)
def revoke_key(key_id):
    def work() -> dict:
        key = keys.revoke(g.session, key_id, actor=context.actor(), now=context.now())
        return {"message": "Key {id} ({name}) is revoked.", "values": {"id": key.id, "name": key.name}}

    return show_partners(action("revoke-key", work, g.session))
