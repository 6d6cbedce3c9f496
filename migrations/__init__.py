"""Alembic migrations, shipped inside the wheel as ``benefits.migrations``."""
