"""Once started, the service's entry points freeze what start-up allocated: the garbage collector's passes
leave it out."""
import gc
import sys

import pytest

from benefits import cli, gunicorn


@pytest.fixture
def unfrozen():
    gc.unfreeze()
    yield
    gc.unfreeze()


def test_a_gunicorn_worker_freezes_what_start_up_allocated(unfrozen):
    gunicorn.post_worker_init(worker=None)
    assert gc.get_freeze_count() > 0


def test_the_command_line_freezes_what_its_imports_allocated(unfrozen, monkeypatch):
    monkeypatch.setattr(sys, "argv", ["benefits", "--help"])
    with pytest.raises(SystemExit) as exited:
        cli.main()
    assert exited.value.code == 0
    assert gc.get_freeze_count() > 0
