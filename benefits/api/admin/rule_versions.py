"""Rule versions: upload, read, compare, approve, activate; the language's JSON Schema."""
from flask import request
from flask.views import MethodView
from marshmallow import fields

from ...errors import Invalid
from ...rules import RULE_SCHEMA, diff_documents
from ...services import rule_versions
from .. import context
from ..context import writes
from ..schemas import PageArgs, Strict, cursor_id, page
from . import blp

MEDIA_TYPES = {"application/json": "json", "application/yaml": "yaml", "application/x-yaml": "yaml",
               "text/yaml": "yaml", "text/x-yaml": "yaml"}


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


class VersionPage(Strict):
    items = fields.List(fields.Nested(VersionSummary))
    next_cursor = fields.String(allow_none=True)


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


def media_type() -> str:
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

    @blp.arguments(PageArgs, location="query")
    @blp.response(200, VersionPage)
    def get(self, args):
        """Rule versions, newest first (without their documents)"""
        items = rule_versions.listing(context.session(), limit=args["limit"] + 1, before_id=cursor_id(args["cursor"]))
        return page(items, args["limit"], lambda version: version.id)


@blp.route("/rule-versions/active")
class ActiveVersion(MethodView):
    @blp.response(200, VersionOut)
    def get(self):
        """The active version, with its document"""
        return rule_versions.active(context.session())


@blp.route("/rule-versions/<int:version>")
class RuleVersion(MethodView):
    @blp.response(200, VersionOut)
    def get(self, version):
        """One version, with its document and its source as uploaded"""
        return rule_versions.get(context.session(), version)


@blp.route("/rule-versions/<int:a>/diff/<int:b>")
class Diff(MethodView):
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
