"""The measurements: pages read and tasks completed over HTTP, as people would.

- the queue page: GET /desk/queue?q=groups as tina (her group's unassigned tasks, the
  100 most urgent shown) and ?q=all as sam (a manager: every open task);
- the incident page: GET /desk/incidents/<number> of random open and closed incidents;
- completing a task: POST /desk/tasks/<id> with the categorize form, for distinct open
  categorize tasks, by one client in turn and by many at once (one technician each).

Every measurement runs after a warm-up that reaches every worker (concurrent requests),
so each worker has compiled the process and filled its caches. A request that does not
answer as expected (200 for a page; 302 to the queue for a completion) is an error: it
is counted and the first one's body kept, and its time is left out. Beside the times,
the CPU time the server's workers spent per request (logging in and warming up left
out): the work a request costs, which a busy machine does not inflate as it does the
response time (on PostgreSQL the database server's own CPU time is not in it).
"""

from __future__ import annotations

import random
import re
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select

from bench.timing import percentile
from engine.store.db import Database
from engine.store.models import HumanTask, Incident, Instance
from handlers.catalog import catalog

from .client import Client, Response
from .seed import BENCH_TECHNICIANS, CATEGORIZE, PASSWORD
from .server import Served

# How many tasks the queue holds: the count above the table (or the rows' data-total).
TOTAL = re.compile(rb'id="queue-count"[^>]*>\s*([\d,]+)|data-total="(\d+)"')
QUEUE_ROW = re.compile(rb"<tr [^>]*data-task=")


@dataclass
class Timings:
    """The times of one measurement, and what went wrong."""

    samples: list[float] = field(default_factory=list)
    errors: int = 0
    first_error: str = ""
    wall_s: float = 0.0
    cpu_s: float | None = None  # the server's workers, during the measured requests
    notes: dict[str, Any] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def record(self, answer: Response, ok: bool) -> None:
        with self._lock:
            if ok:
                self.samples.append(answer.ms)
                return
            self.errors += 1
            if not self.first_error:
                body = answer.body.decode(errors="replace")[:2000]
                self.first_error = f"HTTP {answer.status} {answer.location}\n{body}"

    def summary(self) -> dict[str, Any]:
        found = {
            "n": len(self.samples),
            "errors": self.errors,
            "p50_ms": percentile(self.samples, 50),
            "p95_ms": percentile(self.samples, 95),
            "p99_ms": percentile(self.samples, 99),
            "mean_ms": sum(self.samples) / len(self.samples) if self.samples else 0.0,
            "max_ms": max(self.samples, default=0.0),
            **self.notes,
        }
        if self.wall_s:
            found["wall_s"] = self.wall_s
            found["per_s"] = (len(self.samples) + self.errors) / self.wall_s
        if self.cpu_s is not None and self.samples:
            found["server_cpu_ms"] = 1000 * self.cpu_s / (len(self.samples) + self.errors)
        if self.first_error:
            found["first_error"] = self.first_error
        return found


@dataclass(frozen=True)
class Plan:
    """How much to measure."""

    requests: int = 300  # per page measurement
    single_tasks: int = 200  # completions by one client
    clients: int = 20
    tasks_per_client: int = 50
    parallel_warmup: int = 8  # concurrent sessions in a warm-up: more than the workers

    @property
    def warmup_tasks(self) -> int:
        return self.parallel_warmup  # one each, all at once: every worker completes some

    @property
    def tasks_needed(self) -> int:
        return self.warmup_tasks + self.single_tasks + self.clients * self.tasks_per_client


class Stopwatch:
    """The server's worker CPU time over a block: `cpu_s` once it ended."""

    def __init__(self, server: Served) -> None:
        self.server = server
        self.cpu_s: float | None = None

    def __enter__(self) -> Stopwatch:
        self._started = self.server.cpu_seconds()
        return self

    def __exit__(self, *_exc: object) -> None:
        ended = self.server.cpu_seconds()
        if self._started is not None and ended is not None:
            self.cpu_s = ended - self._started


def logged_in(server: Served, username: str) -> Client:
    client = Client(server.address)
    client.log_in(username, PASSWORD)
    return client


def warm(server: Served, username: str, paths: Sequence[str], parallel: int) -> None:
    """Send `paths` from `parallel` sessions at once, so every worker serves some."""
    clients = [logged_in(server, username) for _ in range(parallel)]

    def send(i: int) -> None:
        for path in paths[i::parallel]:
            clients[i].get(path)

    try:
        with ThreadPoolExecutor(parallel) as pool:
            list(pool.map(send, range(parallel)))
    finally:
        for client in clients:
            client.close()


def pages(
    server: Served,
    username: str,
    paths: Sequence[str],
    plan: Plan,
    check: Callable[[Response], bool] = lambda answer: answer.status == 200,
) -> Timings:
    """GET each of `paths` in turn as `username`, after a warm-up on the first ones."""
    warm(server, username, list(paths[: 3 * plan.parallel_warmup]), plan.parallel_warmup)
    timings = Timings()
    client = logged_in(server, username)
    try:
        with Stopwatch(server) as stopwatch:
            for path in paths:
                answer = client.get(path)
                timings.record(answer, check(answer))
    finally:
        client.close()
    timings.cpu_s = stopwatch.cpu_s
    return timings


def queue(server: Served, username: str, name: str, plan: Plan) -> Timings:
    paths = [f"/desk/queue?q={name}"] * plan.requests
    timings = pages(server, username, paths, plan, _is_queue)
    client = logged_in(server, username)
    try:
        body = client.get(paths[0]).body
    finally:
        client.close()
    total = TOTAL.search(body)
    timings.notes = {
        "user": username,
        "rows_in_queue": int((total.group(1) or total.group(2)).replace(b",", b""))
        if total
        else None,
        "rows_shown": len(QUEUE_ROW.findall(body)),
    }
    return timings


def _is_queue(answer: Response) -> bool:
    return answer.status == 200 and b'id="queue-rows"' in answer.body


# --- what there is to read and to complete ----------------------------------------------


def incident_numbers(db: Database, count: int, rng: random.Random) -> dict[str, list[str]]:
    """`count` random open and `count` random closed incident numbers."""
    with db.reading() as session:
        rows = session.execute(
            select(Incident.number, Instance.status).join(
                Instance, Instance.id == Incident.instance_id
            )
        ).all()
    found: dict[str, list[str]] = {"open": [], "closed": []}
    for number, status in rows:
        if number is None:
            continue
        found["open" if status == "running" else "closed"].append(number)
    return {kind: rng.choices(numbers, k=count) for kind, numbers in found.items() if numbers}


def categorize_tasks(db: Database, rng: random.Random) -> list[str]:
    """The open categorize tasks nobody has, shuffled."""
    with db.reading() as session:
        ids = list(
            session.scalars(
                select(HumanTask.id)
                .where(HumanTask.element == CATEGORIZE, HumanTask.assignee.is_(None))
                .order_by(HumanTask.id)
            )
        )
    rng.shuffle(ids)
    return ids


def categorize_form(rng: random.Random) -> dict[str, Any]:
    """A valid categorize form: a category and one of its subcategories."""
    categories = catalog().categories
    category = rng.choice(sorted(categories))
    return {
        "category": category,
        "subcategories": [rng.choice(categories[category].subcategory_names())],
        "work_notes": "Categorized by the HTTP benchmark.",
    }


# --- completing tasks -------------------------------------------------------------------


def _complete(client: Client, task_id: str, form: dict[str, Any], timings: Timings) -> None:
    answer = client.post(f"/desk/tasks/{task_id}", form)
    done = answer.status == 302 and answer.location.rstrip("/").endswith("/desk/queue")
    timings.record(answer, done)


def completions(
    server: Served, usernames: Sequence[str], tasks: Sequence[str], rng: random.Random
) -> Timings:
    """Each of `usernames` (one client each, all at once) completes its share of `tasks`."""
    shares = [list(tasks[i :: len(usernames)]) for i in range(len(usernames))]
    forms = {task: categorize_form(rng) for task in tasks}
    clients = [logged_in(server, name) for name in usernames]
    timings = Timings()
    start = threading.Barrier(len(clients) + 1)

    def work(client: Client, share: list[str]) -> None:
        start.wait()
        for task in share:
            _complete(client, task, forms[task], timings)

    threads = [
        threading.Thread(target=work, args=(c, s), daemon=True)
        for c, s in zip(clients, shares, strict=True)
    ]
    for thread in threads:
        thread.start()
    with Stopwatch(server) as stopwatch:
        start.wait()
        began = time.perf_counter()
        for thread in threads:
            thread.join()
        timings.wall_s = time.perf_counter() - began
    timings.cpu_s = stopwatch.cpu_s
    for client in clients:
        client.close()
    timings.notes = {"clients": len(clients), "tasks": len(tasks)}
    return timings


def technicians(count: int) -> list[str]:
    """`count` service-desk technicians (tina, tom, then the benchmark's own)."""
    people = ["tina", "tom", *BENCH_TECHNICIANS]
    if count > len(people):
        raise SystemExit(f"at most {len(people)} concurrent clients (one technician each)")
    return people[:count]


def measure(server: Served, db: Database, plan: Plan, rng: random.Random, say) -> dict[str, Any]:
    """Every measurement against `server`; their summaries by name."""
    results: dict[str, Any] = {}
    say("queue page, q=groups as tina")
    results["queue_groups"] = queue(server, "tina", "groups", plan).summary()
    say("queue page, q=all as sam")
    results["queue_all"] = queue(server, "sam", "all", plan).summary()
    numbers = incident_numbers(db, plan.requests // 2, rng)
    for kind in ("open", "closed"):
        say(f"incident page, {kind} incidents")
        paths = [f"/desk/incidents/{n}" for n in numbers.get(kind, [])]
        results[f"incident_{kind}"] = pages(server, "tina", paths, plan).summary()
    tasks = categorize_tasks(db, rng)
    if len(tasks) < plan.tasks_needed:
        raise SystemExit(f"{len(tasks)} open categorize tasks, {plan.tasks_needed} needed")
    warmup, tasks = tasks[: plan.warmup_tasks], tasks[plan.warmup_tasks :]
    say(f"warming up the workers with {len(warmup)} completions")
    completions(server, technicians(plan.parallel_warmup), warmup, rng)
    say(f"completing {plan.single_tasks} tasks, 1 client")
    single, tasks = tasks[: plan.single_tasks], tasks[plan.single_tasks :]
    results["complete_1"] = completions(server, ["tina"], single, rng).summary()
    many = plan.clients * plan.tasks_per_client
    say(f"completing {many} tasks, {plan.clients} clients at once")
    results["complete_concurrent"] = completions(
        server, technicians(plan.clients), tasks[:many], rng
    ).summary()
    return results
