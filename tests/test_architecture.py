"""The package's layers, held to what docs/architecture.md says of them."""
import ast
from pathlib import Path

import pytest
import sqlalchemy as sa

PACKAGE = Path(__file__).resolve().parent.parent / "benefits"


def imported_modules(path: Path) -> set[str]:
    """Every module a file imports, relative imports resolved against the package."""
    tree = ast.parse(path.read_text("utf-8"))
    package = ".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts[:-1])
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module
            found.add(module)
            found.update(f"{module}.{alias.name}" for alias in node.names)
    return found


@pytest.mark.parametrize("layer", ["services", "rules", "schemas"])
def test_the_domain_layers_know_nothing_of_flask_or_the_api(layer):
    sources = sorted((PACKAGE / layer).rglob("*.py"))
    assert len(sources) >= 3
    offenders = {str(path.relative_to(PACKAGE)): sorted(name for name in imported_modules(path)
                                                        if name.split(".")[0] == "flask"
                                                        or name.startswith("benefits.api"))
                 for path in sources}
    assert {path: names for path, names in offenders.items() if names} == {}


def test_the_import_reader_sees_relative_imports():
    modules = imported_modules(PACKAGE / "api" / "context.py")
    assert "benefits.services.keys" in modules and "flask" in modules


def test_only_the_rules_engine_adapter_imports_durable_rules():
    importers = sorted(str(path.relative_to(PACKAGE)) for path in PACKAGE.rglob("*.py")
                       if any(name.split(".")[0] in ("durable", "durable_rules_engine")
                              for name in imported_modules(path)))
    assert importers == ["rules/engine.py"]


def test_transactions_end_in_the_unit_of_work_only():
    ends = sorted(f"{path.relative_to(PACKAGE)}:{node.lineno}" for path in PACKAGE.rglob("*.py")
                  for node in ast.walk(ast.parse(path.read_text("utf-8")))
                  if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                  and node.func.attr in ("commit", "rollback"))
    assert ends and all(place.startswith("db.py:") for place in ends), ends


def test_the_database_refuses_a_status_no_enum_names(app):
    with app.extensions["benefits"].engine.connect() as connection:
        with pytest.raises(sa.exc.IntegrityError):
            connection.execute(sa.text("UPDATE rule_versions SET status = 'bogus'"))
        connection.rollback()


def test_every_enum_check_of_the_models_exists_in_the_migrated_database(app):
    from benefits.models import Base

    wanted = {(table.name, constraint.name) for table in Base.metadata.tables.values()
              for constraint in table.constraints if isinstance(constraint, sa.CheckConstraint)}
    inspector = sa.inspect(app.extensions["benefits"].engine)
    present = {(table, check["name"]) for table, _ in wanted for check in inspector.get_check_constraints(table)}
    assert len(wanted) >= 8
    assert wanted <= present, wanted - present
