"""The partner's front desk: look a pass code up, hold, capture, confirm or cancel, and today's redemptions."""
from datetime import datetime, time

from flask import g, request

from ..api import context
from ..models import RedemptionStatus, Role
from ..services import partners, passes, redemptions
from ..api.partner.redemptions import RedemptionIn
from . import blp
from .pages import action, attempt, local, page, render


def today_start(program, now: datetime) -> datetime:
    return datetime.combine(now.astimezone(program.timezone).date(), time(0), tzinfo=program.timezone)


def show(outcome: dict | None = None, pass_code: str | None = None):
    """The desk: the customer behind ``pass_code`` (if any), the outcome of what was just done, today's list."""
    s, program, now, partner = g.session, context.program(), context.now(), context.partner()
    customer = None
    if pass_code and not (outcome and outcome.get("reason") in ("not_found", "rate_limited")):
        found = attempt(lambda: {"view": passes.view(
            s, program, passes.find(s, pass_code, key_id=g.api_key.id, now=now), partner,
            secret=context.secret(), now=now)}, s)
        if found["ok"]:
            customer = found["view"]
        elif outcome is None:
            outcome = found
    today = redemptions.listing(s, partner, limit=200, before=None, status=None, since=today_start(program, now),
                                until=None)
    return render("console/desk.html", partner=partner, customer=customer, pass_code=pass_code, outcome=outcome,
                  today=today, local=lambda moment: local(moment, program), tiers=program.tier_names,
                  benefit=lambda benefit_id: program.catalog.get(benefit_id, {}).get("name", benefit_id),
                  ref=lambda item: partners.customer_ref(context.secret(), item.partner_id, item.customer_id),
                  held=RedemptionStatus.HELD)


@blp.get("/desk")
@page(Role.PARTNER)
def desk():
    return show()


@blp.post("/desk/look-up")
@page(Role.PARTNER)
def look_up():
    return show(pass_code=request.form.get("pass_code", "").strip()[:64] or None)


@blp.post("/desk/hold")
@page(Role.PARTNER)
def hold():
    code, program = request.form.get("pass_code", "")[:64], context.program()
    form = {"pass_code": code, "benefit": request.form.get("benefit", ""), "quantity": request.form.get("quantity", "1"),
            "capture": request.form.get("capture") == "1"}

    def work() -> dict:
        wanted = RedemptionIn().load(form)  # the API's schema: the same checks for both ways in
        held = redemptions.hold(g.session, program, context.partner(), wanted, key_id=g.api_key.id,
                                actor=context.actor(), now=context.now())
        if held.status == RedemptionStatus.CONFIRMED:
            return {"message": "Confirmed {benefit} ({quantity}).", "values": {
                "benefit": held.benefit, "quantity": held.quantity}}
        return {"message": "Held {benefit} ({quantity}); the hold lapses at {time}.", "values": {
            "benefit": held.benefit, "quantity": held.quantity, "time": local(held.hold_expires_at, program)}}

    return show(action("hold", work, g.session), pass_code=code)


def _settle(name: str, redemption_id: int, settle, message: str):
    def work() -> dict:
        settle(g.session, context.partner(), redemption_id, actor=context.actor(), now=context.now())
        return {"message": message, "values": {"id": redemption_id}}

    return show(action(name, work, g.session), pass_code=request.form.get("pass_code") or None)


@blp.post("/desk/redemptions/<int:redemption_id>/confirm")
@page(Role.PARTNER)
def confirm(redemption_id):
    program = context.program()
    return _settle("confirm", redemption_id, lambda s, *args, **kwargs: redemptions.confirm(s, program, *args, **kwargs),
                   "Redemption {id} is confirmed.")


@blp.post("/desk/redemptions/<int:redemption_id>/cancel")
@page(Role.PARTNER)
def cancel(redemption_id):
    return _settle("cancel", redemption_id, redemptions.cancel, "Redemption {id} is cancelled; its quota is back.")
