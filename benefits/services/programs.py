"""The compiled programme of each rule version, per process.

A request asks for the active version once and evaluates wholly under it. The
active version's id is re-read from the database at most every
``refresh_seconds``, so every process serves a newly activated version within
that time. Programs are compiled lazily in the process that uses them (safe
after a pre-fork) and released once they fall out of the small cache; a
program leased for a longer job (a simulation) is released only when the lease
ends, so eviction never pulls it from under the job.
"""
import threading
import time
from collections import OrderedDict
from contextlib import contextmanager

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..errors import NoActiveVersion, NotFound
from ..models import RuleVersion
from ..rules import Program, compile_program


class Programs:
    def __init__(self, refresh_seconds: float = 1.0, keep: int = 4):
        self.refresh_seconds = refresh_seconds
        self.keep = keep
        self._lock = threading.Lock()
        self._compiled: OrderedDict[int, Program] = OrderedDict()
        self._leases: dict[Program, int] = {}
        self._evicted: set[Program] = set()  # out of the cache, released when their last lease ends
        self._active_id: int | None = None
        self._checked_at = float("-inf")

    def active(self, session: Session) -> tuple[int, Program]:
        """The active version's id and program; refused when no version is active."""
        if time.monotonic() - self._checked_at >= self.refresh_seconds:
            self._active_id = session.execute(
                select(RuleVersion.id).where(RuleVersion.status == "active")).scalar_one_or_none()
            self._checked_at = time.monotonic()
        if self._active_id is None:
            raise NoActiveVersion()
        return self._active_id, self.get(session, self._active_id)

    def forget_active(self) -> None:
        """Re-read the active version on the next request (after this process activated one)."""
        self._checked_at = float("-inf")

    @contextmanager
    def lease(self, session: Session, version_id: int):
        """A version's program, kept compiled until the block ends (even if it falls out of the cache)."""
        program = self.get(session, version_id, _lease=True)
        try:
            yield program
        finally:
            with self._lock:
                self._leases[program] -= 1
                if self._leases[program] == 0:
                    del self._leases[program]
                    if program in self._evicted:
                        self._evicted.discard(program)
                        program.release()

    def get(self, session: Session, version_id: int, *, _lease: bool = False) -> Program:
        with self._lock:
            program = self._compiled.get(version_id)
            if program is not None:
                self._compiled.move_to_end(version_id)
                return self._held(program, _lease)
        document = session.execute(
            select(RuleVersion.document).where(RuleVersion.id == version_id)).scalar_one_or_none()
        if document is None:
            raise NotFound(f"no rule version {version_id}")
        program = compile_program(document, label=str(version_id))
        with self._lock:
            if version_id in self._compiled:
                program.release()
                return self._held(self._compiled[version_id], _lease)
            self._compiled[version_id] = program
            while len(self._compiled) > self.keep:
                evicted_id, evicted = next(iter(self._compiled.items()))
                if evicted_id == self._active_id:
                    self._compiled.move_to_end(evicted_id)
                    continue
                del self._compiled[evicted_id]
                if evicted in self._leases:
                    self._evicted.add(evicted)
                else:
                    evicted.release()
            return self._held(program, _lease)

    def _held(self, program: Program, lease: bool) -> Program:
        if lease:
            self._leases[program] = self._leases.get(program, 0) + 1
        return program
