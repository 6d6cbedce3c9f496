"""Finance reports (JSON, or CSV with `?format=csv`): points, liability, benefits, partner statements, tiers."""
from flask.views import MethodView
from marshmallow import fields

from ...schemas import Date, MoneyOut, Strict
from ...services import partners, reports
from ...services.profiles import local_today
from .. import context
from ..context import reads
from ..reports import DayRangeArgs, FormatArgs, MonthRangeArgs, StatementOut, answer, documented, month_of
from . import blp


class PointsMonth(Strict):
    month = fields.String(metadata={"example": "2026-11"})
    opening = fields.Integer()
    earned = fields.Integer()
    spent = fields.Integer()
    expired = fields.Integer()
    reversed = fields.Integer()
    adjusted = fields.Integer(metadata={"description": "Signed"})
    closing = fields.Integer()


class PointsReport(Strict):
    items = fields.List(fields.Nested(PointsMonth))


class LiabilityArgs(FormatArgs):
    as_of = Date(load_default=None, metadata={"description": "The day (default: today); the figures are those "
                                                             "at its end, in the programme's timezone"})


class ExpiryMonth(Strict):
    month = fields.String()
    points = fields.Integer()


class RollForward(Strict):
    month = fields.String()
    opening = MoneyOut()
    issued = MoneyOut()
    redeemed = MoneyOut()
    expired = MoneyOut()
    reversed = MoneyOut()
    adjusted = MoneyOut()
    remeasurement = MoneyOut()
    closing = MoneyOut()
    opening_value = fields.String(allow_none=True)
    opening_breakage = fields.String()


class RollForwardPoints(Strict):
    opening = fields.Integer()
    issued = fields.Integer()
    redeemed = fields.Integer()
    expired = fields.Integer()
    reversed = fields.Integer()
    adjusted = fields.Integer()
    closing = fields.Integer()


class LiabilityReport(Strict):
    as_of = fields.Date()
    outstanding = fields.Integer(metadata={"description": "Unspent points of all lots at the end of the day, "
                                                          "pending included"})
    debt_points = fields.Integer(metadata={"description": "The sum of negative balances (≤ 0)"})
    by_expiry_month = fields.List(fields.Nested(ExpiryMonth))
    value = fields.String(allow_none=True, metadata={"description": "`points.value`: a point in the programme's "
                                                                    "currency"})
    breakage = fields.String()
    breakage_source = fields.String(metadata={"description": "`expected` (points.expected_breakage), `history` "
                                                             "(the last 24 full months) or `none`"})
    deferred_revenue = MoneyOut()
    rollforward = fields.Nested(RollForward)
    rollforward_points = fields.Nested(RollForwardPoints)


class Usage(Strict):
    month = fields.String()
    benefit = fields.String()
    partner = fields.String()
    tier = fields.String(allow_none=True)
    quantity = fields.Integer()


class Entitled(Strict):
    benefit = fields.String()
    tier = fields.String()
    per = fields.String(allow_none=True, metadata={"description": "null: unlimited"})
    customers = fields.Integer()
    quota = fields.Integer(allow_none=True, metadata={"description": "The quotas granted, added up; null: unlimited"})


class BenefitsReport(Strict):
    usage = fields.List(fields.Nested(Usage))
    entitled = fields.List(fields.Nested(Entitled))
    customers_not_reevaluated = fields.Integer(metadata={
        "description": "Customers not yet evaluated under the active version, whose grants are those of an "
                       "earlier one (`benefits customers reevaluate`)"})


class MatrixCell(Strict):
    from_tier = fields.String()
    to_tier = fields.String()
    customers = fields.Integer()


class SignalMonth(Strict):
    month = fields.String()
    signal = fields.String()
    raised = fields.Integer()
    cleared = fields.Integer()


class TiersReport(Strict):
    from_ = fields.Date(data_key="from", attribute="from")
    to = fields.Date()
    tiers = fields.List(fields.String())
    matrix = fields.List(fields.Nested(MatrixCell))
    signals = fields.List(fields.Nested(SignalMonth))


def month_span(args: dict) -> tuple:
    """``from`` and ``to`` months; by default the twelve months up to the current one."""
    return reports.month_period(args["first"], args["last"], local_today(context.program(), context.now()))


@blp.route("/reports/points")
class PointsRollForward(MethodView):
    @reads
    @blp.arguments(MonthRangeArgs, location="query")
    @blp.response(200, PointsReport)
    @documented(blp)
    def get(self, args):
        """The points roll-forward by month (`from`/`to`: YYYY-MM, inclusive; default the last 12 months)"""
        first, last = month_span(args)
        return answer("points", reports.points(context.session(), context.program(), first, last), args, "points")


@blp.route("/reports/liability")
class Liability(MethodView):
    @reads
    @blp.arguments(LiabilityArgs, location="query")
    @blp.response(200, LiabilityReport)
    @documented(blp)
    def get(self, args):
        """Outstanding points, debts, IFRS 15 deferred revenue and its roll-forward over the month of `as_of`"""
        program = context.program()
        as_of = args["as_of"] or local_today(program, context.now())
        return answer("liability", reports.liability(context.session(), program, as_of, now=context.now()), args,
                      f"liability-{as_of}")


@blp.route("/reports/benefits")
class Benefits(MethodView):
    @reads
    @blp.arguments(MonthRangeArgs, location="query")
    @blp.response(200, BenefitsReport)
    @documented(blp)
    def get(self, args):
        """Benefit utilisation by month, benefit, partner and tier; customers entitled and quota granted now"""
        first, last = month_span(args)
        return answer("benefits", reports.benefits(context.session(), context.program(), first, last), args,
                      "benefits")


@blp.route("/reports/partners/<partner_id>/statements/<month>")
class Statement(MethodView):
    @reads
    @blp.arguments(FormatArgs, location="query")
    @blp.response(200, StatementOut)
    @documented(blp)
    def get(self, args, partner_id, month):
        """A partner's statement of a month (YYYY-MM): its confirmed redemptions at their unit price"""
        month = month_of(month)
        s = context.session()
        return answer("statement", reports.statement(s, context.program(), partners.get(s, partner_id), month,
                                                     secret=context.secret()), args,
                      f"statement-{partner_id}-{month:%Y-%m}")


@blp.route("/reports/tiers")
class Tiers(MethodView):
    @reads
    @blp.arguments(DayRangeArgs, location="query")
    @blp.response(200, TiersReport)
    @documented(blp)
    def get(self, args):
        """The tier migration matrix between the ends of two days, and the signals raised by month"""
        first, last = reports.day_period(args["first"], args["last"], local_today(context.program(), context.now()))
        return answer("tiers", reports.tiers(context.session(), context.program(), first, last), args, "tiers")
