"""The admins' API (`/admin/v1`, `admin` keys)."""
from ..blueprints import Blueprint

blp = Blueprint("admin", __name__, url_prefix="/admin/v1", description="The bank's admins")

from . import adjustments, audit, fx, keys, partners, reports, rule_versions, webhooks  # noqa: E402,F401  (routes register on blp)
