"""The audit trail: reading it and verifying its chain."""
from flask.views import MethodView
from marshmallow import fields, validate

from ...schemas import AwareDateTime, Strict
from ...services import audit
from .. import context
from ..context import reads
from ..pages import LARGEST_BIG_ID, PageArgs, page_of, paged
from . import blp


class AuditArgs(PageArgs):
    action = fields.String(load_default=None, validate=validate.Length(max=64),
                           metadata={"description": "An action or its prefix: `points.` or `redemption.held`"})
    subject = fields.String(load_default=None, validate=validate.Length(max=100))
    actor = fields.String(load_default=None, validate=validate.Length(max=100),
                          metadata={"description": "A key's name or id, or `system`"})
    since = AwareDateTime(load_default=None)
    until = AwareDateTime(load_default=None)


class AuditItem(Strict):
    seq = fields.Integer()
    at = fields.DateTime()
    actor_type = fields.String()
    actor_id = fields.String(allow_none=True)
    actor_name = fields.String()
    action = fields.String()
    subject_type = fields.String()
    subject_id = fields.String()
    before = fields.Raw(allow_none=True)
    after = fields.Raw(allow_none=True)
    request_id = fields.String(allow_none=True)
    prev_hash = fields.String()
    hash = fields.String()


AuditPage = page_of(AuditItem, "AuditPage")


class VerifyOut(Strict):
    ok = fields.Boolean()
    checked = fields.Integer()
    first_bad = fields.Integer(allow_none=True)


@blp.route("/audit")
class Audit(MethodView):
    @reads
    @blp.arguments(AuditArgs, location="query")
    @blp.response(200, AuditPage)
    def get(self, args):
        """Audit rows, newest first, filtered by action prefix, subject, actor and time"""
        filters = {name: args[name] for name in ("action", "subject", "actor", "since", "until")}
        return paged(args, lambda **page: audit.search(context.session(), **filters, **page), key=lambda row: row.seq,
                     largest=LARGEST_BIG_ID)


@blp.route("/audit/verify")
class Verify(MethodView):
    @reads
    @blp.response(200, VerifyOut)
    def get(self):
        """Walk the hash chain: every row, every link, no gap"""
        return audit.verify(context.session())
