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
from datetime import timedelta
from typing import Any

from engine import clock
from engine.desk.demo_desk import Desk, Outcome, RuntimeDesk, TaskRef
from engine.instances.runtime import Runtime
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
    "priority raised during the work": (5, True, "low", "low"),
}
ALL_PATHS = {**PATHS, **DESK_PATHS}

EXPECTED_CLOSE = {
    "self-help deflected": "deflected",
    "request fulfilled": "fulfilled",
    "auto-closed (no answer)": "auto-closed",
}


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
            self.desk.message(
                number, "hold", {"waiting_for": "vendor", "reason": "awaiting vendor"}, technician
            )
            self.tick(hours=12)  # longer than the whole target: no breach while on hold
            self.desk.message(number, "resume", {"note": "the vendor shipped a fix"}, technician)
            self.specialist_resolves(number)
        elif path == "priority raised during the work":
            self.diagnose(number, resolved=False)
            self.tick(hours=1)
            change = {"impact": "medium", "urgency": "high", "reason": "the whole team is hit now"}
            self.desk.message(number, "reprioritize", change, self.rng.choice(self.technicians))
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
    if path == "priority raised during the work" and outcome.priority != 2:
        problems.append(f"{number}: priority {outcome.priority} after raising it to 2")
    if path == "automated escalation fired" and outcome.automated_escalations != 1:
        problems.append(f"{number}: {outcome.automated_escalations} automated escalation(s)")
    return problems


def choose_paths(count: int, rng: random.Random, paths: dict | None = None):
    """Every path once first (so a small demo shows them all), then the weighted mix."""
    paths = PATHS if paths is None else paths
    names, weights = list(paths), [w for w, *_ in paths.values()]
    for i in range(count):
        yield names[i] if i < len(names) else rng.choices(names, weights)[0]


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
