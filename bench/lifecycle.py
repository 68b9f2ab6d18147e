"""The demo's lifecycle mix as a sequence of commands, played against any backend.

`Driver.drive` follows `engine.demo.DemoDriver.drive` step by step and draws from its
random generator in the same order, so that with one seed every variant sees the same
paths, the same reports, the same form data, the same actors and the same clock moves.
A backend provides the commands (start, complete, message), the worker's pass
after the clock moved (`sweep`), and the few reads a person at the desk makes on the way.
"""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from engine import clock
from engine.demo import EXPECTED_CLOSE, PATHS, REPORTS
from handlers.catalog import catalog

# Every variant starts its clock here, so SLA arithmetic is the same in each.
CLOCK_START = datetime(2026, 1, 5, 8, 0, tzinfo=UTC)


@dataclass(frozen=True)
class TaskRef:
    """An open user task as the desk sees it: an id for the commands, and its group."""

    id: Any
    element: str
    group: str | None = None


@dataclass(frozen=True)
class Outcome:
    """How an incident ended, for the same checks the demo makes."""

    completed: bool
    close_reason: str | None
    priority: int | None = None
    major_incident: bool = False
    resolution_breached: bool = False
    reopen_count: int = 0


class Backend(Protocol):
    """What a variant must provide to be driven through the lifecycle mix."""

    name: str

    def start(self, report: dict[str, Any], actor: str) -> str: ...
    def open_task(self, number: str, element: str) -> TaskRef: ...
    def complete(self, number: str, task: TaskRef, form: dict[str, Any], actor: str) -> None: ...
    def message(self, number: str, name: str, payload: dict[str, Any], actor: str) -> None: ...
    def sweep(self) -> None: ...
    def resolution_due(self, number: str) -> datetime: ...
    def suggestion(self, number: str) -> dict[str, Any]: ...
    def state_size(self, number: str) -> tuple[int, int] | None: ...  # (stored, JSON)
    def outcome(self, number: str) -> Outcome: ...


@dataclass
class MixResult:
    paths: Counter = field(default_factory=Counter)
    numbers: list[tuple[str, str]] = field(default_factory=list)  # (path, number)
    diagnose_sizes: list[tuple[int, int]] = field(default_factory=list)  # (stored, JSON) bytes
    problems: list[str] = field(default_factory=list)


class Driver:
    """Plays the people of the service desk against a backend, like the demo does."""

    def __init__(self, backend: Backend, rng: random.Random, on_probe=None) -> None:
        self.backend = backend
        self.rng = rng
        self.catalog = catalog()
        desk = self.catalog.groups[self.catalog.service_desk_group]
        self.technicians = [m for m in desk.members if m != desk.manager]
        self.probe = on_probe  # context manager factory: time spent in it is not counted
        self.callers: dict[str, str] = {}
        self.texts: dict[str, str] = {}
        self.diagnose_sizes: list[tuple[int, int]] = []

    # --- the people's actions (same draws as engine.demo.DemoDriver) ------------------

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
        number = self.backend.start(report, actor)
        self.callers[number] = caller
        self.texts[number] = text
        return number

    def complete(
        self, number: str, element: str, data: dict, actor: str, task: TaskRef | None = None
    ) -> None:
        task = task or self.backend.open_task(number, element)
        # No claim_task here: claiming is not an engine step, and (a) has no such thing;
        # the lifecycle is the same sequence of engine commands in every variant.
        self.backend.complete(number, task, data, actor)
        self.tick(minutes=self.rng.randint(5, 40))

    def categorize(self, number: str, short_description: str) -> None:
        suggestion = self.backend.suggestion(number)
        category = suggestion.get("category") or self.rng.choice(list(self.catalog.categories))
        subs = self.catalog.categories[category].subcategory_names()
        sub = suggestion.get("subcategory") if suggestion.get("subcategory") in subs else subs[0]
        self.complete(
            number,
            "categorize_incident",
            {
                "category": category,
                "subcategories": [sub],
                "work_notes": f"Categorized from: {short_description}",
            },
            actor=self.rng.choice(self.technicians),
        )
        self._probe_size(number)

    def diagnose(self, number: str, resolved: bool) -> None:
        data = {"resolved": resolved, "work_notes": "Checked the knowledge base."}
        if resolved:
            data |= {
                "resolution_code": "solved-remotely",
                "resolution_notes": "Fixed on the phone with the caller.",
            }
        self.complete(number, "diagnose", data, actor=self.rng.choice(self.technicians))

    def specialist_resolves(self, number: str) -> None:
        task = self.backend.open_task(number, "investigate_and_resolve")
        group = self.catalog.groups[task.group]
        self.complete(
            number,
            "investigate_and_resolve",
            {
                "resolution_code": "solved-permanently",
                "resolution_notes": "Root cause found and fixed; verified with the caller.",
                "work_notes": "Investigated logs.",
            },
            actor=self.rng.choice(group.members),
            task=task,
        )

    def reply(self, number: str, text: str) -> None:
        self.backend.message(number, "user_reply", {"message": text}, self.callers[number])

    def answer(self, number: str, message: str, payload: dict) -> None:
        self.backend.message(number, message, payload, self.callers[number])
        self.tick(minutes=5)

    def tick(self, minutes: int = 0, hours: float = 0) -> None:
        clock.current().advance(timedelta(minutes=minutes, hours=hours))
        self.backend.sweep()

    # --- the paths (engine.demo.DemoDriver.drive) -------------------------------------

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
                actor=self.callers[number],
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
        self.categorize(number, self.texts[number])
        if path == "first-line fix":
            self.diagnose(number, resolved=True)
        elif path == "SLA warning and breach":
            self.diagnose(number, resolved=False)
            self.reply(number, "Any news? I still cannot work.")
            due = self.backend.resolution_due(number)
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

    def _probe_size(self, number: str) -> None:
        if self.probe is None:
            return
        with self.probe():
            size = self.backend.state_size(number)
        if size is not None:
            self.diagnose_sizes.append(size)


def run_mix(backend: Backend, count: int, seed: int, timer) -> MixResult:
    """Drive `count` incidents through the weighted path mix (as `engine.demo.run_demo`).

    The clock is a fresh `FrozenClock` at `CLOCK_START`; the previous clock is restored.
    Checks how each incident ended (outside the timed loop).
    """
    rng = random.Random(seed)
    previous = clock.install(clock.FrozenClock(CLOCK_START))
    driver = Driver(backend, rng, on_probe=timer.probe)
    result = MixResult()
    names, weights = list(PATHS), [w for w, *_ in PATHS.values()]
    try:
        with timer.lifecycles():
            for i in range(count):
                path = names[i] if i < len(names) else rng.choices(names, weights)[0]
                number = driver.drive(path)
                result.paths[path] += 1
                result.numbers.append((path, number))
        result.diagnose_sizes = driver.diagnose_sizes
        for path, number in result.numbers:
            result.problems += check(path, number, backend.outcome(number))
    finally:
        clock.install(previous)
    return result


def check(path: str, number: str, outcome: Outcome) -> list[str]:
    """The demo's checks: did the incident end the way its path says it must?"""
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
    return problems
