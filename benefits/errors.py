"""Domain exceptions.

Services raise these; the API maps them to HTTP once (``benefits.api.errors``).
Each carries the HTTP status and the stable machine-readable ``reason`` the
contract names, so a service never imports Flask.
"""


class DomainError(Exception):
    status = 400
    reason = "bad_request"
    keep_changes = False  # commit what the transaction wrote before refusing

    def __init__(self, message=None, *, errors=None):
        super().__init__(message or self.__doc__ or self.reason)
        self.message = message or (self.__doc__ or self.reason).strip()
        self.errors = errors

    @property
    def headers(self) -> dict:
        """HTTP headers the answer carries (RFC 9110: a challenge on 401, a wait on 429)."""
        return {}


class Invalid(DomainError):
    """The request is not valid."""

    status = 422
    reason = "invalid"

    def __init__(self, errors, message=None):
        """``errors`` is a list of ``{"path": ..., "message": ...}``."""
        super().__init__(message or "; ".join(f"{e['path']}: {e['message']}" for e in errors[:5]), errors=errors)


class RuleDocumentInvalid(Invalid):
    """The rule document is not valid."""

    reason = "invalid_rule_document"


class PatternTooComplex(RuleDocumentInvalid):
    """A `matches` pattern needs more of the engine's automaton than it allows."""

    reason = "pattern_too_complex"


class OccurredInFuture(Invalid):
    """The event is dated later than the server's clock allows."""

    reason = "occurred_in_future"


class NoFxRate(Invalid):
    """No exchange rate for the event's currency is in force at its `occurred_at`."""

    reason = "no_fx_rate"


class BeforeCutover(Invalid):
    """The day asked for is before the report's data began to be kept."""

    reason = "before_cutover"


class Unauthenticated(DomainError):
    """A valid API key is required."""

    status = 401
    reason = "unauthenticated"

    @property
    def headers(self) -> dict:
        return {"WWW-Authenticate": 'Bearer realm="benefits"'}


class Forbidden(DomainError):
    """This key may not do this."""

    status = 403
    reason = "forbidden"


class FourEyes(Forbidden):
    """A rule version (or a manual adjustment) must be approved by an admin other than its author."""

    reason = "four_eyes"


class NotFound(DomainError):
    status = 404
    reason = "not_found"


class PassNotFound(NotFound):
    """No such pass, or it expired. The failed look-up it counts is kept."""

    keep_changes = True


class Conflict(DomainError):
    status = 409
    reason = "conflict"


class EventConflict(Conflict):
    """An event with this id was recorded with a different body."""

    reason = "event_conflict"


class IdempotencyConflict(Conflict):
    """This Idempotency-Key was used with a different request."""

    reason = "idempotency_conflict"


class InsufficientPoints(Conflict):
    """The spendable balance does not cover the cost."""

    reason = "insufficient_points"


class QuotaExhausted(Conflict):
    """No quota remains for this benefit in the current period."""

    reason = "quota_exhausted"


class HoldExpired(Conflict):
    """The hold lapsed before it was confirmed."""

    reason = "hold_expired"
    keep_changes = True


class AlreadyCancelled(Conflict):
    """The redemption was cancelled."""

    reason = "already_cancelled"


class NotEligible(Conflict):
    """The customer is not eligible for this."""

    reason = "not_eligible"


class NotApproved(Conflict):
    """Only an approved version can be activated."""

    reason = "not_approved"


class NoActiveVersion(DomainError):
    """No rule version is active: load one with `benefits rules load PATH --activate`."""

    status = 503
    reason = "no_active_version"


class RateLimited(DomainError):
    """Too many failed look-ups; try again later."""

    status = 429
    reason = "rate_limited"

    def __init__(self, message=None, *, retry_after: int = 60):
        super().__init__(message)
        self.retry_after = retry_after

    @property
    def headers(self) -> dict:
        return {"Retry-After": str(self.retry_after)}
