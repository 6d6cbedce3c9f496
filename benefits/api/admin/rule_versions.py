"""Rule versions: upload, read, compare, simulate, approve, activate; the language's JSON Schema."""
from flask import request
from flask.views import MethodView
from marshmallow import ValidationError, fields, validate, validates_schema

from ...errors import Invalid
from ...models import SourceType
from ...rules import RULE_SCHEMA, diff_documents
from ...schemas import ID, Integer, Strict
from ...schemas.customers import ProfileIn
from ...services import rule_versions, simulation
from .. import context
from ..context import reads, writes
from ..pages import PageArgs, page_of, paged
from . import blp

MEDIA_TYPES = {"application/json": SourceType.JSON, "application/yaml": SourceType.YAML,
               "application/x-yaml": SourceType.YAML, "text/yaml": SourceType.YAML, "text/x-yaml": SourceType.YAML}


class VersionSummary(Strict):
    version = fields.Integer(attribute="id")
    status = fields.String()
    author = fields.String()
    approver = fields.String(allow_none=True)
    created_at = fields.DateTime()
    approved_at = fields.DateTime(allow_none=True)
    activated_at = fields.DateTime(allow_none=True)
    source_type = fields.String()


class VersionOut(VersionSummary):
    document = fields.Dict()
    source = fields.String(metadata={"description": "The document as uploaded, byte for byte"})


VersionPage = page_of(VersionSummary, "VersionPage")


class CreatedOut(Strict):
    version = fields.Integer(attribute="id")
    status = fields.String()
    author = fields.String()


class ChangedRule(Strict):
    rule = fields.String()
    section = fields.String(metadata={"description": "tiers, earning, benefits, rewards or signals"})
    fields_ = fields.List(fields.String(), data_key="fields", attribute="fields")


class DiffOut(Strict):
    added = fields.List(fields.String())
    removed = fields.List(fields.String())
    changed = fields.List(fields.Nested(ChangedRule))
    settings = fields.List(fields.String(), metadata={
        "description": "top-level settings that changed: timezone, currency, catalog, points, tier_policy..."})


class StatusOut(Strict):
    version = fields.Integer(attribute="id")
    status = fields.String()


MAX = simulation.MAX_CUSTOMERS
AT_MOST = validate.Length(min=1, max=MAX, error=f"a call simulates 1 to {MAX:,} customers")


class SimulateIn(Strict):
    customers = fields.List(fields.Nested(ProfileIn), validate=AT_MOST, metadata={
        "description": "Supplied profiles"})
    customer_ids = fields.List(fields.String(validate=ID), validate=AT_MOST, metadata={
        "description": "Stored customers; an unknown id answers 404"})
    sample = Integer(validate=validate.Range(min=1, max=MAX, error=f"must be 1 to {MAX:,}"), metadata={
        "description": "This many stored customers chosen at random (all of them when there are fewer)"})
    every = fields.Boolean(data_key="all", metadata={
        "description": "Every stored customer, a page of `limit` at a time, in order of id"})
    cursor = fields.String(validate=validate.Length(min=1, max=64), metadata={
        "description": "With `all`: the `next_cursor` of the previous page"})
    limit = Integer(validate=validate.Range(min=1, max=MAX, error=f"must be 1 to {MAX:,}"), metadata={
        "description": f"With `all`: customers a page (default {MAX:,})"})

    @validates_schema
    def one_way_of_naming_customers(self, data, **_):
        named = [key for key in ("customers", "customer_ids", "sample") if key in data] + (
            ["all"] if data.get("every") else [])
        if len(named) != 1:
            raise ValidationError("name the customers with exactly one of customers, customer_ids, sample "
                                  "or all: true")
        if not data.get("every"):
            for key in ("cursor", "limit"):
                if key in data:
                    raise ValidationError("only with all: true", key)


class GrantOut(Strict):
    benefit = fields.String()
    rule = fields.String()
    quota = fields.Integer(allow_none=True, metadata={"description": "null: unlimited"})
    per = fields.String(allow_none=True, metadata={"description": "the quota's period; null when unlimited"})


class OutcomeOut(Strict):
    tier = fields.String()
    benefits = fields.List(fields.Nested(GrantOut))
    signals = fields.List(fields.String())


class SimulatedCustomer(Strict):
    customer_id = fields.String(allow_none=True)
    current = fields.Nested(OutcomeOut, metadata={"description": "Under the active version"})
    proposed = fields.Nested(OutcomeOut, metadata={"description": "Under the simulated version"})


class SimulationSummary(Strict):
    customers = fields.Integer()
    tier_up = fields.Integer()
    tier_down = fields.Integer()
    benefit_gained = fields.Dict(keys=fields.String(), values=fields.Integer())
    benefit_lost = fields.Dict(keys=fields.String(), values=fields.Integer())
    signal_raised = fields.Dict(keys=fields.String(), values=fields.Integer(), metadata={
        "description": "Customers raising the signal under the proposed version and not under the active one"})
    signal_cleared = fields.Dict(keys=fields.String(), values=fields.Integer())


class SimulationOut(Strict):
    current_version = fields.Integer()
    proposed_version = fields.Integer()
    items = fields.List(fields.Nested(SimulatedCustomer))
    summary = fields.Nested(SimulationSummary)
    next_cursor = fields.String(allow_none=True, metadata={"description": "With `all`: the next page's cursor"})


def media_type() -> SourceType:
    mimetype = request.mimetype or "application/json"
    if mimetype not in MEDIA_TYPES:
        raise Invalid([{"path": "headers.Content-Type",
                        "message": "must be application/json or application/yaml"}])
    return MEDIA_TYPES[mimetype]


@blp.route("/rule-versions")
class RuleVersions(MethodView):
    @writes
    @blp.doc(requestBody={"required": True, "content": {
        "application/json": {"schema": {"type": "object"}},
        "application/yaml": {"schema": {"type": "string"}}}})
    @blp.response(201, CreatedOut)
    def post(self):
        """Upload a rule document (JSON, or YAML with Content-Type: application/yaml) as a draft"""
        return rule_versions.create(context.session(), request.get_data(), media_type(),
                                    actor=context.actor(), now=context.now())

    @reads
    @blp.arguments(PageArgs, location="query")
    @blp.response(200, VersionPage)
    def get(self, args):
        """Rule versions, newest first (without their documents)"""
        return paged(args, lambda **page: rule_versions.listing(context.session(), **page))


@blp.route("/rule-versions/active")
class ActiveVersion(MethodView):
    @reads
    @blp.response(200, VersionOut)
    def get(self):
        """The active version, with its document"""
        return rule_versions.active(context.session())


@blp.route("/rule-versions/<int:version>")
class RuleVersion(MethodView):
    @reads
    @blp.response(200, VersionOut)
    def get(self, version):
        """One version, with its document and its source as uploaded"""
        return rule_versions.get(context.session(), version)


@blp.route("/rule-versions/<int:a>/diff/<int:b>")
class Diff(MethodView):
    @reads
    @blp.response(200, DiffOut)
    def get(self, a, b):
        """What changed from version a to version b, by rule id"""
        s = context.session()
        return diff_documents(rule_versions.get(s, a).document, rule_versions.get(s, b).document)


@blp.route("/rule-schema")
class RuleSchema(MethodView):
    @blp.response(200)
    def get(self):
        """The JSON Schema of the rule language, for editors"""
        return RULE_SCHEMA


@blp.route("/rule-versions/<int:version>/simulate")
class Simulate(MethodView):
    @reads
    @blp.arguments(SimulateIn)
    @blp.response(200, SimulationOut)
    def post(self, body, version):
        """Evaluate customers under the active version and under this one (any status); writes nothing"""
        return simulation.simulate(
            context.session(), context.extension().programs, version,
            active_version=context.program().version, now=context.now(), profiles=body.get("customers"),
            customer_ids=body.get("customer_ids"), sample=body.get("sample"), every=body.get("every", False),
            cursor=body.get("cursor"), limit=body.get("limit", MAX))


@blp.route("/rule-versions/<int:version>/approve")
class Approve(MethodView):
    @writes
    @blp.response(200, StatusOut)
    def post(self, version):
        """Approve a draft: only an admin other than its author may"""
        return rule_versions.approve(context.session(), version, actor=context.actor(), now=context.now())


@blp.route("/rule-versions/<int:version>/activate")
class Activate(MethodView):
    @writes
    @blp.response(200, StatusOut)
    def post(self, version):
        """Make an approved version active (an older one: the rollback); every process follows within 2 s"""
        return rule_versions.activate(context.session(), version, actor=context.actor(), now=context.now())
