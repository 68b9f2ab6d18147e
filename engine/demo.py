"""`deskflow demo`: drive incidents through every path of the bundled process.

`Driver` plays the people of the service desk — callers reporting, technicians
categorizing and diagnosing, specialists resolving, callers confirming or reopening —
against a `Desk`: the runtime and worker here (`RuntimeDesk`), other stores in the
benchmark. Each incident is driven to its end before the next starts. The clock is a
`FrozenClock` the driver moves forward, so SLA warnings, breaches and the automatic
closure happen in seconds. `check` says whether an incident ended the way its path says.
"""

from __future__ import annotations

import random
import sys
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

from sqlalchemy import func, select

from engine import clock
from engine.runtime import Runtime
from engine.scheduler import Worker
from engine.store.models import HistoryEvent, HumanTask, Incident, Instance
from handlers.catalog import catalog

# (text, is something broken?) — realistic first lines of what people report.
REPORTS = [
    ("VPN keeps disconnecting every few minutes when working from home", True),
    ("Cannot connect to the office wifi on the third floor", True),
    ("Laptop does not power on after the update", True),
    ("Second monitor flickers and goes black", True),
    ("Locked out of my account after too many password attempts", True),
    ("Need access to the finance shared drive for the audit", True),
    ("Excel crashes when opening large spreadsheets", True),
    ("Outlook does not receive any email since this morning", True),
    ("Meeting invitations are not showing in my calendar", True),
    ("Printer on floor 2 shows offline for everyone", True),
    ("Scanner saves blank pages", True),
    ("How do I set up email on my new phone?", False),
    ("Please install Visio on my laptop", False),
    ("How do I reset my password?", False),
    ("I need a new keyboard", False),
]

PATHS = {
    # name: (weight, broken?, impact, urgency)
    "first-line fix": (30, True, "low", "medium"),
    "escalated to specialists": (20, True, "medium", "medium"),
    "self-help deflected": (12, False, "low", "low"),
    "request fulfilled": (8, False, "low", "low"),
    "major incident": (5, True, "high", "high"),
    "SLA warning and breach": (10, True, "medium", "high"),
    "reopened, then confirmed": (8, True, "low", "high"),
    "auto-closed (no answer)": (7, True, "low", "low"),
}

# Paths that need the desk's own features (automated escalations): the demo drives them,
# the benchmark (which compares engines on the process alone) does not.
DESK_PATHS = {
    "breach over a weekend (office hours)": (5, True, "medium", "medium"),
    "automated escalation fired": (5, True, "medium", "medium"),
    "on hold, waiting for a vendor": (5, True, "medium", "high"),
}
ALL_PATHS = {**PATHS, **DESK_PATHS}

EXPECTED_CLOSE = {
    "self-help deflected": "deflected",
    "request fulfilled": "fulfilled",
    "auto-closed (no answer)": "auto-closed",
}


@dataclass(frozen=True)
class TaskRef:
    """An open user task as the desk sees it: an id for the commands, and its group."""

    id: Any
    element: str
    group: str | None = None


@dataclass(frozen=True)
class Outcome:
    """How an incident ended."""

    completed: bool
    close_reason: str | None
    priority: int | None = None
    major_incident: bool = False
    resolution_breached: bool = False
    reopen_count: int = 0
    opened_at: datetime | None = None
    resolution_due: datetime | None = None
    automated_escalations: int = 0
    holds: int = 0


class Desk(Protocol):
    """What the driver plays against: the commands, the worker's pass, a person's reads."""

    def start(self, report: dict[str, Any], actor: str) -> str: ...
    def open_task(self, number: str, element: str) -> TaskRef: ...
    def complete(self, number: str, task: TaskRef, form: dict[str, Any], actor: str) -> None: ...
    def message(self, number: str, name: str, payload: dict[str, Any], actor: str) -> None: ...
    def add_escalation(
        self, number: str, due: datetime, action: str, target: str, note: str, actor: str
    ) -> None: ...
    def sweep(self) -> None: ...
    def resolution_due(self, number: str) -> datetime: ...
    def suggestion(self, number: str) -> dict[str, Any]: ...
    def outcome(self, number: str) -> Outcome: ...


class Driver:
    """Plays the people of the service desk against a desk, one incident at a time."""

    def __init__(
        self,
        desk: Desk,
        rng: random.Random,
        on_categorized: Callable[[str], None] | None = None,
    ) -> None:
        self.desk = desk
        self.rng = rng
        self.catalog = catalog()
        service_desk = self.catalog.groups[self.catalog.service_desk_group]
        self.technicians = [m for m in service_desk.members if m != service_desk.manager]
        self.on_categorized = on_categorized  # e.g. the benchmark measures the state here
        self.callers: dict[str, str] = {}
        self.texts: dict[str, str] = {}

    # --- the people's actions ---------------------------------------------------------

    def report(self, broken: bool, impact: str, urgency: str) -> str:
        text = self.rng.choice([t for t, b in REPORTS if b == broken])
        caller = self.rng.choice(self.catalog.callers)
        by_phone = self.rng.random() < 0.3
        report = {
            "caller": caller,
            "channel": "phone" if by_phone else "portal",
            "short_description": text,
            "description": f"Reported by {caller}. {text}.",
            "is_broken": broken,
            "impact": impact,
            "urgency": urgency,
        }
        actor = self.rng.choice(self.technicians) if by_phone else caller
        number = self.desk.start(report, actor)
        self.callers[number] = caller
        self.texts[number] = text
        return number

    def complete(
        self, number: str, element: str, data: dict, actor: str, task: TaskRef | None = None
    ) -> None:
        task = task or self.desk.open_task(number, element)
        self.desk.complete(number, task, data, actor)
        self.tick(minutes=self.rng.randint(5, 40))

    def categorize(self, number: str) -> None:
        suggestion = self.desk.suggestion(number)
        category = suggestion.get("category") or self.rng.choice(list(self.catalog.categories))
        subs = self.catalog.categories[category].subcategory_names()
        sub = suggestion.get("subcategory") if suggestion.get("subcategory") in subs else subs[0]
        form = {
            "category": category,
            "subcategories": [sub],
            "work_notes": f"Categorized from: {self.texts[number]}",
        }
        self.complete(number, "categorize_incident", form, actor=self.rng.choice(self.technicians))
        if self.on_categorized:
            self.on_categorized(number)

    def diagnose(self, number: str, resolved: bool) -> None:
        data: dict[str, Any] = {"resolved": resolved, "work_notes": "Checked the knowledge base."}
        if resolved:
            data |= {
                "resolution_code": "solved-remotely",
                "resolution_notes": "Fixed on the phone with the caller.",
            }
        self.complete(number, "diagnose", data, actor=self.rng.choice(self.technicians))

    def specialist_resolves(self, number: str) -> None:
        task = self.desk.open_task(number, "investigate_and_resolve")
        group = self.catalog.groups[task.group or self.catalog.service_desk_group]
        form = {
            "resolution_code": "solved-permanently",
            "resolution_notes": "Root cause found and fixed; verified with the caller.",
            "work_notes": "Investigated logs.",
        }
        actor = self.rng.choice(group.members)
        self.complete(number, "investigate_and_resolve", form, actor=actor, task=task)

    def reply(self, number: str, text: str) -> None:
        self.desk.message(number, "user_reply", {"message": text}, self.callers[number])

    def answer(self, number: str, message: str, payload: dict) -> None:
        self.desk.message(number, message, payload, self.callers[number])
        self.tick(minutes=5)

    def wait_until_friday_afternoon(self) -> None:
        """Move the clock to the next Friday 15:00 in the office calendar's time zone."""
        zone = self.catalog.calendars["office"].zone
        local = clock.now().astimezone(zone)
        days = (4 - local.weekday()) % 7 or 7
        friday = (local + timedelta(days=days)).replace(hour=15, minute=0, second=0)
        self.tick(minutes=int((friday - clock.now()).total_seconds() // 60))

    def tick(self, minutes: int = 0, hours: float = 0) -> None:
        """Time passes (the clock must be a FrozenClock); the worker does what is due."""
        current = clock.current()
        assert isinstance(current, clock.FrozenClock), "the demo drives a FrozenClock"
        current.advance(timedelta(minutes=minutes, hours=hours))
        self.desk.sweep()

    # --- the paths --------------------------------------------------------------------

    def drive(self, path: str) -> str:
        """One incident from report to closure along `path`; returns its number."""
        _, broken, impact, urgency = ALL_PATHS[path]
        if path == "breach over a weekend (office hours)":
            self.wait_until_friday_afternoon()
        number = self.report(broken, impact, urgency)
        self.tick(minutes=self.rng.randint(1, 15))
        if not broken:
            solved = path == "self-help deflected"
            comment = "" if solved else "Did not help."
            caller = self.callers[number]
            self.complete(number, "try_self_help", {"solved": solved, "comment": comment}, caller)
            if not solved:
                form = {
                    "resolution_code": "solved-permanently",
                    "resolution_notes": "Request fulfilled as asked.",
                }
                self.complete(number, "fulfil_request", form, self.rng.choice(self.technicians))
            return number
        self.categorize(number)
        if path == "first-line fix":
            self.diagnose(number, resolved=True)
        elif path == "SLA warning and breach":
            self.diagnose(number, resolved=False)
            self.reply(number, "Any news? I still cannot work.")
            due = self.desk.resolution_due(number)
            self.tick(minutes=int((due - clock.now()).total_seconds() // 60) - 30)  # warning
            self.tick(minutes=45)  # breach
            self.specialist_resolves(number)
        elif path == "breach over a weekend (office hours)":
            self.diagnose(number, resolved=False)  # P3: 30 office hours, Friday to Thursday
            due = self.desk.resolution_due(number)
            self.tick(minutes=int((due - clock.now()).total_seconds() // 60) + 30)
            self.specialist_resolves(number)
        elif path == "automated escalation fired":
            manager = self.catalog.manager_of(self.catalog.service_desk_group)
            self.desk.add_escalation(
                number,
                clock.now() + timedelta(hours=2),
                "notify",
                manager,
                "VIP caller: tell me if this is not solved in two hours",
                actor=self.rng.choice(self.technicians),
            )
            self.diagnose(number, resolved=False)
            self.tick(hours=3)
            self.specialist_resolves(number)
        elif path == "on hold, waiting for a vendor":
            self.diagnose(number, resolved=False)  # P2: 8 h round the clock
            technician = self.rng.choice(self.technicians)
            self.desk.message(number, "hold", {"reason": "awaiting vendor"}, technician)
            self.tick(hours=12)  # longer than the whole target: no breach while on hold
            self.desk.message(number, "resume", {"note": "the vendor shipped a fix"}, technician)
            self.specialist_resolves(number)
        elif path == "reopened, then confirmed":
            self.diagnose(number, resolved=True)
            self.answer(number, "reopen", {"reason": "It happened again this morning."})
            self.diagnose(number, resolved=False)
            self.specialist_resolves(number)
        else:  # escalated, major incident, auto-closed
            self.diagnose(number, resolved=False)
            if path == "escalated to specialists":
                self.reply(number, "Thanks, I am available all afternoon.")
            self.specialist_resolves(number)
        if path == "auto-closed (no answer)":
            self.tick(hours=24 * 4)
        else:
            self.answer(number, "confirm", {"comment": "Works again, thank you."})
        return number


def check(path: str, number: str, outcome: Outcome) -> list[str]:
    """Did the incident end the way its path says it must? The problems, if not."""
    problems = []
    expected = EXPECTED_CLOSE.get(path, "confirmed")
    if not outcome.completed or outcome.close_reason != expected:
        problems.append(
            f"{number} ({path}): ended completed={outcome.completed}/"
            f"{outcome.close_reason}, expected closed/{expected}"
        )
    if path == "major incident" and not (outcome.priority == 1 and outcome.major_incident):
        problems.append(f"{number}: major incident without P1/major flag")
    if path == "SLA warning and breach" and not outcome.resolution_breached:
        problems.append(f"{number}: breach path but not marked breached")
    if path == "reopened, then confirmed" and outcome.reopen_count != 1:
        problems.append(f"{number}: reopened once but count {outcome.reopen_count}")
    if path == "breach over a weekend (office hours)":
        span = (
            (outcome.resolution_due - outcome.opened_at)
            if outcome.resolution_due and outcome.opened_at
            else None
        )
        if not outcome.resolution_breached or span is None or span < timedelta(days=4):
            problems.append(f"{number}: no breach counted in office hours over a weekend")
    if path == "on hold, waiting for a vendor" and (
        outcome.holds != 1 or outcome.resolution_breached
    ):
        problems.append(
            f"{number}: {outcome.holds} hold(s), breached={outcome.resolution_breached}"
        )
    if path == "automated escalation fired" and outcome.automated_escalations != 1:
        problems.append(f"{number}: {outcome.automated_escalations} automated escalation(s)")
    return problems


def choose_paths(count: int, rng: random.Random, paths: dict | None = None):
    """Every path once first (so a small demo shows them all), then the weighted mix."""
    paths = PATHS if paths is None else paths
    names, weights = list(paths), [w for w, *_ in paths.values()]
    for i in range(count):
        yield names[i] if i < len(names) else rng.choices(names, weights)[0]


class RuntimeDesk:
    """The desk as Deskflow runs it: commands through the runtime, timers by the worker.

    With `claims`, a technician claims a task before completing it, as in the web UI.
    """

    def __init__(self, runtime: Runtime, worker: Worker | None = None, claims: bool = True):
        self.runtime = runtime
        self.db = runtime.db
        self.worker = worker or Worker(runtime)
        self.claims = claims

    def start(self, report: dict[str, Any], actor: str) -> str:
        return self.runtime.start_incident(report, actor=actor)

    def complete(self, number: str, task: TaskRef, form: dict[str, Any], actor: str) -> None:
        if self.claims and task.element != "try_self_help":
            self.runtime.claim_task(task.id, actor, actor=actor)
        self.runtime.complete_task(task.id, form, actor=actor)

    def message(self, number: str, name: str, payload: dict[str, Any], actor: str) -> None:
        self.runtime.send_message(number, name, payload, actor=actor)

    def add_escalation(
        self, number: str, due: datetime, action: str, target: str, note: str, actor: str
    ) -> None:
        self.runtime.add_escalation(number, due, action, target, note, actor=actor)

    def sweep(self) -> None:
        self.worker.sweep()

    def _incident(self, session, number: str) -> Incident:
        return session.scalars(select(Incident).where(Incident.number == number)).one()

    def open_task(self, number: str, element: str) -> TaskRef:
        with self.db.reading() as session:
            task = session.execute(
                select(HumanTask.id, HumanTask.group_name)
                .join(Incident, Incident.id == HumanTask.incident_id)
                .where(Incident.number == number, HumanTask.element == element)
            ).first()
        if task is None:
            raise RuntimeError(f"{number}: expected an open task '{element}'")
        return TaskRef(task.id, element, task.group_name)

    def resolution_due(self, number: str) -> datetime:
        with self.db.reading() as session:
            due = session.scalar(select(Incident.resolution_due).where(Incident.number == number))
        assert due is not None, "an incident has a resolution target once prioritized"
        return due

    def suggestion(self, number: str) -> dict[str, Any]:
        """The categorize handler's suggestion, as the technician sees it in the history."""
        with self.db.reading() as session:
            payload = session.scalar(
                select(HistoryEvent.payload)
                .join(Incident, Incident.instance_id == HistoryEvent.instance_id)
                .where(
                    Incident.number == number,
                    HistoryEvent.kind == "handler",
                    HistoryEvent.element == "suggest_category",
                )
                .order_by(HistoryEvent.seq.desc())
                .limit(1)
            )
        return (payload or {}).get("result") or {}

    def outcome(self, number: str) -> Outcome:
        with self.db.reading() as session:
            incident = self._incident(session, number)
            instance = session.get(Instance, incident.instance_id)
            status = instance.status if instance else None
            automated = session.scalar(
                select(func.count())
                .select_from(HistoryEvent)
                .where(
                    HistoryEvent.instance_id == incident.instance_id,
                    HistoryEvent.kind == "escalation",
                    HistoryEvent.actor == "worker",
                )
            )
            holds = session.scalar(
                select(func.count())
                .select_from(HistoryEvent)
                .where(
                    HistoryEvent.instance_id == incident.instance_id,
                    HistoryEvent.kind == "handler",
                    HistoryEvent.element == "pause_sla_clock",
                )
            )
        return Outcome(
            completed=status == "completed" and incident.state == "Closed",
            close_reason=incident.close_reason,
            priority=incident.priority,
            major_incident=incident.major_incident,
            resolution_breached=incident.resolution_breached,
            reopen_count=incident.reopen_count,
            opened_at=incident.opened_at,
            resolution_due=incident.resolution_due,
            automated_escalations=automated or 0,
            holds=holds or 0,
        )


@dataclass
class Summary:
    paths: Counter = field(default_factory=Counter)
    outcomes: Counter = field(default_factory=Counter)
    problems: list[str] = field(default_factory=list)
    total: int = 0

    def adds_up(self) -> bool:
        return (
            not self.problems
            and sum(self.paths.values()) == self.total
            and sum(self.outcomes.values()) == self.total
        )

    def table(self) -> str:
        width = max(len(p) for p in ALL_PATHS) + 2
        lines = [f"{'path':<{width}} incidents", f"{'-' * width} ---------"]
        lines += [f"{name:<{width}} {self.paths[name]:>9}" for name in ALL_PATHS]
        lines.append(f"{'total':<{width}} {sum(self.paths.values()):>9}")
        lines.append("")
        lines.append(f"{'closed as':<{width}} incidents")
        lines += [f"{name:<{width}} {n:>9}" for name, n in sorted(self.outcomes.items())]
        lines.append(f"{'total':<{width}} {sum(self.outcomes.values()):>9}")
        lines += [f"PROBLEM: {p}" for p in self.problems]
        return "\n".join(lines)


def run_demo(runtime: Runtime, count: int, seed: int = 7, progress: bool = False) -> Summary:
    """Drive `count` incidents through the weighted path mix; returns the checked summary.

    Uses the installed clock if it is a FrozenClock, else one that starts 60 days ago.
    """
    rng = random.Random(seed)
    previous = None
    if not isinstance(clock.current(), clock.FrozenClock):
        start = (clock.now() - timedelta(days=60)).replace(second=0, microsecond=0)
        previous = clock.install(clock.FrozenClock(start))
    desk = RuntimeDesk(runtime)
    driver = Driver(desk, rng)
    summary = Summary(total=count)
    try:
        for done, path in enumerate(choose_paths(count, rng, ALL_PATHS), start=1):
            number = driver.drive(path)
            summary.paths[path] += 1
            outcome = desk.outcome(number)
            summary.outcomes[outcome.close_reason or "not closed"] += 1
            summary.problems += check(path, number, outcome)
            if progress:
                _progress(done, count)
    finally:
        if previous is not None:
            clock.install(previous)
    return summary


def _progress(done: int, total: int) -> None:
    width = 30
    filled = width * done // total
    sys.stderr.write(f"\r[{'#' * filled}{'.' * (width - filled)}] {done}/{total} incidents")
    if done == total:
        sys.stderr.write("\n")
    sys.stderr.flush()
