"""The compiled programme of each rule version, per process, handed out only on a lease.

A request leases the active version once and evaluates wholly under it. The
active version's id is re-read from the database at most every
``refresh_seconds``, so every process serves a newly activated version within
that time. Programs are compiled lazily in the process that uses them (safe
after a pre-fork) and released once they fall out of the small cache, but never
while leased: eviction never pulls a program from under the request or the
simulation using it.
"""
import threading
import time
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..errors import NoActiveVersion, NotFound
from ..models import RuleVersion
from ..rules import Program, compile_program
from . import rule_versions


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

    def active_id(self, session: Session) -> int:
        """The active version's id, re-read at most every ``refresh_seconds``; refused when none is active."""
        if time.monotonic() - self._checked_at >= self.refresh_seconds:
            self._active_id = rule_versions.active_id(session)
            self._checked_at = time.monotonic()
        if self._active_id is None:
            raise NoActiveVersion()
        return self._active_id

    def active(self, session: Session):
        """A lease on the active version's program."""
        return self.lease(session, self.active_id(session))

    @contextmanager
    def lease(self, session: Session, version_id: int) -> Iterator[Program]:
        """A version's program, kept compiled until the block ends (even if it falls out of the cache)."""
        program = self._get(session, version_id)
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

    def release(self) -> None:
        """Release every compiled program no lease holds (the others as their leases end): the app is done."""
        with self._lock:
            for program in self._compiled.values():
                if program in self._leases:
                    self._evicted.add(program)
                else:
                    program.release()
            self._compiled.clear()

    def _get(self, session: Session, version_id: int) -> Program:
        """The version's program, compiled if need be, with one more lease on it."""
        with self._lock:
            program = self._compiled.get(version_id)
            if program is not None:
                self._compiled.move_to_end(version_id)
                return self._leased(program)
        document = session.execute(
            select(RuleVersion.document).where(RuleVersion.id == version_id)).scalar_one_or_none()
        if document is None:
            raise NotFound(f"no rule version {version_id}")
        program = compile_program(document, label=str(version_id), version=version_id)
        with self._lock:
            if version_id in self._compiled:
                program.release()
                return self._leased(self._compiled[version_id])
            self._compiled[version_id] = program
            self._evict()
            return self._leased(program)

    def _evict(self) -> None:
        """Drop the least recently used programs beyond ``keep`` (never the active one); the caller holds the lock."""
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

    def _leased(self, program: Program) -> Program:
        self._leases[program] = self._leases.get(program, 0) + 1
        return program
