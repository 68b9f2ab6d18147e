"""Template incidents: a few dozen real lifecycles through the runtime, to be cloned.

Closed ones along most of the demo's paths; open ones left waiting where a desk's
backlog waits: at "categorize_incident" (the service desk's queue, the tasks the
benchmark completes over HTTP), at "diagnose" (some claimed by tina or tom), and at
"investigate_and_resolve" in each specialist group. They run on a `FrozenClock` that
the demo's driver moves, so their SLA clocks, warnings and breaches are real.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from itertools import cycle, product

from sqlalchemy import select

from engine import clock
from engine.desk.demo import ALL_PATHS, REPORTS, Driver
from engine.desk.demo_desk import RuntimeDesk
from engine.instances.runtime import Runtime
from engine.store.models import Incident
from engine.worker.scheduler import Worker

# The closed paths (the one with an automated escalation is left out: the clones would
# need its escalation rule too).
CLOSED_PATHS = [path for path in ALL_PATHS if path != "automated escalation fired"]
WAITING_AT = ("categorize_incident", "diagnose", "investigate_and_resolve")
LEVELS = ("low", "medium", "high")
PER_WAITING_POINT = 12  # open templates waiting at each point


@dataclass(frozen=True)
class Template:
    """A template incident: where it waits (None: closed) and its own "now"."""

    number: str
    path: str | None  # the demo's path of a closed one
    instance_id: int
    incident_id: int
    waiting_at: str | None
    left_at: datetime  # the clock when its driver left it
    opened_at: datetime


def drive(
    runtime: Runtime,
    closed_start: datetime,
    open_start: datetime,
    seed: int,
    per_point: int = PER_WAITING_POINT,
    closed_each: int = 2,
) -> list[Template]:
    """Drive the templates on a frozen clock: `closed_each` closed incidents per path from
    `closed_start`, then `per_point` open ones per waiting point from `open_start`."""
    previous = clock.install(clock.FrozenClock(closed_start))
    try:
        desk = RuntimeDesk(runtime, Worker(runtime, transport=lambda message: None))
        driver = Driver(desk, random.Random(seed))
        left: list[tuple[str, str | None, str | None, datetime]] = []
        for path in CLOSED_PATHS * closed_each:
            left.append((driver.drive(path), path, None, clock.now()))
            driver.tick(hours=driver.rng.randint(1, 12))
        clock.current().set(open_start)  # type: ignore[union-attr]
        texts = cycle([text for text, broken in REPORTS if broken])
        levels = cycle(product(LEVELS, LEVELS))
        for waiting_at in WAITING_AT:
            for _ in range(per_point):
                number = _open_one(driver, waiting_at, next(texts), *next(levels))
                left.append((number, None, waiting_at, clock.now()))
                driver.tick(minutes=driver.rng.randint(10, 90))
    finally:
        clock.install(previous)
    return _templates(runtime, left)


def _open_one(driver: Driver, waiting_at: str, text: str, impact: str, urgency: str) -> str:
    """One incident reported with `text`, driven until it waits at `waiting_at`."""
    caller = driver.rng.choice(driver.catalog.callers)
    report = {
        "caller": caller,
        "channel": "portal",
        "short_description": text,
        "description": f"Reported by {caller}. {text}.",
        "is_broken": True,
        "impact": impact,
        "urgency": urgency,
    }
    number = driver.desk.start(report, caller)
    driver.callers[number], driver.texts[number] = caller, text
    driver.tick(minutes=driver.rng.randint(1, 15))
    if waiting_at == "categorize_incident":
        return number
    driver.categorize(number)
    if waiting_at == "diagnose":
        if driver.rng.random() < 0.25:  # some are claimed: the "mine" queues have rows
            task = driver.desk.open_task(number, "diagnose")
            who = driver.rng.choice(driver.technicians)
            runtime: Runtime = driver.desk.runtime  # type: ignore[attr-defined]
            runtime.claim_task(task.id, who, actor=who)
        return number
    driver.diagnose(number, resolved=False)
    return number


def _templates(
    runtime: Runtime, left: list[tuple[str, str | None, str | None, datetime]]
) -> list[Template]:
    numbers = [number for number, _, _, _ in left]
    with runtime.db.reading() as session:
        rows = {
            i.number: i
            for i in session.scalars(select(Incident).where(Incident.number.in_(numbers)))
        }
    return [
        Template(
            number=number,
            path=path,
            instance_id=rows[number].instance_id,
            incident_id=rows[number].id,
            waiting_at=waiting_at,
            left_at=left_at,
            opened_at=rows[number].opened_at,
        )
        for number, path, waiting_at, left_at in left
    ]


def span(template: Template) -> timedelta:
    """How long the template lived before it was left."""
    return template.left_at - template.opened_at
