"""VIP Benefits: a rules-engine benefits and loyalty points service.

``create_app`` builds the Flask application: configuration from the
environment, the database, the per-process rule programs, and the API.
Importing the package itself imports nothing else, so that gunicorn's settings
(``benefits.gunicorn``) are read before any metric is created.
"""


def create_app(config=None, *, http: bool = True, **overrides):
    """The application; without ``http`` (the command line) its API and console are not built, which is most
    of the time it takes to start."""
    from flask import Flask

    from . import cli
    from .config import Config, instance_dir
    from .db import make_engine, make_session_factory
    from .encryption import Encryption
    from .extension import Extension
    from .jsontext import JsonProvider
    from .services.keys import KeyCache
    from .services.programs import Programs

    config = config or Config(**overrides)
    app = Flask(__name__, instance_relative_config=False)
    app.config.from_mapping(config.as_flask())
    app.config.update(
        API_TITLE="VIP Benefits",
        API_VERSION="v1",
        OPENAPI_VERSION="3.0.3",
        OPENAPI_URL_PREFIX="/",
        OPENAPI_JSON_PATH="openapi.json",
    )
    app.json = JsonProvider(app)
    engine = make_engine(config.DATABASE_URL)
    app.extensions["benefits"] = Extension(
        config=config, engine=engine, sessions=make_session_factory(engine),
        programs=Programs(refresh_seconds=config.RULES_REFRESH_SECONDS), keys=KeyCache(config.KEY_CACHE_SECONDS),
        encryption=Encryption(config.ENCRYPTION_KEYS, instance_dir()))
    if http:
        from . import api, console

        api.init_app(app)
        console.init_app(app)
    cli.init_app(app)
    return app
