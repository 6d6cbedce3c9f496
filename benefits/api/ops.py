"""Health and readiness, for load balancers and orchestrators (no key needed)."""
from flask import Response, current_app
from flask.views import MethodView
from .blueprints import Blueprint
from marshmallow import fields
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from .. import db, metrics
from ..errors import DomainError
from ..schemas import Strict
from ..services import webhooks
from . import context
from .context import reads

blp = Blueprint("ops", __name__, url_prefix="/", description="Operations")


class HealthOut(Strict):
    status = fields.String()
    rule_version = fields.Integer(allow_none=True)


class NotReady(DomainError):
    status = 503
    reason = "not_ready"


@blp.route("/healthz")
class Health(MethodView):
    @blp.doc(security=[])
    @blp.response(200, HealthOut)
    def get(self):
        """The process is up"""
        return {"status": "ok", "rule_version": None}


@blp.route("/metrics")
class Metrics(MethodView):
    @blp.doc(summary="Prometheus metrics (an admin key as the bearer token)", responses={
        200: {"description": "Prometheus' text format", "content": {"text/plain": {"schema": {"type": "string"}}}}})
    def get(self):
        """Prometheus metrics: requests by route and status, events, points, redemptions, rules, the audit tip,
        the outbox backlog"""
        try:
            metrics.observe_backlog(db.run(context.extension().sessions,
                                           lambda s: webhooks.backlog(s, context.now()), write=False, retries=0))
        except SQLAlchemyError as error:  # the other metrics are still worth a scrape
            current_app.logger.warning("metrics: the outbox backlog could not be read: %s", error)
        body, content_type = metrics.exposition()
        return Response(body, content_type=content_type)


@blp.route("/readyz")
class Ready(MethodView):
    @reads
    @blp.doc(security=[])
    @blp.response(200, HealthOut)
    def get(self):
        """The database is reachable and a rule version is active and compiled"""
        try:
            context.session().execute(text("SELECT 1"))
        except Exception as error:  # noqa: BLE001 - any database failure means not ready
            current_app.logger.warning("readyz: database unreachable: %s", error)
            raise NotReady("The database is not reachable.") from None
        return {"status": "ready", "rule_version": context.program().version}
