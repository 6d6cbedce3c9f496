"""The ceiling of the stack: a tiny Flask app served by the same gunicorn settings as the service.

``GET /hello`` answers a JSON object and touches nothing else; ``POST /insert``
reads a JSON body, inserts one row and commits; ``GET /read/<id>`` reads one row
by its key and answers it as JSON: both through the service's own engine settings
(``benefits.db.make_engine``: SQLite in WAL with IMMEDIATE transactions,
PostgreSQL through psycopg with the same pool), in the same database as the
service. ``GET /healthz`` tells the bench the server is up.

    BENCH_CEILING_DATABASE_URL=... gunicorn ... --pythonpath bench ceiling:app
"""
import os
from datetime import datetime, timezone

import sqlalchemy as sa
from flask import Flask, jsonify, request

from benefits.db import make_engine

metadata = sa.MetaData()
rows = sa.Table(
    "bench_ceiling", metadata,
    sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True),
    sa.Column("payload", sa.String(200), nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
)


READ_ROWS = 1000


def create_table(url: str) -> None:
    """The ceiling's table, holding ``READ_ROWS`` rows (ids 1 to READ_ROWS) for the reads."""
    engine = make_engine(url)
    metadata.create_all(engine)
    with engine.begin() as connection:
        connection.execute(rows.insert(), [{"payload": f"row {i}", "created_at": datetime.now(timezone.utc)}
                                           for i in range(READ_ROWS)])
    engine.dispose()


def create(url: str) -> Flask:
    app = Flask(__name__)
    engine = make_engine(url)

    @app.get("/hello")
    def hello():
        return jsonify({"hello": "world"})

    @app.get("/healthz")
    def healthz():
        return jsonify({"ok": True})

    @app.post("/insert")
    def insert():
        body = request.get_json()
        with engine.begin() as connection:
            new_id = connection.execute(rows.insert().values(
                payload=str(body["payload"])[:200], created_at=datetime.now(timezone.utc))).inserted_primary_key[0]
        return jsonify({"id": new_id}), 201

    @app.get("/read/<int:row_id>")
    def read(row_id):
        with engine.connect() as connection:
            row = connection.execute(sa.select(rows).where(rows.c.id == row_id)).mappings().one()
        return jsonify({"id": row["id"], "payload": row["payload"], "created_at": row["created_at"].isoformat()})

    return app


if os.environ.get("BENCH_CEILING_DATABASE_URL"):
    app = create(os.environ["BENCH_CEILING_DATABASE_URL"])
