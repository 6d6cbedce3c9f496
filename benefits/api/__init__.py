"""HTTP blueprints by user group: they parse, authorise and serialise — nothing else."""
from flask import Flask

from . import context, errors


def init_app(app: Flask) -> None:
    api = errors.BenefitsApi(app, spec_kwargs={
        "components": {"securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}}},
        "security": [{"bearer": []}],
    })
    errors.register(app, api)
    app.before_request(context.authenticate)
    app.after_request(context.finish)
    app.after_request(security_headers)
    app.teardown_appcontext(context.close_session)

    from . import admin, app as app_api, ops, partner

    for module in (ops, app_api, partner, admin):
        api.register_blueprint(module.blp)


def security_headers(response):
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("X-Frame-Options", "DENY")
    response.headers.setdefault("Referrer-Policy", "no-referrer")
    response.headers.setdefault("Cache-Control", "no-store")
    return response
