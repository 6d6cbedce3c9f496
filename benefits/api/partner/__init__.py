"""The partners' API (`/partner/v1`, `partner` keys): passes and redemptions."""
from ..blueprints import Blueprint

blp = Blueprint("partner", __name__, url_prefix="/partner/v1", description="Partner front desks")

from . import passes, redemptions, statements  # noqa: E402,F401  (routes register on blp)
