"""The durable_rules adapter: the one module that talks to the engine.

A compiled rule group is one durable_rules ruleset (a JSON ruleset definition).
One evaluation asserts one fact, collects the name of every rule whose action
the engine starts (a fact fires every rule that matches it; an ``$or`` fires
once per branch that holds, so names are de-duplicated), then retracts the
fact: nothing stays behind in the engine between two evaluations.

Each evaluation borrows a session id (sid) from a small pool, so that two
threads never share one and the engine keeps one empty state per sid ever in
use at once (at most the number of concurrent evaluations). Releasing a
ruleset deletes its states first: the engine's delete_ruleset leaves them
allocated (about 80 KB each). durable_rules 2.0.28 frees uninitialised pointers
when deleting a state none of whose rules ever fired (a segfault), so every new
state is primed: a fact that fires a rule of its own, which no evaluation fires.

We drive the engine's C API (``durable_rules_engine``, the module under
``durable.engine``) directly rather than through ``durable.engine.Host``: the
Host starts background dispatcher threads that could start the actions of a
fact another thread has just asserted, and wraps every action in Python
closures we do not need. The action of a rule is resolved by its name, which is
all an evaluation asks for.
"""
import itertools
import json
import threading

import durable_rules_engine as _engine

_ids = itertools.count(1)
_NOT_HANDLED = 1  # the engine's answer when no rule matched: nothing fired
_PRIME = "__prime"


class Released(RuntimeError):
    """The ruleset was released: its program fell out of use."""


class Ruleset:
    """One compiled durable_rules ruleset, safe to evaluate from several threads."""

    def __init__(self, name: str, definition: dict):
        self.name = f"{name}#{next(_ids)}"
        self.definition = definition
        compiled = {**definition, _PRIME: {"all": [{"m": {_PRIME: 1}}]}}
        self._handle = _engine.create_ruleset(self.name, json.dumps(compiled, ensure_ascii=False))
        self._lock = threading.Lock()
        self._sids: list[str] = []
        self._sids_made = 0
        self._in_flight = 0
        self._released = False

    def _borrow(self) -> str:
        with self._lock:
            if self._released:
                raise Released(self.name)
            self._in_flight += 1
            if self._sids:
                return self._sids.pop()
            self._sids_made += 1
            sid = str(self._sids_made)
        self._run(sid, {_PRIME: 1})
        return sid

    def _give_back(self, sid: str) -> None:
        with self._lock:
            self._sids.append(sid)
            self._in_flight -= 1
            if self._released and self._in_flight == 0:
                self._free()

    def fired(self, fact: dict) -> set[str]:
        """The names of the rules whose conditions hold for ``fact``."""
        sid = self._borrow()
        try:
            return self._run(sid, fact)
        finally:
            self._give_back(sid)

    def _run(self, sid: str, fact: dict) -> set[str]:
        text = json.dumps({**fact, "sid": sid, "id": "fact"}, ensure_ascii=False)
        code, state = _engine.assert_fact(self._handle, text)
        names = set()
        try:
            if code != _NOT_HANDLED:
                started = _engine.start_action_for_state(self._handle, state)
                message = started[1] if started else None
                while message:
                    names.add(message[2:message.index('"', 2)])
                    message = _engine.complete_and_start_action(self._handle, state)
        finally:
            _engine.retract_fact(self._handle, text)
        return names

    def leftovers(self) -> list:
        """Facts still held by the engine in this ruleset's sessions (none, between evaluations)."""
        with self._lock:
            sids = [str(n) for n in range(1, self._sids_made + 1)]
            return [fact for sid in sids for fact in json.loads(_engine.get_facts(self._handle, sid))]

    def release(self) -> None:
        """Free the engine's ruleset once no evaluation is using it."""
        with self._lock:
            if self._released:
                return
            self._released = True
            if self._in_flight == 0:
                self._free()

    def _free(self) -> None:
        if self._handle is not None:
            for sid in range(1, self._sids_made + 1):
                _engine.delete_state(self._handle, str(sid))
            _engine.delete_ruleset(self._handle)
            self._handle = None


_PATTERN_ERRORS = {
    "501": "it is not a pattern of the engine's dialect (no anchors; escape with %, as in %d)",
    **dict.fromkeys(("502", "503", "504", "505", "506"),
                    "it needs more automaton states than the engine allows; simplify it"),
    "507": "its alternatives conflict in the engine's automaton",
    "508": "it is not a pattern of the engine's dialect (unbalanced brackets or a misplaced repetition?)",
}


def pattern_error(pattern: str) -> str | None:
    """Why the engine refuses a ``matches`` pattern (its own regex dialect), or None.

    The engine compiles patterns when a ruleset is created, so a throwaway
    ruleset with the one pattern tells.
    """
    definition = {"r": {"all": [{"m": {"$mt": {"v": pattern}}}]}}
    try:
        handle = _engine.create_ruleset(f"pattern#{next(_ids)}", json.dumps(definition, ensure_ascii=False))
    except Exception as error:  # noqa: BLE001 - the engine raises a bare Exception with an error code
        code = str(error).rsplit(" ", 1)[-1]
        why = _PATTERN_ERRORS.get(code, "the engine refuses it")
        return f"durable_rules cannot compile this pattern: {why} (engine error {code})"
    _engine.delete_ruleset(handle)
    return None
