"""The finance reports in the console: the admins' Reports page (charts drawn as SVG on the server, CSV
downloads), a partner's printable statement, and the front desk's own statements.

The figures come from the same service functions as the API's reports
(``services.reports``); the charts are laid out here, as shapes the templates
draw, so no script and no chart library reaches the browser.
"""
from datetime import date, timedelta

from flask import Response, abort, g, redirect, request, url_for
from marshmallow import ValidationError

from ..api import context
from ..api.reports import month_of
from ..errors import DomainError
from ..models import Role
from ..schemas import Date
from ..services import partners, reports
from ..services.periods import month_label, month_start
from ..services.profiles import local_today
from . import blp
from .pages import local, page, render

WIDTH = 560
HEAT_LEVELS = 5
_DAY = timedelta(days=1)


def _when(program, now) -> tuple[date, date, date, list[dict]]:
    """The page's ``from`` and ``to`` months and ``as_of`` day (default: the last 12 months, today), and the
    problems of what the filters said."""
    today = local_today(program, now)
    problems, values = [], {}
    for name, parse in (("from", month_of), ("to", month_of), ("as_of", Date().deserialize)):
        text = request.args.get(name)
        if not text:
            continue
        try:
            values[name] = parse(text, f"query.{name}") if parse is month_of else parse(text)
        except DomainError as error:
            problems += error.errors
        except ValidationError as error:
            problems += [{"path": f"query.{name}", "message": message} for message in error.messages]
    first, last = reports.month_period(values.get("from"), values.get("to"), today)
    return first, last, values.get("as_of") or today, problems


def _runs(s, program, now, first: date, last: date, as_of: date) -> dict:
    """The page's reports, each ready to run, over the filters' period: points and benefits by month from
    ``from`` to ``to``; the liability at the end of ``as_of``; the tier matrix from the end of the month before
    ``from`` to the end of ``to`` (of this month, when ``to`` is later). The page and its CSV downloads both
    run these, so a download has the figures the page shows."""
    period_end = min(month_start(last, 1), month_start(local_today(program, now), 1)) - _DAY
    return {"points": lambda: reports.points(s, program, first, last),
            "liability": lambda: reports.liability(s, program, as_of, now=now),
            "benefits": lambda: reports.benefits(s, program, first, last),
            "tiers": lambda: reports.tiers(s, program, month_start(first) - _DAY, period_end)}


def _attempt(work) -> tuple[dict | None, list[dict]]:
    try:
        return work(), []
    except DomainError as error:
        return None, error.errors or [{"path": "", "message": error.message}]


@blp.get("/admin/reports")
@page(Role.ADMIN)
def reports_page():
    s, program, now = g.session, context.program(), context.now()
    first, last, as_of, problems = _when(program, now)
    runs = _runs(s, program, now, first, last, as_of)
    points, refused = _attempt(runs["points"])
    problems += refused
    liability, refused = _attempt(runs["liability"])
    problems += refused
    usage, refused = _attempt(runs["benefits"])
    problems += refused
    matrix, refused = _attempt(runs["tiers"])
    problems += refused
    filters = {"from": month_label(first), "to": month_label(last), "as_of": as_of.isoformat()}
    return render("console/reports.html", filters=filters, problems=problems, points=points, liability=liability,
                  usage=usage, matrix=matrix, partners=partners.listing(s), statement_month=filters["to"],
                  flows=flow_chart(points["items"]) if points else None,
                  closings=closing_chart(points["items"]) if points else None,
                  bars=usage_chart(usage["usage"], program.tier_ids) if usage else None,
                  heat=heat_map(matrix["matrix"], program.tier_ids) if matrix else None,
                  benefit=lambda benefit_id: program.catalog.get(benefit_id, {}).get("name", benefit_id),
                  tier_names=program.tier_names), 422 if problems else 200


@blp.get("/admin/reports/<report>.csv")
@page(Role.ADMIN)
def report_csv(report):
    """A report (or one part of it) as the API's CSV, with the page's filters."""
    s, program, now = g.session, context.program(), context.now()
    first, last, as_of, problems = _when(program, now)
    runs = _runs(s, program, now, first, last, as_of)
    if report not in runs or problems:
        abort(404 if report not in runs else 422)
    try:
        table = reports.table(report, runs[report](), request.args.get("part") or None)
    except DomainError as error:
        abort(422, error.message)
    return _download(reports.csv_text(table), f"{report}-{request.args.get('part') or 'all'}.csv")


def _download(text: str, filename: str) -> Response:
    return Response(text, mimetype="text/csv", headers={"Content-Disposition": f'attachment; filename="{filename}"'})


def _statement(partner, month_text: str, csv: bool, links: dict):
    s, program = g.session, context.program()
    try:
        month = month_of(month_text)
    except DomainError:
        abort(404)
    answer = reports.statement(s, program, partner, month, secret=context.secret())
    if csv:
        return _download(reports.csv_text(reports.table("statement", answer)),
                         f"statement-{partner.id}-{month_label(month)}.csv")
    return render("console/statement.html", statement=answer, local=lambda moment: local(moment, program),
                  benefit=lambda benefit_id: program.catalog.get(benefit_id, {}).get("name", benefit_id),
                  previous=month_label(month_start(month, -1)), following=month_label(month_start(month, 1)),
                  **links)


@blp.get("/admin/partners/<partner_id>/statements/<month>")
@page(Role.ADMIN)
def partner_statement(partner_id, month):
    partner = _partner(partner_id)
    return _statement(partner, month.removesuffix(".csv"), month.endswith(".csv"),
                      {"endpoint": "console.partner_statement", "arguments": {"partner_id": partner.id}})


@blp.get("/desk/statements")
@page(Role.PARTNER)
def desk_statements():
    """The partner's statement of the month named in the form, else of the current month."""
    month = request.args.get("month") or month_label(local_today(context.program(), context.now()))
    return redirect(url_for("console.desk_statement", month=month), 303)


@blp.get("/desk/statements/<month>")
@page(Role.PARTNER)
def desk_statement(month):
    return _statement(context.partner(), month.removesuffix(".csv"), month.endswith(".csv"),
                      {"endpoint": "console.desk_statement", "arguments": {}})


def _partner(partner_id: str):
    try:
        return partners.get(g.session, partner_id)
    except DomainError:
        abort(404)


# ------------------------------------------------------------------------------------- charts


def _scale(value: int, largest: int, length: int) -> int:
    return round(length * value / largest) if largest else 0


def flow_chart(items: list[dict]) -> dict:
    """Each month's points in (earned, positive adjustments: up) and out (spent, expired, reversed, negative
    adjustments: down, stacked), around a middle line."""
    slot, middle, half = WIDTH // max(len(items), 1), 110, 90
    largest = max([1] + [item["earned"] + max(item["adjusted"], 0) for item in items]
                  + [item["spent"] + item["expired"] + item["reversed"] + max(-item["adjusted"], 0) for item in items])
    columns = []
    for number, item in enumerate(items):
        x, bars = number * slot + 4, []
        up = _scale(item["earned"] + max(item["adjusted"], 0), largest, half)
        bars.append({"kind": "earned", "y": middle - up, "height": up, "value": item["earned"]})
        y = middle
        for kind in ("spent", "expired", "reversed", "adjusted"):
            value = max(-item[kind], 0) if kind == "adjusted" else item[kind]
            height = _scale(value, largest, half)
            bars.append({"kind": kind, "y": y, "height": height, "value": value})
            y += height
        columns.append({"x": x, "width": slot - 8, "label": item["month"][2:], "bars": bars})
    return {"width": WIDTH, "height": 2 * middle + 20, "middle": middle, "columns": columns}


def closing_chart(items: list[dict]) -> dict:
    """The closing balance of each month as a bar (a negative sum of balances drawn as none)."""
    slot, height = WIDTH // max(len(items), 1), 140
    largest = max([1] + [item["closing"] for item in items])
    bars = [{"x": number * slot + 4, "width": slot - 8, "height": max(_scale(item["closing"], largest, height), 0),
             "value": item["closing"], "label": item["month"][2:]} for number, item in enumerate(items)]
    return {"width": WIDTH, "height": height + 40, "base": height + 10, "bars": bars}


def usage_chart(usage: list[dict], tiers: tuple[str, ...]) -> dict:
    """Confirmed quantities by benefit over the months shown, a bar a benefit, its segments by tier."""
    totals: dict[str, dict[str, int]] = {}
    for line in usage:
        by_tier = totals.setdefault(line["benefit"], {})
        by_tier[line["tier"] or ""] = by_tier.get(line["tier"] or "", 0) + line["quantity"]
    largest = max([1] + [sum(by_tier.values()) for by_tier in totals.values()])
    order = {tier: index for index, tier in enumerate(tiers)}
    rows = []
    for number, (benefit, by_tier) in enumerate(sorted(totals.items())):
        x, segments = 200, []
        for tier in sorted(by_tier, key=lambda tier: order.get(tier, len(order))):
            width = _scale(by_tier[tier], largest, 300)
            segments.append({"x": x, "width": width, "tier": tier, "shade": order.get(tier, len(order)) % 4,
                             "value": by_tier[tier]})
            x += width
        rows.append({"y": 28 * number, "benefit": benefit, "segments": segments, "total": sum(by_tier.values()),
                     "end": x})
    return {"width": WIDTH, "height": 28 * len(rows) + 8, "rows": rows}


def heat_map(matrix: list[dict], tiers: tuple[str, ...]) -> dict:
    """The migration matrix as a grid: a row per tier at the start (and `none`), a column per tier at the end,
    each cell shaded by its share of the largest."""
    counts = {(cell["from_tier"], cell["to_tier"]): cell["customers"] for cell in matrix}
    largest = max([1] + list(counts.values()))
    rows = [reports.NONE, *tiers]
    cells = [{"row": row, "column": column, "x": 120 + 90 * j, "y": 30 + 36 * i, "count": counts.get((row, column), 0),
              "level": -(-HEAT_LEVELS * counts.get((row, column), 0) // largest)}
             for i, row in enumerate(rows) for j, column in enumerate(tiers)]
    return {"width": 120 + 90 * len(tiers) + 10, "height": 30 + 36 * len(rows) + 6, "rows": rows, "columns": tiers,
            "cells": cells}
