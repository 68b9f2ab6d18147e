"""Two people (or a person and the worker) acting on one incident at the same moment,
through the real HTTP stack: gunicorn with sync workers (`served.gunicorn`) on the test
database, SQLite or PostgreSQL (DESIGN.md, "One command, one transaction" and "Locking on
PostgreSQL").

Each pair in PAIRS meets on an incident brought to a state in-process (the engine's own
commands; the SLA clocks of the "overdue" states were started hours or days ago, so their
timers are due by the wall clock the server reads). Then two threads wait at a barrier
and fire at once, each as its own person: the JSON API with an API token (claim,
complete, messages), the desk's forms in a logged-in browser session with its CSRF token
(give back and assign, which the API does not offer), or the worker's per-instance step
in this process (`Runtime.fire_due_timers(..., skip_locked=True)`, what `Worker.sweep`
runs for each due instance). One side starts up to JITTER_S later, chosen at random, so
that both orders and the moment one waits for the other's lock all come up.

After every trial:

- no answer is a 5xx (or an exception in the worker);
- the pair's rule holds: ONE (exactly one wins, the other is refused with a 409 that says
  why), BOTH, or FIRST / SECOND (that one always wins, the other may be refused);
- a claim (or give back, or assignment) that won leaves the task with that person, when
  the other side does not move claims and the task is still open;
- the incident record agrees with the process: the open `human_tasks` rows are the user
  tasks the workflow restored from `instances.state` waits on (`projection.waiting_on`),
  `incidents.assignee` and `assignment_group` are those of its open desk task,
  `incidents.state` is the workflow's, and the `timers` rows are its armed timers;
- `deskflow replay` of the incident says identical, and `engine.audit.verify` of its
  history is clean.

Every pair runs TRIALS times (DESKFLOW_RACE_TRIALS, default 15); each test prints how
many trials ran, in how many both requests were in flight at once, how each side fared,
and fails with every problem found.
"""

from __future__ import annotations

import os
import random
import re
import threading
import time
import traceback
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from engine import clock
from engine.audit.append_only import maintenance
from engine.audit.chains import verify
from engine.audit.replay import Replayer
from engine.desk import accounts, api_tokens, directory, knowledge_base
from engine.errors import Conflict
from engine.instances import projection
from engine.instances.locks import facts
from engine.instances.runtime import Runtime
from engine.process import definitions
from engine.spiff import CommandContext, load_workflow
from engine.store.db import Database
from engine.store.models import Base, HumanTask, Incident, Instance, Timer
from handlers.catalog import catalog

from . import served

TRIALS = int(os.environ.get("DESKFLOW_RACE_TRIALS", "15"))
JITTER_S = 0.010
PASSWORD = "correct horse battery"
BROWSERS = ("tina", "sam", "nora")  # who gives back and assigns, on the desk's pages
API_USERS = ("alice", "tina", "tom", "ned")
BACKEND = "postgresql" if os.environ.get("DESKFLOW_TEST_DATABASE_URL") else "sqlite"

# What the people send.
REPORT = {
    "caller": "alice",
    "channel": "portal",
    "short_description": "VPN keeps disconnecting when working from home",
    "description": "Since Monday the VPN drops every few minutes.",
    "is_broken": True,
    "impact": "high",  # P2: a 24x7 calendar, so the SLA timers run on the wall clock
    "urgency": "medium",
}
CATEGORIZE = {"category": "network", "subcategories": ["vpn"]}
ESCALATE = {"resolved": False, "work_notes": "Needs the network team."}
RESOLVE = {
    "resolved": True,
    "resolution_code": "solved-remotely",
    "resolution_notes": "Reinstalled the VPN client.",
}
FIX = {"resolution_code": "solved-permanently", "resolution_notes": "Fixed the gateway."}
HOLD = {"reason": "waiting for the vendor's answer", "waiting_for": "vendor"}
RESUME = {"note": "the vendor answered"}
REPRIORITIZE = {"impact": "high", "urgency": "high", "reason": "the whole floor is down"}
REPLY = {"message": "Any news? It dropped again."}
CONFIRM = {"comment": "Works now, thanks."}
REOPEN = {"reason": "It dropped again this morning."}

# A refusal must say why: the task is gone or taken, or the process does not wait for it.
CLEAR_REFUSAL = re.compile(
    r"took this task already|is not open|completed by someone else|is not waiting for"
    r"|is closed|changed since you loaded it"
)

WON, REFUSED, FAILED = "won", "refused", "failed"

# Under pytest-xdist with --dist loadgroup the pairs stay together, on one server.
pytestmark = pytest.mark.xdist_group("races")


# --- setting the scene, in-process ------------------------------------------------------


class Scene:
    """The engine's commands that bring an incident to where a pair meets."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.db = runtime.db

    def report(self) -> str:
        return self.runtime.start_incident(dict(REPORT), actor="alice")

    def desk_task(self, number: str) -> HumanTask | None:
        """The open task of the Service Desk or Specialist Support lane."""
        with self.db.reading() as session:
            return session.scalars(
                select(HumanTask)
                .join(Incident, Incident.id == HumanTask.incident_id)
                .where(Incident.number == number, HumanTask.lane != "User")
            ).first()

    def complete(self, number: str, data: dict, actor: str) -> None:
        task = self.desk_task(number)
        assert task is not None, f"{number} has no open desk task"
        self.runtime.complete_task(task.id, data, actor=actor)

    def assign(self, number: str, to: str, actor: str) -> None:
        task = self.desk_task(number)
        assert task is not None, f"{number} has no open desk task"
        self.runtime.claim_task(task.id, to, actor=actor)

    def say(self, number: str, message: str, payload: dict, actor: str) -> None:
        self.runtime.send_message(number, message, payload, actor=actor)


def diagnosing(scene: Scene) -> str:
    number = scene.report()
    scene.complete(number, CATEGORIZE, "tina")
    return number


def diagnosing_held_by_tina(scene: Scene) -> str:
    number = diagnosing(scene)
    scene.assign(number, "tina", "tina")
    return number


def investigating_held_by_ned(scene: Scene) -> str:
    number = diagnosing(scene)
    scene.complete(number, ESCALATE, "tina")
    scene.assign(number, "ned", "nora")
    return number


def on_hold(scene: Scene) -> str:
    number = diagnosing(scene)
    scene.say(number, "hold", HOLD, "tina")
    return number


def resolved(scene: Scene) -> str:
    number = diagnosing(scene)
    scene.complete(number, RESOLVE, "tina")
    return number


@dataclass(frozen=True)
class State:
    name: str
    build: Callable[[Scene], str]
    ago: timedelta = timedelta(0)  # when the scene was played (its SLA clocks started)


DIAGNOSING = State("Diagnose open", diagnosing)
DIAGNOSE_HELD = State("Diagnose held by tina", diagnosing_held_by_tina)
INVESTIGATING = State("Investigate held by ned", investigating_held_by_ned)
ON_HOLD = State("on hold", on_hold)
RESOLVED = State("resolved, waiting for the caller", resolved)
# Opened 4.5 h ago at P2 (8 h, 24x7): the status update (hourly) and the SLA warning (at
# 50 %, 4 h) are due, the escalation (75 %) and the breach not yet.
OVERDUE = State("Diagnose open, SLA timers due", diagnosing, timedelta(hours=4, minutes=30))
# Resolved 3 days and 2 hours ago: closing it without an answer (after 3 days) is due.
AUTO_CLOSE_DUE = State("resolved, auto-close due", resolved, timedelta(days=3, hours=2))


@dataclass(frozen=True)
class Trial:
    number: str
    instance_id: int
    task: str | None  # the open desk task when the race starts


# --- what the two sides do --------------------------------------------------------------


@dataclass(frozen=True)
class Outcome:
    label: str
    result: str  # WON, REFUSED or FAILED
    detail: str
    started: float
    ended: float


@dataclass(frozen=True)
class Act:
    label: str
    run: Callable[[Stack, Trial], Outcome]
    moves_claim: bool = False  # claim, give back, assign: who holds the task afterwards
    holder: str | None = None  # ... when it won


def claim(who: str) -> Act:
    label = f"claim ({who})"
    return Act(
        label,
        lambda s, t: s.api(label, who, f"/api/tasks/{t.task}/claim", {}),
        moves_claim=True,
        holder=who,
    )


def complete(what: str, who: str, data: dict) -> Act:
    label = f"{what} ({who})"
    return Act(
        label, lambda s, t: s.api(label, who, f"/api/tasks/{t.task}/complete", {"data": data})
    )


def escalate(who: str) -> Act:
    """Complete Diagnose with "not resolved": the specialist group gets it."""
    return complete("escalate", who, ESCALATE)


def say(message: str, who: str, payload: dict) -> Act:
    label = f"{message} ({who})"
    body = {"message": message, "payload": payload}
    return Act(label, lambda s, t: s.api(label, who, f"/api/incidents/{t.number}/messages", body))


def give_back(who: str) -> Act:
    label = f"give back ({who})"
    return Act(
        label,
        lambda s, t: s.form(label, who, f"/desk/tasks/{t.task}/unclaim"),
        moves_claim=True,
        holder=None,
    )


def assign(who: str, to: str) -> Act:
    label = f"assign to {to} ({who})"
    return Act(
        label,
        lambda s, t: s.form(label, who, f"/desk/tasks/{t.task}/assign", assignee=to),
        moves_claim=True,
        holder=to,
    )


TIMERS = Act("timers fire (worker)", lambda s, t: s.fire_timers(t))

tina_claims, tom_claims = claim("tina"), claim("tom")
tina_escalates, tom_escalates = escalate("tina"), escalate("tom")
tom_resolves = complete("resolve", "tom", RESOLVE)
ned_resolves = complete("resolve", "ned", FIX)
tina_gives_back = give_back("tina")
sam_assigns_tom, nora_assigns_nick = assign("sam", "tom"), assign("nora", "nick")
alice_replies = say("user_reply", "alice", REPLY)
alice_confirms, alice_reopens = say("confirm", "alice", CONFIRM), say("reopen", "alice", REOPEN)
tina_holds, tom_holds = say("hold", "tina", HOLD), say("hold", "tom", HOLD)
tina_resumes = say("resume", "tina", RESUME)
tom_reprioritizes = say("reprioritize", "tom", REPRIORITIZE)

ONE, BOTH, FIRST, SECOND = "one wins", "both win", "first wins", "second wins"


@dataclass(frozen=True)
class Pair:
    id: str
    state: State
    first: Act
    second: Act
    rule: str


PAIRS = (
    # Diagnose open, nobody holds it. A claim that comes first does not stop a completion
    # (a claim is no engine step: the task stays open); one that comes second is refused.
    Pair("claim-claim", DIAGNOSING, tina_claims, tom_claims, ONE),
    Pair("claim-complete", DIAGNOSING, tom_claims, tina_escalates, SECOND),
    Pair("complete-complete", DIAGNOSING, tina_escalates, tom_resolves, ONE),
    Pair("escalate-reply", DIAGNOSING, tina_escalates, alice_replies, BOTH),
    Pair("escalate-hold", DIAGNOSING, tina_escalates, tom_holds, SECOND),
    Pair("escalate-reprioritize", DIAGNOSING, tina_escalates, tom_reprioritizes, SECOND),
    Pair("claim-hold", DIAGNOSING, tom_claims, tina_holds, SECOND),
    Pair("claim-reply", DIAGNOSING, tom_claims, alice_replies, BOTH),
    # Diagnose held by tina.
    Pair("give_back-claim", DIAGNOSE_HELD, tina_gives_back, tom_claims, FIRST),
    Pair("assign-claim", DIAGNOSE_HELD, sam_assigns_tom, tom_claims, FIRST),
    Pair("give_back-complete", DIAGNOSE_HELD, tina_gives_back, tom_escalates, SECOND),
    Pair("assign-complete", DIAGNOSE_HELD, sam_assigns_tom, tina_escalates, SECOND),
    # Investigate and resolve, held by the specialist ned.
    Pair("complete-assign", INVESTIGATING, ned_resolves, nora_assigns_nick, FIRST),
    Pair("complete-hold", INVESTIGATING, ned_resolves, tina_holds, ONE),
    Pair("complete-reply", INVESTIGATING, ned_resolves, alice_replies, BOTH),
    Pair("complete-reprioritize", INVESTIGATING, ned_resolves, tom_reprioritizes, ONE),
    # On hold: the caller's answer and a technician's resume both end the hold.
    Pair("resume-reply", ON_HOLD, tina_resumes, alice_replies, SECOND),
    Pair("resume-reprioritize", ON_HOLD, tina_resumes, tom_reprioritizes, FIRST),
    # Resolved: the caller answers (in two tabs).
    Pair("confirm-reopen", RESOLVED, alice_confirms, alice_reopens, ONE),
    Pair("confirm-reply", RESOLVED, alice_confirms, alice_replies, FIRST),
    # The worker fires the due SLA timers while someone acts: the act always wins (the
    # worker skips an instance a command holds; a command fires what is due itself).
    Pair("timers-claim", OVERDUE, TIMERS, tom_claims, SECOND),
    Pair("timers-escalate", OVERDUE, TIMERS, tina_escalates, SECOND),
    Pair("timers-reply", OVERDUE, TIMERS, alice_replies, SECOND),
    Pair("timers-hold", OVERDUE, TIMERS, tina_holds, SECOND),
    Pair("timers-reprioritize", OVERDUE, TIMERS, tom_reprioritizes, SECOND),
    # The worker closes a resolved incident nobody answered, while the caller answers.
    Pair("auto_close-confirm", AUTO_CLOSE_DUE, TIMERS, alice_confirms, ONE),
    Pair("auto_close-reopen", AUTO_CLOSE_DUE, TIMERS, alice_reopens, ONE),
)


# --- the served stack -------------------------------------------------------------------


class Stack:
    """The database, the in-process runtime (scenes, the worker, the checks) and the
    server with its people: an API token each, and browser sessions for the desk's forms."""

    def __init__(self, db: Database, runtime: Runtime, server, log: Path, tokens, browsers):
        self.db = db
        self.runtime = runtime
        self.scene = Scene(runtime)
        self.address = server.address
        self.log = log
        self.tokens: dict[str, str] = tokens
        self.browsers: dict[str, served.Client] = browsers
        self.replayer = Replayer(db)

    def prepare(self, state: State) -> Trial:
        """A new incident in `state`, its scene played `state.ago` before now."""
        previous = None
        if state.ago:
            previous = clock.install(clock.FrozenClock(datetime.now(UTC) - state.ago))
        try:
            number = state.build(self.scene)
        finally:
            if previous is not None:
                clock.install(previous)
        task = self.scene.desk_task(number)
        with self.db.reading() as session:
            incident = session.scalars(select(Incident).where(Incident.number == number)).one()
        return Trial(number, incident.instance_id, task.id if task else None)

    def api(self, label: str, who: str, path: str, body: dict) -> Outcome:
        answer = served.api_client(self.address, self.tokens[who]).post_json(path, body)
        if 200 <= answer.status < 300:
            return Outcome(label, WON, str(answer.status), answer.started, answer.ended)
        return self._refusal(label, answer.status, answer.error(), answer)

    def form(self, label: str, who: str, path: str, **fields: str) -> Outcome:
        """A desk form: it redirects to a page that says what happened (flashed)."""
        client = self.browsers[who]
        answer = client.post_form(path, **fields)
        if answer.status != 302:
            return self._refusal(label, answer.status, answer.error(), answer)
        page = client.get(answer.location)
        said = served.flashed(page.body)
        if page.status != 200 or not said:
            detail = f"302, then HTTP {page.status} on {answer.location} saying {said}"
            return Outcome(label, FAILED, detail, answer.started, answer.ended)
        kind, text = said[-1]
        if kind == "info":
            return Outcome(label, WON, f"302: {text}", answer.started, answer.ended)
        return self._refusal(label, 409, text, answer)

    def _refusal(self, label: str, status: int, said: str, answer: served.Answer) -> Outcome:
        refused = status == 409 or (status == 404 and "is not open" in said)
        if refused and CLEAR_REFUSAL.search(said):
            return Outcome(label, REFUSED, f"{status}: {said}", answer.started, answer.ended)
        if status >= 500:
            said = f"the server logged {self.server_error()}"
        detail = f"HTTP {status}: {said}" + ("" if not refused else " (no clear reason)")
        return Outcome(label, FAILED, detail, answer.started, answer.ended)

    def fire_timers(self, trial: Trial) -> Outcome:
        """The worker's step for one due instance (it skips one another process holds)."""
        label = TIMERS.label
        started = time.monotonic()
        try:
            fired = self.runtime.fire_due_timers(trial.instance_id, skip_locked=True)
        except Conflict as err:  # closed meanwhile: the sweep lists it and goes on
            return Outcome(label, REFUSED, f"Conflict: {err}", started, time.monotonic())
        except Exception as err:
            detail = f"{type(err).__name__}: {err}"
            return Outcome(label, FAILED, detail, started, time.monotonic())
        result = WON if fired else REFUSED
        return Outcome(label, result, f"{fired} fired", started, time.monotonic())

    def server_error(self) -> str:
        """The last exception the server logged."""
        lines = self.log.read_text(errors="replace").splitlines()
        errors = [line for line in lines if re.match(r"^[\w.]+(Error|Exception)\b", line)]
        return errors[-1] if errors else "(nothing logged)"

    def warm_up(self) -> None:
        """Let every worker compile the process before the first race."""
        trial = self.prepare(DIAGNOSING)
        client = served.api_client(self.address, self.tokens["tina"])
        threads = [
            threading.Thread(target=client.get, args=(f"/api/tasks/{trial.task}",))
            for _ in range(2 * served.WORKERS)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()


@pytest.fixture(scope="module")
def stack(migrated: Database, tmp_path_factory) -> Iterator[Stack]:
    """The test database emptied once for the module (the server's workers cache restored
    workflows by instance id, so ids must not be reused under it), the bundled process,
    the people's passwords and tokens, and gunicorn serving it."""
    db = migrated
    with db.writing() as session, maintenance(session.connection()):
        for table in reversed(Base.metadata.sorted_tables):
            session.execute(table.delete())
        directory.seed(session, catalog())
        knowledge_base.seed(session)
    runtime = Runtime(db)
    runtime.deploy(definitions.bundled(), deployed_by="test")
    for name in BROWSERS:
        accounts.set_password(db, name, PASSWORD)
    tokens = {
        name: api_tokens.create_token(db, name, "race tests", "admin", scope="write")[1]
        for name in API_USERS
    }
    log = tmp_path_factory.mktemp("gunicorn") / "gunicorn.log"
    with served.gunicorn(db.url, log) as server:
        browsers = {
            name: served.browser(server.address, name, PASSWORD, "/desk/queue") for name in BROWSERS
        }
        stack = Stack(db, runtime, server, log, tokens, browsers)
        stack.warm_up()
        yield stack


# --- the checks -------------------------------------------------------------------------


def rule_problems(pair: Pair, first: Outcome, second: Outcome) -> list[str]:
    failed = [f"{o.label}: {o.detail}" for o in (first, second) if o.result == FAILED]
    if failed:
        return failed
    said = "; ".join(f"{o.label} {o.result} ({o.detail})" for o in (first, second))
    wins = [o.result == WON for o in (first, second)]
    ok = {
        ONE: wins.count(True) == 1,
        BOTH: all(wins),
        FIRST: wins[0],
        SECOND: wins[1],
    }[pair.rule]
    return [] if ok else [f"expected {pair.rule}: {said}"]


def holder_problems(stack: Stack, pair: Pair, trial: Trial, outcomes: list[Outcome]) -> list[str]:
    """A claim that won holds, unless the other side moves claims too (then the order
    decides) or the task is not open any more."""
    acts = (pair.first, pair.second)
    moving = [(act, o) for act, o in zip(acts, outcomes, strict=True) if act.moves_claim]
    winners = [(act, o) for act, o in moving if o.result == WON]
    if len(winners) != 1:
        return []
    act, outcome = winners[0]
    with stack.db.reading() as session:
        task = session.get(HumanTask, trial.task)
    if task is None or task.assignee == act.holder:
        return []
    return [f"{outcome.label} won, yet the task is held by {task.assignee!r}"]


def record_problems(stack: Stack, number: str) -> list[str]:
    """Where the incident record, the open tasks and the timers disagree with the process
    restored from its stored state; what replay and the audit say of its history."""
    with stack.db.reading() as session:
        incident = session.scalars(select(Incident).where(Incident.number == number)).one()
        instance = session.get(Instance, incident.instance_id)
        assert instance is not None
        rows = list(session.scalars(select(HumanTask).where(HumanTask.instance_id == instance.id)))
        timers = list(session.scalars(select(Timer).where(Timer.instance_id == instance.id)))
        definition = stack.runtime.definition(session, instance.definition_id)
    workflow = load_workflow(
        instance.state,
        definition.spec,
        definition.subprocess_specs,
        CommandContext(incident=facts(incident)),
    )
    waiting = projection.waiting_on(
        workflow, definition, incident.caller, incident.assignment_group
    )
    problems = []
    have = sorted((r.element, r.lane, r.group_name, r.id) for r in rows)
    want = sorted((t.element, t.lane, t.group, t.id) for t in waiting.tasks)
    if have != want:
        problems.append(f"open task rows {have}, but the process waits on {want}")
    desk = [r for r in rows if r.lane != "User"]
    if len(desk) > 1:
        problems.append(f"{len(desk)} open desk tasks: {[r.element for r in desk]}")
    elif desk:
        task, record = desk[0], (incident.assignee, incident.assignment_group)
        if record != (task.assignee, task.group_name):
            problems.append(
                f"the incident says assignee {record[0]!r} of {record[1]!r}, its open task "
                f"{task.element} is held by {task.assignee!r} of {task.group_name!r}"
            )
    for row in rows:
        if row.lane == "User" and row.assignee != incident.caller:
            problems.append(f"the caller's task {row.element} is held by {row.assignee!r}")
    state = projection.incident_state(workflow, definition)
    if incident.state != state:
        problems.append(f"incidents.state is {incident.state!r}, the process says {state!r}")
    status = "completed" if workflow.is_completed() else "running"
    if instance.status != status:
        problems.append(f"instances.status is {instance.status!r}, the process is {status}")
    armed = sorted((t.element, t.due_at.astimezone(UTC)) for t in timers)
    if armed != sorted(waiting.timers):
        problems.append(f"timer rows {armed}, but the process waits on {sorted(waiting.timers)}")
    verdict = stack.replayer.one(number)
    if not verdict.identical:
        problems.append(f"replay: {verdict}")
    report = verify(stack.db, instance_id=instance.id)
    if not report.ok:
        problems.append(f"audit: {report.summary()}")
    return problems


# --- the race ---------------------------------------------------------------------------


def race(stack: Stack, trial: Trial, pair: Pair, rng: random.Random) -> list[Outcome]:
    """Both sides released by one barrier; one of them (at random) a little later."""
    barrier = threading.Barrier(2)
    late, lag = rng.randrange(2), rng.uniform(0, JITTER_S)
    outcomes: list[Outcome | None] = [None, None]

    def side(index: int, act: Act) -> None:
        barrier.wait()
        if index == late:
            time.sleep(lag)
        try:
            outcomes[index] = act.run(stack, trial)
        except Exception:
            now = time.monotonic()
            outcomes[index] = Outcome(act.label, FAILED, traceback.format_exc(limit=4), now, now)

    threads = [
        threading.Thread(target=side, args=(i, act))
        for i, act in enumerate((pair.first, pair.second))
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert outcomes[0] is not None and outcomes[1] is not None
    return [outcomes[0], outcomes[1]]


@pytest.mark.parametrize("pair", PAIRS, ids=[p.id for p in PAIRS])
def test_two_at_once_leave_one_consistent_incident(stack: Stack, pair: Pair, capsys):
    rng = random.Random(pair.id)
    overlapped, failures, results = 0, [], Counter()
    started = time.monotonic()
    for attempt in range(1, TRIALS + 1):
        trial = stack.prepare(pair.state)
        first, second = race(stack, trial, pair, rng)
        overlapped += max(first.started, second.started) < min(first.ended, second.ended)
        results[(first.result, second.result)] += 1
        problems = rule_problems(pair, first, second)
        problems += holder_problems(stack, pair, trial, [first, second])
        problems += record_problems(stack, trial.number)
        if problems:
            failures.append(f"trial {attempt} ({trial.number}): " + " | ".join(problems))
    seconds = time.monotonic() - started
    said = ", ".join(f"{a}/{b} x{n}" for (a, b), n in sorted(results.items()))
    summary = (
        f"[{BACKEND}] {pair.id} ({pair.first.label} | {pair.second.label}, {pair.state.name}): "
        f"{TRIALS} trials, {overlapped} overlapped, {len(failures)} failed; {said}; "
        f"{seconds:.1f}s"
    )
    with capsys.disabled():
        print(f"\n{summary}")
        for failure in failures:
            print(f"    {failure}")
    assert not failures, summary + "\n" + "\n".join(failures)
