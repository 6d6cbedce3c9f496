"""The wheel holds everything an installation needs: built, installed in a fresh virtualenv, migrated from a
directory that is not the repository's."""
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from conftest import DEFAULT_RULES
from servers import database

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Path:
    """The project's wheel, installed (with its dependencies) in a new virtualenv: that venv's bin folder."""
    work = tmp_path_factory.mktemp("wheel")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(work), str(ROOT)],
                   check=True, capture_output=True, timeout=300)
    wheel = next(work.glob("*.whl"))
    names = zipfile.ZipFile(wheel).namelist()
    assert "benefits/migrations/env.py" in names and "benefits/programmes/default.yaml" in names
    subprocess.run([sys.executable, "-m", "venv", str(work / "venv")], check=True, timeout=120)
    subprocess.run([str(work / "venv" / "bin" / "pip"), "install", "-q", str(wheel)], check=True,
                   capture_output=True, timeout=600)
    return work / "venv" / "bin"


def test_every_package_of_the_tree_is_in_the_wheel(installed):
    site = next((installed.parent / "lib").glob("python3*/site-packages"))
    in_tree = {str(path.parent.relative_to(ROOT)) for path in (ROOT / "benefits").rglob("__init__.py")}
    assert in_tree and all((site / package / "__init__.py").exists() for package in in_tree), in_tree


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_an_installed_wheel_migrates_and_loads_the_programme_from_any_directory(installed, backend, tmp_path):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {name: value for name, value in os.environ.items() if not name.startswith("BENEFITS_")}
    with database(backend, tmp_path) as url:
        if backend == "postgresql":
            env["BENEFITS_DATABASE_URL"] = url  # else the default: instance/benefits.db under the directory

        def benefits(*args: str) -> str:
            done = subprocess.run([str(installed / "benefits"), *args], cwd=elsewhere, env=env, capture_output=True,
                                  text=True, timeout=120)
            assert done.returncode == 0, done.stderr
            return done.stdout

        assert "up to date" in benefits("db", "upgrade")
        assert "loaded (active)" in benefits("rules", "load", "--activate")
        assert benefits("rules", "active").strip() == "1"
        assert benefits("rules", "export", "1") == DEFAULT_RULES.read_text(encoding="utf-8")
    if backend == "sqlite":
        assert (elsewhere / "instance" / "benefits.db").exists()
