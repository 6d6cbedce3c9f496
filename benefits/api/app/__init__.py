"""The app backend's API (`/api/v1`, `app` keys)."""
from ..blueprints import Blueprint

blp = Blueprint("app", __name__, url_prefix="/api/v1", description="The bank's app backend")

from . import benefits, customers, events  # noqa: E402,F401  (routes register on blp)
