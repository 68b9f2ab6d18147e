"""The HTTP benchmark's database: N incidents, M of them open, seeded once and kept.

A few dozen template incidents run through the runtime (`templates`), then clones
(`clone`) fill the database up to the asked numbers: the open ones split between the
service desk's categorize queue, diagnose, and the specialist groups' investigate step;
the closed ones in the mix of the demo's paths. Each clone lives at its own time:
closed ones opened within the last year, open ones left within the last few days
(categorize), ten (diagnose) or twenty (investigate), recent ones more often.

The seeded database is kept: on SQLite a file under bench/results named by the seed
format and the numbers; on PostgreSQL the database itself. A run reuses it when the
seed finished (the deployed definition's comment then carries the seed format and what
seeding took), its schema is at the code's newest migration, the counts match, and
enough open categorize tasks are left for the completions the run makes (each run uses
some up); otherwise it seeds again.
"""

from __future__ import annotations

import json
import random
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from alembic.script import ScriptDirectory
from sqlalchemy import func, select, text, update

from bench import databases
from engine.desk import accounts, directory, knowledge_base
from engine.desk.demo import ALL_PATHS
from engine.instances.runtime import Runtime
from engine.process.definitions import bundled
from engine.store.db import Database
from engine.store.migrate import alembic_config
from engine.store.models import (
    Definition,
    HistoryEvent,
    HumanTask,
    Incident,
    Instance,
    Membership,
    User,
)
from handlers.catalog import catalog

from . import clone, templates

SEED_FORMAT = 1  # change it when what the seed writes changes: old caches are not reused
MARK = "bench-http"
PASSWORD = "bench-http-password"
BENCH_TECHNICIANS = [f"tech{i:02d}" for i in range(1, 19)]  # with tina and tom: 20
OPEN_SHARES = {"categorize_incident": 0.40, "diagnose": 0.35, "investigate_and_resolve": 0.25}
OPEN_AGES = {
    "categorize_incident": timedelta(days=3),
    "diagnose": timedelta(days=10),
    "investigate_and_resolve": timedelta(days=20),
}
CLOSED_WITHIN = timedelta(days=365)
BATCH = 1000  # clones per transaction
CATEGORIZE = "categorize_incident"


@dataclass
class Seeded:
    """What the database holds, and what seeding it took (or that it was reused)."""

    url: str
    reused: bool
    seconds: float = 0.0
    templates: int = 0
    templates_s: float = 0.0
    clones: int = 0
    clones_s: float = 0.0
    incidents: int = 0
    open: int = 0
    open_tasks: dict[str, int] = field(default_factory=dict)
    history_rows: int = 0
    chain_problems: list[str] = field(default_factory=list)
    cloned: str = ""
    reason: str = ""  # why it was seeded again

    def as_dict(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if k != "url"}


def sqlite_url(folder: Path, incidents: int, open_count: int) -> str:
    return f"sqlite:///{folder / f'http-seed-v{SEED_FORMAT}-{incidents}-{open_count}.db'}"


def prepare(
    url: str,
    incidents: int,
    open_count: int,
    need: int,
    reseed: bool,
    seed: int,
    say: Callable[[str], None],
) -> Seeded:
    """The database at `url` seeded with `incidents` (`open_count` open), reused if it can."""
    why = "asked to (--reseed)"
    if not reseed:
        found, why = _reusable(url, incidents, open_count, need)
        if found is not None:
            return found
    say(f"seeding: {why}")
    started = time.perf_counter()
    db = _fresh(url)
    try:
        result = _seed(db, incidents, open_count, seed, say)
        result.seconds, result.reason = time.perf_counter() - started, why
        _mark_seeded(db, result)
        return _describe(db, result)
    finally:
        db.dispose()


def _reusable(url: str, incidents: int, open_count: int, need: int) -> tuple[Seeded | None, str]:
    """The database seeded earlier, if this run can use it; else why not."""
    if _missing(url):
        return None, "no seeded database yet"
    db = Database(url)
    try:
        earlier = _earlier_seed(db)
        if earlier is None:
            return None, f"no finished seed of format {SEED_FORMAT} there"
        schema, newest = _migrations(db)
        if schema != newest:
            return None, f"its schema is at migration {schema}, the code's newest is {newest}"
        found = _describe(db, Seeded(url, reused=True, **earlier))
    except Exception as err:  # noqa: BLE001 - no schema yet, a half-written file...
        return None, f"not a seeded database ({type(err).__name__})"
    finally:
        db.dispose()
    if (found.incidents, found.open) != (incidents, open_count):
        return None, (
            f"it holds {found.incidents} incidents ({found.open} open), "
            f"not {incidents} ({open_count})"
        )
    left = found.open_tasks.get(CATEGORIZE, 0)
    if left < need:
        return None, f"{left} open categorize tasks left, the run completes {need}"
    return found, ""


def _migrations(db: Database) -> tuple[str | None, str | None]:
    """The database's migration and the newest one the code has."""
    with db.engine.connect() as conn:
        schema = conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
    return schema, ScriptDirectory.from_config(alembic_config(db)).get_current_head()


def _missing(url: str) -> bool:
    return url.startswith("sqlite:///") and not Path(url.removeprefix("sqlite:///")).exists()


SEED_STATS = ("seconds", "templates", "templates_s", "clones", "clones_s", "cloned")


def _marker() -> str:
    return f"seed format {SEED_FORMAT}: "


def _mark_seeded(db: Database, result: Seeded) -> None:
    """Once the seed finished: its format and what it took, on the deployed definition."""
    stats = {name: getattr(result, name) for name in SEED_STATS}
    with db.writing() as session:
        session.execute(
            update(Definition)
            .where(Definition.deployed_by == MARK)
            .values(comment=_marker() + json.dumps(stats))
        )


def _earlier_seed(db: Database) -> dict[str, Any] | None:
    """What the finished seed of this format took, as `_mark_seeded` noted it."""
    with db.reading() as session:
        comment = session.scalar(select(Definition.comment).where(Definition.deployed_by == MARK))
    if not comment or not comment.startswith(_marker()):
        return None
    return json.loads(comment.removeprefix(_marker()))


def _fresh(url: str) -> Database:
    """An empty, migrated database with the directory, the articles and the bundled
    process; the benchmark's extra technicians; known passwords."""
    if url.startswith("sqlite:///"):
        path = Path(url.removeprefix("sqlite:///"))
        path.parent.mkdir(parents=True, exist_ok=True)
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
    db = Database(url)
    databases.reset_schema(db)
    with db.writing() as session:
        directory.seed(session, catalog())
        knowledge_base.seed(session)
        for name in BENCH_TECHNICIANS:
            session.add(
                User(
                    username=name,
                    full_name=f"Bench Technician {name[-2:]}",
                    email=f"{name}@example.com",
                    roles=["technician"],
                )
            )
        session.flush()  # the users before their memberships (no ORM relationship orders them)
        for name in BENCH_TECHNICIANS:
            session.add(Membership(group_name=catalog().service_desk_group, username=name))
        session.flush()
    for name in ["tina", "tom", "sam", *BENCH_TECHNICIANS]:
        accounts.set_password(db, name, PASSWORD)
    Runtime(db).deploy(bundled(), deployed_by=MARK, comment="seeding")
    return db


def _seed(db: Database, incidents: int, open_count: int, seed: int, say) -> Seeded:
    now = datetime.now(UTC).replace(microsecond=0)
    runtime = Runtime(db)
    per_point = max(1, min(templates.PER_WAITING_POINT, open_count // 10))
    closed_each = 2 if incidents >= 1000 else 1
    started = time.perf_counter()
    made = templates.drive(
        runtime,
        closed_start=now - timedelta(days=120),
        open_start=now - timedelta(days=4),
        seed=seed,
        per_point=per_point,
        closed_each=closed_each,
    )
    result = Seeded(db.url, reused=False, templates=len(made))
    result.templates_s = time.perf_counter() - started
    say(f"{len(made)} template incidents driven in {result.templates_s:.1f}s")
    if len(made) > incidents or sum(t.waiting_at is not None for t in made) > open_count:
        raise SystemExit(f"too few incidents for the {len(made)} templates: ask for more")
    rng = random.Random(seed)
    plan = _plan(made, incidents - len(made), open_count, now, rng)
    started = time.perf_counter()
    with db.engine.connect() as conn:
        blueprints = {t.incident_id: clone.Blueprint.read(conn, t.incident_id) for t in made}
    instance_id, incident_id = _next_ids(db)
    first_instance = instance_id
    for start in range(0, len(plan), BATCH):
        batch = clone.Batch(rng)
        for template, delta in plan[start : start + BATCH]:
            batch.add(
                clone.Clone(blueprints[template.incident_id], delta), instance_id, incident_id
            )
            instance_id, incident_id = instance_id + 1, incident_id + 1
        with db.writing() as session:
            batch.write(session.connection())
        done = min(start + BATCH, len(plan))
        if done % (20 * BATCH) == 0 or done == len(plan):
            rate = done / (time.perf_counter() - started)
            say(f"cloned {done:,} of {len(plan):,} ({rate:,.0f} incidents/s)")
    result.clones, result.clones_s = len(plan), time.perf_counter() - started
    with db.writing() as session:
        conn = session.connection()
        clone.fix_sequences(conn)
        sample = rng.sample(range(first_instance, instance_id), min(30, len(plan)))
        result.chain_problems = clone.verify_chain(conn, sample)
    _settle(db)
    result.cloned = _what_was_cloned(made, plan)
    return result


def _next_ids(db: Database) -> tuple[int, int]:
    with db.engine.connect() as conn:
        return clone.next_ids(conn)


def _plan(
    made: list[templates.Template], count: int, open_count: int, now: datetime, rng: random.Random
) -> list[tuple[templates.Template, timedelta]]:
    """Which template each clone copies and how far it moves in time, shuffled."""
    open_templates = [t for t in made if t.waiting_at]
    closed_templates = [t for t in made if not t.waiting_at]
    open_clones = open_count - len(open_templates)
    plan = []
    for point, share in OPEN_SHARES.items():
        at_point = [t for t in open_templates if t.waiting_at == point]
        if point == CATEGORIZE:
            wanted = open_clones - sum(
                round(open_clones * s) for p, s in OPEN_SHARES.items() if p != CATEGORIZE
            )
        else:
            wanted = round(open_clones * share)
        for _ in range(wanted):
            template = rng.choice(at_point)
            age = OPEN_AGES[point] * rng.random() ** 2  # recent ones more often
            left = now - age - timedelta(minutes=1)
            plan.append((template, _seconds(left - template.left_at)))
    weights = [ALL_PATHS[t.path][0] if t.path else 1 for t in closed_templates]
    for template in rng.choices(closed_templates, weights, k=count - len(plan)):
        lived = templates.span(template)
        latest = now - lived - timedelta(hours=1)
        opened = latest - (CLOSED_WITHIN - lived) * rng.random()
        plan.append((template, _seconds(opened - template.opened_at)))
    rng.shuffle(plan)
    return plan


def _seconds(delta: timedelta) -> timedelta:
    return timedelta(seconds=int(delta.total_seconds()))


def _settle(db: Database) -> None:
    """After the bulk load: PostgreSQL's statistics (autovacuum would gather them soon
    after; here they are there before the first request); SQLite's WAL folded in."""
    if db.is_sqlite:
        raw = db.engine.raw_connection()
        try:
            raw.cursor().execute("PRAGMA wal_checkpoint(TRUNCATE)")
        finally:
            raw.close()
    else:
        with db.engine.begin() as conn:
            conn.exec_driver_sql("ANALYZE")


def _what_was_cloned(made: list[templates.Template], plan: list) -> str:
    kinds = Counter(t.waiting_at or "closed" for t, _ in plan)
    return (
        f"{len(made)} templates driven through the runtime "
        f"({sum(not t.waiting_at for t in made)} closed, "
        f"{sum(bool(t.waiting_at) for t in made)} open); {len(plan):,} clones "
        f"({', '.join(f'{n:,} {k}' for k, n in kinds.most_common())}), each with its instance "
        "(state rewritten), incident, open tasks, timers and its full history (re-chained); "
        "notifications not cloned"
    )


def _describe(db: Database, result: Seeded) -> Seeded:
    with db.reading() as session:
        result.incidents = session.scalar(select(func.count()).select_from(Incident)) or 0
        result.open = (
            session.scalar(
                select(func.count()).select_from(Instance).where(Instance.status == "running")
            )
            or 0
        )
        result.open_tasks = {
            element: count
            for element, count in session.execute(
                select(HumanTask.element, func.count()).group_by(HumanTask.element)
            )
        }
        result.history_rows = session.scalar(select(func.count()).select_from(HistoryEvent)) or 0
    return result
