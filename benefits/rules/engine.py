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
import select
import subprocess
import sys
import threading
import time

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


# ---------------------------------------------------------------- checking `matches` patterns

_DIALECT = "it is not a pattern of the engine's dialect (no anchors; escape with %, as in %d)"
_TOO_COMPLEX = "it needs more automaton states than the engine allows; simplify it"
_PATTERN_ERRORS = {
    "501": _DIALECT,
    **dict.fromkeys(("502", "503", "504", "505", "506"), _TOO_COMPLEX),
    "507": "its alternatives conflict in the engine's automaton",
    "508": "it is not a pattern of the engine's dialect (unbalanced brackets or a misplaced repetition?)",
}
PATTERN_TIMEOUT = 3.0  # seconds one pattern may take to compile
PATTERN_BUDGET = 20.0  # seconds all the patterns of one document may take
PATTERN_ADDRESS_SPACE = 512 * 2**20  # the checking process's RLIMIT_AS: the engine reserves up to 256 MiB
PATTERN_RESIDENT = 4 * 2**20  # what one accepted pattern may leave behind: the engine never frees a compiled one
_CACHE_SIZE = 4096
_verdicts: dict[str, str | None] = {}
_verdicts_lock = threading.Lock()

# The child compiles each pattern of its standard input (one JSON string a line) in a throwaway ruleset and
# answers a line each: "ok <bytes left resident>", "memory", or "code <engine error>". The engine keeps the
# address space a compilation reserved, so after a refusal, a costly pattern or half its address space the
# child says "fresh" and exits: a new child takes the rest. It may also be killed by its limits, crash (the
# engine overflows on some patterns) or time out: the parent then knows on which pattern.
_CHILD = r"""
import json, os, resource, sys
limit, cpu, costly = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu))
import durable_rules_engine as engine
page = os.sysconf("SC_PAGE_SIZE")
def memory():
    with open("/proc/self/statm") as statm:
        size, resident = statm.read().split()[:2]
    return int(size) * page, int(resident) * page
for number, line in enumerate(sys.stdin):
    definition = json.dumps({"r": {"all": [{"m": {"$mt": {"v": json.loads(line)}}}]}}, ensure_ascii=False)
    before = memory()[1]
    try:
        engine.delete_ruleset(engine.create_ruleset("pattern%d" % number, definition))
        size, resident = memory()
        verdict = "ok %d" % (resident - before)
        done = resident - before > costly or size > limit // 2
    except MemoryError:
        verdict, done = "memory", True
    except Exception as error:
        verdict, done = "code " + str(error).rsplit(" ", 1)[-1], True
    sys.stdout.write(verdict + ("\nfresh\n" if done else "\n"))
    sys.stdout.flush()
    if done:
        break
"""


def _message(verdict: str) -> str | None:
    kind, _, detail = verdict.partition(" ")
    if kind == "ok" and int(detail) <= PATTERN_RESIDENT:
        return None
    if kind == "code":
        why, what = _PATTERN_ERRORS.get(detail, "the engine refuses it"), f"engine error {detail}"
    elif kind == "ok":
        why, what = _TOO_COMPLEX, (f"compiling it leaves {int(detail) / 2**20:.1f} MB behind, more than "
                                   f"{PATTERN_RESIDENT // 2**20} MB")
    elif kind == "memory":
        why, what = _TOO_COMPLEX, f"it needs more than {PATTERN_ADDRESS_SPACE // 2**20} MB to compile"
    elif kind == "timeout":
        why, what = _TOO_COMPLEX, f"it takes more than {PATTERN_TIMEOUT:g} s to compile"
    else:
        why, what = _TOO_COMPLEX, "the engine fails on it"
    return f"durable_rules cannot compile this pattern: {why} ({what})"


def _compile_in_child(patterns: list[str], deadline: float) -> dict[str, str]:
    """Each pattern's verdict, from as few child processes as the patterns allow."""
    verdicts: dict[str, str] = {}
    pending = list(patterns)
    while pending:
        if time.monotonic() >= deadline:
            verdicts.update(dict.fromkeys(pending, "timeout"))
            break
        child = subprocess.Popen(
            [sys.executable, "-c", _CHILD, str(PATTERN_ADDRESS_SPACE), str(int(PATTERN_TIMEOUT) + 1),
             str(PATTERN_RESIDENT)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        try:
            child.stdin.write("".join(json.dumps(p) + "\n" for p in pending).encode())
            child.stdin.close()
            while pending:
                ready, _, _ = select.select([child.stdout], [], [],
                                            max(0, min(PATTERN_TIMEOUT, deadline - time.monotonic())))
                line = child.stdout.readline().decode().strip() if ready else ""
                if line == "fresh":
                    break
                verdicts[pending.pop(0)] = line or ("crashed" if ready else "timeout")
                if not line:
                    break
        except BrokenPipeError:
            verdicts[pending.pop(0)] = "crashed"
        finally:
            child.kill()
            child.wait()
            child.stdout.close()
    return verdicts


def check_patterns(patterns) -> None:
    """Learn the engine's verdict on every pattern not yet known, compiling them in a child process.

    The engine keeps what compiling a pattern allocates (about 17 MB for one it
    refuses) and can crash on some patterns, so a pattern is compiled here only
    in a short-lived process under an address-space limit and a deadline.
    """
    unknown = [pattern for pattern in dict.fromkeys(patterns) if pattern not in _verdicts]
    if not unknown:
        return
    verdicts = _compile_in_child(unknown, time.monotonic() + PATTERN_BUDGET)
    with _verdicts_lock:
        if len(_verdicts) + len(verdicts) > _CACHE_SIZE:
            _verdicts.clear()
        _verdicts.update({pattern: _message(verdict) for pattern, verdict in verdicts.items()})


def pattern_error(pattern: str) -> str | None:
    """Why the engine refuses a ``matches`` pattern (its own regular-expression dialect), or None."""
    check_patterns([pattern])
    return _verdicts[pattern] if pattern in _verdicts else _message("timeout")


def is_too_complex(message: str) -> bool:
    """Whether a validation message is a pattern refused for the size of its automaton."""
    return _TOO_COMPLEX in message
