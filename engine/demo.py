"""`deskflow demo`: drive incidents through every path of the bundled process.

Each incident is driven to its end before the next starts, through the same commands a
person would use (report, complete tasks, confirm/reopen) and the worker (timers). The
clock is a `FrozenClock` that the demo moves forward, so SLA warnings, breaches and the
automatic closure happen in seconds. The summary counts the paths taken and checks that
each incident ended the way its path says it must.
"""

from __future__ import annotations

import random
import sys
from collections import Counter
from dataclasses import dataclass, field
from datetime import timedelta

from sqlalchemy import select

from engine import clock
from engine.runtime import Runtime
from engine.scheduler import Worker
from engine.store.models import HumanTask, Incident
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

EXPECTED_CLOSE = {
    "self-help deflected": "deflected",
    "request fulfilled": "fulfilled",
    "auto-closed (no answer)": "auto-closed",
}


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
        width = max(len(p) for p in PATHS) + 2
        lines = [f"{'path':<{width}} incidents", f"{'-' * width} ---------"]
        lines += [f"{name:<{width}} {self.paths[name]:>9}" for name in PATHS]
        lines.append(f"{'total':<{width}} {sum(self.paths.values()):>9}")
        lines.append("")
        lines.append(f"{'closed as':<{width}} incidents")
        lines += [f"{name:<{width}} {n:>9}" for name, n in sorted(self.outcomes.items())]
        lines.append(f"{'total':<{width}} {sum(self.outcomes.values()):>9}")
        lines += [f"PROBLEM: {p}" for p in self.problems]
        return "\n".join(lines)


class DemoDriver:
    """Plays the people of the service desk against the runtime."""

    def __init__(self, runtime: Runtime, rng: random.Random) -> None:
        self.runtime = runtime
        self.worker = Worker(runtime)
        self.rng = rng
        self.catalog = catalog()
        desk = self.catalog.groups[self.catalog.service_desk_group]
        self.technicians = [m for m in desk.members if m != desk.manager]

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
        return self.runtime.start_incident(report, actor=actor)

    def task(self, number: str, element: str) -> HumanTask:
        with self.runtime.db.reading() as session:
            task = session.scalars(
                select(HumanTask)
                .join(Incident, Incident.id == HumanTask.incident_id)
                .where(Incident.number == number, HumanTask.element == element)
            ).first()
        if task is None:
            raise RuntimeError(f"{number}: expected an open task '{element}'")
        return task

    def complete(self, number: str, element: str, data: dict, actor: str) -> None:
        task = self.task(number, element)
        self.runtime.claim_task(task.id, actor, actor=actor) if task.lane != "User" else None
        self.runtime.complete_task(task.id, data, actor=actor)
        self.tick(minutes=self.rng.randint(5, 40))

    def categorize(self, number: str) -> None:
        incident = self.incident(number)
        suggestion = self.suggestion(number)
        category = suggestion.get("category") or self.rng.choice(list(self.catalog.categories))
        subs = self.catalog.categories[category].subcategory_names()
        sub = suggestion.get("subcategory") if suggestion.get("subcategory") in subs else subs[0]
        self.complete(
            number,
            "categorize_incident",
            {
                "category": category,
                "subcategories": [sub],
                "work_notes": f"Categorized from: {incident.short_description}",
            },
            actor=self.rng.choice(self.technicians),
        )

    def diagnose(self, number: str, resolved: bool) -> None:
        data = {"resolved": resolved, "work_notes": "Checked the knowledge base."}
        if resolved:
            data |= {
                "resolution_code": "solved-remotely",
                "resolution_notes": "Fixed on the phone with the caller.",
            }
        self.complete(number, "diagnose", data, actor=self.rng.choice(self.technicians))

    def specialist_resolves(self, number: str) -> None:
        task = self.task(number, "investigate_and_resolve")
        group = self.catalog.groups[task.group_name or self.catalog.service_desk_group]
        self.complete(
            number,
            "investigate_and_resolve",
            {
                "resolution_code": "solved-permanently",
                "resolution_notes": "Root cause found and fixed; verified with the caller.",
                "work_notes": "Investigated logs.",
            },
            actor=self.rng.choice(group.members),
        )

    def reply(self, number: str, text: str) -> None:
        incident = self.incident(number)
        self.runtime.send_message(number, "user_reply", {"message": text}, actor=incident.caller)

    def answer(self, number: str, message: str, payload: dict) -> None:
        self.runtime.send_message(number, message, payload, actor=self.incident(number).caller)
        self.tick(minutes=5)

    def tick(self, minutes: int = 0, hours: float = 0) -> None:
        current = clock.current()
        if hasattr(current, "advance"):
            current.advance(timedelta(minutes=minutes, hours=hours))
        self.worker.sweep()

    def incident(self, number: str) -> Incident:
        with self.runtime.db.reading() as session:
            return session.scalars(select(Incident).where(Incident.number == number)).one()

    def suggestion(self, number: str) -> dict:
        from engine import queries

        for event in queries.incident_view(self.runtime.db, number)["history"]:
            if event["kind"] == "handler" and event["payload"].get("operator") == "categorize":
                return event["payload"].get("result") or {}
        return {}

    # --- the paths --------------------------------------------------------------------

    def drive(self, path: str) -> str:
        _, broken, impact, urgency = PATHS[path]
        number = self.report(broken, impact, urgency)
        self.tick(minutes=self.rng.randint(1, 15))
        if not broken:
            solved = path == "self-help deflected"
            self.complete(
                number,
                "try_self_help",
                {"solved": solved, "comment": "" if solved else "Did not help."},
                actor=self.incident(number).caller,
            )
            if not solved:
                self.complete(
                    number,
                    "fulfil_request",
                    {
                        "resolution_code": "solved-permanently",
                        "resolution_notes": "Request fulfilled as asked.",
                    },
                    actor=self.rng.choice(self.technicians),
                )
            return number
        self.categorize(number)
        if path == "first-line fix":
            self.diagnose(number, resolved=True)
        elif path == "SLA warning and breach":
            self.diagnose(number, resolved=False)
            self.reply(number, "Any news? I still cannot work.")
            due = self.incident(number).resolution_due
            assert due is not None, "an incident has a resolution target once prioritized"
            self.tick(minutes=int((due - clock.now()).total_seconds() // 60) - 30)  # warning
            self.tick(minutes=45)  # breach
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

    def check(self, path: str, number: str, summary: Summary) -> None:
        incident = self.incident(number)
        summary.outcomes[incident.close_reason or incident.state] += 1
        expected = EXPECTED_CLOSE.get(path, "confirmed")
        if incident.state != "Closed" or incident.close_reason != expected:
            summary.problems.append(
                f"{number} ({path}): ended {incident.state}/"
                f"{incident.close_reason}, expected Closed/{expected}"
            )
        if path == "major incident" and not (incident.priority == 1 and incident.major_incident):
            summary.problems.append(f"{number}: major incident without P1/major flag")
        if path == "SLA warning and breach" and not incident.resolution_breached:
            summary.problems.append(f"{number}: breach path but not marked breached")
        if path == "reopened, then confirmed" and incident.reopen_count != 1:
            summary.problems.append(f"{number}: reopened once but count {incident.reopen_count}")


def run_demo(runtime: Runtime, count: int, seed: int = 7, progress: bool = False) -> Summary:
    """Drive `count` incidents through the weighted path mix; returns the checked summary."""
    rng = random.Random(seed)
    previous = None
    if not hasattr(clock.current(), "advance"):
        start = (clock.now() - timedelta(days=60)).replace(second=0, microsecond=0)
        previous = clock.install(clock.FrozenClock(start))
    driver = DemoDriver(runtime, rng)
    summary = Summary(total=count)
    names, weights = list(PATHS), [w for w, *_ in PATHS.values()]
    try:
        for i in range(count):
            path = names[i] if i < len(names) else rng.choices(names, weights)[0]
            number = driver.drive(path)
            summary.paths[path] += 1
            driver.check(path, number, summary)
            if progress:
                _progress(i + 1, count)
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
