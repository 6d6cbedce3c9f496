"""The web console under /console/: a partner's front desk and the admins' console, rendered on the server.

Every page is a Jinja template of ``templates/console/``, in English or 简体中文
(``i18n``), with its assets served by the service (``static/``): nothing is
loaded from another host, and a page works without JavaScript. A page's
actions call the same services as the API, under the signed-in key, so they
are authorised and audited as the API's (``pages``).
"""
from flask import Blueprint, Flask

from . import i18n

blp = Blueprint("console", __name__, url_prefix="/console", template_folder="templates", static_folder="static")

CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; form-action 'self'; "
       "frame-ancestors 'none'; base-uri 'none'; object-src 'none'")


def no_other_host(response):
    """Pages allow only the service itself, never a frame around them, and no copy kept by any cache."""
    response.headers["Content-Security-Policy"] = CSP
    response.headers["Cache-Control"] = "no-store"
    return response


blp.after_request(no_other_host)


def init_app(app: Flask) -> None:
    from . import admin, desk, docs, entry, reports, webhooks  # noqa: F401  (routes register on blp)

    app.register_blueprint(blp)
    app.register_blueprint(docs.blp)
    app.jinja_env.globals.update(_=i18n.gettext, languages=i18n.LANGUAGES)
