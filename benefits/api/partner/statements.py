"""The partner's own monthly statements."""
from flask.views import MethodView

from ...services import reports
from .. import context
from ..context import reads
from ..reports import FormatArgs, StatementOut, answer, documented, month_of
from . import blp


@blp.route("/statements/<month>")
class Statement(MethodView):
    @reads
    @blp.arguments(FormatArgs, location="query")
    @blp.response(200, StatementOut)
    @documented(blp)
    def get(self, args, month):
        """The partner's statement of a month (YYYY-MM): what the bank owes it for its confirmed redemptions"""
        month = month_of(month)
        partner = context.partner()
        return answer("statement", reports.statement(context.session(), context.program(), partner, month,
                                                     secret=context.secret()), args,
                      f"statement-{partner.id}-{month:%Y-%m}")
