"""kill -9 under load, on PostgreSQL (issue 10).

gunicorn (`web.wsgi:app`, three sync workers) and two `deskflow worker` processes run
around the test database. Client threads drive a bounded load through the JSON API —
incidents reported, tasks claimed and completed (sometimes twice at once, a double
click), messages sent (user_reply, hold, resume, reprioritize, confirm, reopen) — and a
few automated escalations are added, while a killer thread SIGKILLs a gunicorn worker
(gunicorn forks a new one) or a deskflow worker (a spare takes its place) every second or
two, about twenty in all; half the time it waits up to a second for one that is inside a
database transaction (pg_stat_activity, by application_name). All processes read one
sped-up clock (`crash_clock.FastClock`), so the SLA timers, status updates and
escalation rules of the incidents fall due during the run and are fired by workers that
are being killed.

Every write carries a marker of its own in its text (a description, work notes, a
message's reason...), and every answer is recorded: 2xx acknowledged, 4xx refused, no
answer at all (the worker died) unknown. Afterwards, with everything stopped and one
final worker sweep in the test process once the killed workers' leases have run out:

- no acknowledged write is lost and none is applied twice: for each marker the history
  holds between (acknowledged) and (acknowledged + unknown) commands carrying it; an
  acknowledged incident exists with its number; a completed task is gone and completed
  exactly once; a fired escalation rule fired once;
- `engine.audit.verify` finds every chain and anchor clean;
- `engine.audit.replay` re-executes every incident identically;
- nothing is stuck: no due timer, escalation rule or notification left behind, no error
  event, and each instance's open-task and timer rows and incident state are what its
  stored workflow state says.

Problems are collected and reported together, with the figures of the run (`pytest -s`
shows them); the processes' logs are in the test's tmp_path.

    DESKFLOW_TEST_DATABASE_URL=postgresql://... pytest -s tests/integration/test_crash.py
"""

from __future__ import annotations

import http.client
import itertools
import json
import os
import random
import re
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
import traceback
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, text

from engine import clock
from engine.audit.anchors import write_anchor
from engine.audit.chains import verify
from engine.audit.replay import Replayer
from engine.desk import api_tokens
from engine.errors import Conflict, DeskflowError
from engine.instances import projection
from engine.instances.runtime import Runtime
from engine.process import definitions
from engine.spiff import CommandContext, load_workflow
from engine.store.db import Database
from engine.store.models import (
    EscalationRule,
    HistoryEvent,
    HumanTask,
    Incident,
    Instance,
    Notification,
    Timer,
)
from engine.worker.scheduler import Worker

from . import crash_clock
from .crash_clock import FastClock

URL = os.environ.get("DESKFLOW_TEST_DATABASE_URL", "")
pytestmark = [
    pytest.mark.postgres,
    pytest.mark.skipif(
        not URL.startswith("postgresql"),
        reason="the kill -9 test needs PostgreSQL (set DESKFLOW_TEST_DATABASE_URL): web "
        "processes and several workers share one database only there",
    ),
    pytest.mark.skipif(
        not Path("/proc/self/stat").exists(), reason="finds gunicorn's workers in /proc"
    ),
]

ROOT = Path(__file__).resolve().parents[2]

SPEED = 240  # one second of the run is four minutes of the desk's clock
CLIENTS = 4
INCIDENTS_PER_CLIENT = 14  # then more, up to MORE_INCIDENTS, until MIN_KILLS kills are done
MORE_INCIDENTS = 40
MIN_KILLS = 12
LOAD_SECONDS = 35  # the load stops by then, whatever is left of it
MAX_STEPS = 14  # actions on one incident
GUNICORN_WORKERS = 3
DESKFLOW_WORKERS = 2
KILLS = 22  # at most
KILL_PAUSE = (0.6, 2.2)  # seconds between two kills
WEB_SHARE = 0.5  # of the kills: gunicorn workers; the rest deskflow workers
DOUBLE_CLICK = 0.2  # completions sent twice at once
REQUEST_TIMEOUT = 20
BEYOND_LEASES = timedelta(minutes=10)  # longer than a notification claim's lease (2 min)

TECHNICIANS = ("tina", "tom")
CALLERS = ("alice", "bob")
SPECIALISTS = ("ned", "nick", "nora")  # network-ops, the group of every incident's category
MANAGER = "sam"
CATEGORIZED = {"category": "network", "subcategories": ["vpn"]}
RESOLVED = {"resolved": True, "resolution_code": "solved-remotely", "resolution_notes": "Done."}
ESCALATED = {"resolved": False}
SPECIALIST_RESOLVED = {"resolution_code": "solved-permanently", "resolution_notes": "Fixed."}
# impact, urgency: mostly P1 and P2 (24x7, status updates every 30 or 60 minutes)
PRIORITIES = [("high", "high")] * 4 + [("medium", "high"), ("high", "medium")] * 2
PRIORITIES += [("medium", "medium"), ("low", "medium")]
PLANS = ["first_line"] * 3 + ["reopen", "escalate", "escalate", "hold", "hold", "reprioritize"]
PLANS += ["park"] * 3  # left in diagnosis: its timers fire until the end
MARKER = re.compile(r"mk\d{5}")
EXCEPTION_LINE = re.compile(r"[A-Za-z_][\w.]*(: |$)")  # "psycopg.errors.X: ..." in a traceback
NAMES = re.compile(r"[0-9a-f-]{36}|INC\d+|mk\d{5}")  # left out when refusals are counted


# --- the processes ----------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def children(pid: int) -> list[int]:
    """The processes whose parent is `pid` (Linux /proc)."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        if int(stat[stat.rindex(")") + 2 :].split()[1]) == pid:
            found.append(int(entry))
    return found


def in_transaction_soon(db: Database, rng: random.Random, processes: dict[str, Any]) -> Any:
    """One of `processes` (by PostgreSQL application_name) seen in a transaction within a
    second, or None."""
    query = text(
        "SELECT application_name FROM pg_stat_activity "
        "WHERE application_name = ANY(:names) AND xact_start IS NOT NULL"
    )
    until = time.monotonic() + 1
    with db.engine.connect() as connection:
        while processes and time.monotonic() < until:
            busy = connection.execute(query, {"names": list(processes)}).scalars().all()
            if busy:
                return processes[rng.choice(sorted(busy))]
            time.sleep(0.02)
    return None


class Gunicorn:
    """`web.wsgi:app` under gunicorn; its arbiter forks a new worker for each one killed.

    With --preload the app is loaded once, before the workers are forked, so a new worker
    serves at once instead of spending seconds importing on a busy machine."""

    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.port = free_port()
        command = [
            *(sys.executable, "-m", "gunicorn", "-c", crash_clock.__file__, "--preload"),
            *("--workers", str(GUNICORN_WORKERS), "--bind", f"127.0.0.1:{self.port}"),
            *("--timeout", "30", "--graceful-timeout", "5", "--log-level", "warning"),
            "--no-control-socket",  # its default path is one per user, shared by every run
            "web.wsgi:app",
        ]
        with log.open("ab") as out:
            self.process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=out, stderr=out)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"gunicorn exited with {self.process.returncode}; see {log}")
            if Api(self.port, "").call("GET", "/health")[0] == 200:
                return
            time.sleep(0.2)
        raise RuntimeError(f"gunicorn did not answer /health in 60 s; see {log}")

    def workers(self) -> list[int]:
        return children(self.process.pid)

    def kill_one(self, rng: random.Random, db: Database) -> str | None:
        """Kill a worker: half the time one in a transaction (if one is within a second),
        else any, busy or not; what was killed (None: no worker to kill)."""
        pids = self.workers()
        victim, what = (rng.choice(pids) if pids else None), "gunicorn worker, at random"
        if rng.random() < 0.5:
            busy = in_transaction_soon(db, rng, {f"crash-web-{pid}": pid for pid in pids})
            if busy is not None:
                victim, what = busy, "gunicorn worker, in a transaction"
        if victim is None:
            return None
        try:
            os.kill(victim, signal.SIGKILL)
        except ProcessLookupError:
            return None
        return what

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


@dataclass
class DeskflowWorker:
    process: subprocess.Popen
    name: str  # its PostgreSQL application_name
    log: Path

    def go(self) -> None:
        """Let it start sweeping (it waits on its stdin, see `crash_clock`)."""
        assert self.process.stdin is not None
        self.process.stdin.write(b"go\n")
        self.process.stdin.close()

    def ready(self) -> bool:
        """Sweeping: alive and past its start-up."""
        return self.process.poll() is None and b"worker started" in self.log.read_bytes()


class DeskflowWorkers:
    """`deskflow worker` processes. One killed is replaced at once by a spare: a process
    that has imported Deskflow already (seconds on a busy machine) and waits to be told
    to start; then another spare is started. Each connects under an application_name of
    its own (PGAPPNAME), so that a kill can wait for a worker that is in a transaction
    (firing timers, claiming or settling notifications)."""

    def __init__(self, db: Database, env: dict[str, str], logs: Path) -> None:
        self.db, self.env, self.logs = db, env, logs
        self.started = 0
        self.exited: list[str] = []  # workers that ended without being killed
        self.running = [self._spawn() for _ in range(DESKFLOW_WORKERS)]
        for worker in self.running:
            worker.go()
        self.spare = self._spawn()
        deadline = time.monotonic() + 60
        while not all(worker.ready() for worker in self.running):
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"the deskflow workers did not start in 60 s; see {logs}")
            time.sleep(0.2)

    def _spawn(self) -> DeskflowWorker:
        self.started += 1
        name = f"crash-worker-{self.started}"
        command = [
            *(sys.executable, "-m", "tests.integration.crash_clock"),
            *("--database", self.db.url, "worker", "--interval", "0.25"),
        ]
        log = self.logs / f"{name}.log"
        env = self.env | {"PGAPPNAME": name, crash_clock.WAIT: "1"}
        with log.open("ab") as out:
            process = subprocess.Popen(
                command, cwd=ROOT, env=env, stdin=subprocess.PIPE, stdout=out, stderr=out
            )
        return DeskflowWorker(process, name, log)

    def kill_one(self, rng: random.Random) -> str | None:
        """Kill a ready worker, one in a transaction if there is one within a second, and
        put the spare in its place; what was killed (None: no worker was ready)."""
        ready = {worker.name: worker for worker in self.running if worker.ready()}
        if not ready:
            return None
        victim, what = rng.choice(list(ready.values())), "deskflow worker, between transactions"
        busy = in_transaction_soon(self.db, rng, ready)
        if busy is not None:
            victim, what = busy, "deskflow worker, in a transaction"
        victim.process.kill()
        victim.process.wait()
        self.spare.go()
        self.running[self.running.index(victim)] = self.spare
        self.spare = self._spawn()
        return what

    def stop(self) -> None:
        for worker in self.running:
            if worker.process.poll() is not None:
                code = worker.process.returncode
                self.exited.append(f"{worker.name} exited with {code}; see {worker.log}")
            elif worker.ready():  # where it is, in its log, should one be stuck
                worker.process.send_signal(signal.SIGUSR1)
        time.sleep(0.5)
        for worker in [*self.running, self.spare]:
            worker.process.terminate()
            if worker.process.stdin is not None:
                worker.process.stdin.close()
        for worker in [*self.running, self.spare]:
            try:
                worker.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                worker.process.kill()
                worker.process.wait()

    def mails(self) -> Counter[str]:
        """Message-ID -> how many times a worker logged sending it (delivery is a log line)."""
        sent = Counter()
        for log in self.logs.glob("crash-worker-*.log"):
            sent.update(re.findall(r"message-id=(<[^>]+>)", log.read_text(errors="replace")))
        return sent


# --- the clients --------------------------------------------------------------------------


class Api:
    """One HTTP request per connection, as a token's owner; (status, JSON) or (None, None)
    when no answer came (the worker serving it was killed)."""

    def __init__(self, port: int, token: str) -> None:
        self.port = port
        self.headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}

    def call(self, method: str, path: str, body: Any = None) -> tuple[int | None, Any]:
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=REQUEST_TIMEOUT)
        try:
            payload = None if body is None else json.dumps(body)
            connection.request(method, path, body=payload, headers=self.headers)
            response = connection.getresponse()
            raw = response.read()
        except (OSError, http.client.HTTPException):
            return None, None
        finally:
            connection.close()
        try:
            return response.status, json.loads(raw)
        except ValueError:
            return response.status, {"error": raw[:300].decode(errors="replace")}


@dataclass
class Attempt:
    """One write and what the server said to it."""

    kind: str  # create | claim | complete | message | escalation
    who: str
    path: str
    marker: str | None = None
    number: str | None = None
    task_id: str | None = None  # complete, claim; escalation: the rule id
    element: str | None = None  # claim: the task's element
    status: int | None = None  # None: no answer, the outcome is unknown
    answer: Any = None

    @property
    def outcome(self) -> str:
        if self.status is None:
            return "unknown"
        if 200 <= self.status < 300:
            return "acknowledged"
        return "server error" if self.status >= 500 else "refused"

    def __str__(self) -> str:
        said = self.answer.get("error") if isinstance(self.answer, dict) else self.answer
        return f"{self.kind} {self.path} as {self.who} [{self.marker}]: {self.status} {said}"


@dataclass
class Case:
    """One incident a client works on, and the path it is meant to take."""

    number: str
    caller: str
    technician: str
    plan: str
    done: set[str] = field(default_factory=set)
    steps: int = 0
    finished: bool = False


class Load:
    """The client threads' work and its ledger."""

    def __init__(self, port: int, tokens: dict[str, str], runtime: Runtime) -> None:
        self.apis = {name: Api(port, token) for name, token in tokens.items()}
        self.runtime = runtime  # automated escalations: no API for them
        self.attempts: list[Attempt] = []
        self.reads = Counter()  # GET outcomes
        self._reads_lock = threading.Lock()
        self.server_errors: list[str] = []
        self.crashes: list[str] = []  # a client thread that raised
        self._markers = itertools.count(1)
        self.deadline = 0.0
        self.enough: Callable[[], bool] = lambda: True  # killed enough to judge the run

    def marker(self) -> str:
        return f"mk{next(self._markers):05d}"

    # --- requests

    def read(self, who: str, path: str) -> Any:
        for attempt in range(8):
            status, answer = self.apis[who].call("GET", path)
            with self._reads_lock:
                self.reads["no answer" if status is None else status] += 1
            if status == 200:
                return answer
            if status is not None and status >= 500:
                self.server_errors.append(f"GET {path} as {who}: {status} {answer}")
            elif status is not None:
                return None
            time.sleep(0.1 * (attempt + 1))
        return None

    def write(self, kind: str, who: str, path: str, body: Any, **about: Any) -> Attempt:
        attempt = Attempt(kind, who, path, **about)
        attempt.status, attempt.answer = self.apis[who].call("POST", path, body)
        self.attempts.append(attempt)
        if attempt.outcome == "server error":
            self.server_errors.append(str(attempt))
        return attempt

    # --- one client

    def client(self, index: int) -> None:
        rng = random.Random(1000 + index)
        mine: list[Case] = []
        created = 0
        while time.monotonic() < self.deadline:
            active = [case for case in mine if not case.finished]
            may_create = created < INCIDENTS_PER_CLIENT or (
                created < MORE_INCIDENTS and not self.enough()
            )  # a fast machine would otherwise finish the load before the kills
            if may_create and (not active or rng.random() < 0.3):
                created += 1
                case = self.report(index, rng, first=not mine)
                if case is not None:
                    mine.append(case)
            elif active:
                self.advance(rng.choice(active), rng)
            else:
                return
            time.sleep(rng.uniform(0.02, 0.2))

    def report(self, index: int, rng: random.Random, first: bool) -> Case | None:
        """A new incident; a client's first is critical and left in diagnosis, so that its
        SLA timers and status updates (every 30 minutes, 7.5 s here) fire all along."""
        caller, technician = CALLERS[index % 2], TECHNICIANS[index % 2]
        marker = self.marker()
        impact, urgency = ("high", "high") if first else rng.choice(PRIORITIES)
        body = {
            "short_description": f"VPN drops ({marker})",
            "description": "Reported by the crash test.",
            "impact": impact,
            "urgency": urgency,
        }
        reporter = caller
        if rng.random() < 0.25:  # the service desk logs a call
            reporter = technician
            body |= {"caller": caller, "channel": "phone"}
        attempt = self.write("create", reporter, "/api/incidents", body, marker=marker)
        if attempt.status != 201:
            return None
        attempt.number = attempt.answer["number"]
        return Case(attempt.number, caller, technician, "park" if first else rng.choice(PLANS))

    def advance(self, case: Case, rng: random.Random) -> None:
        case.steps += 1
        if case.steps > MAX_STEPS:
            case.finished = True
            return
        view = self.read(case.technician, f"/api/incidents/{case.number}")
        if view is None:
            return
        state = view["incident"]["state"]
        tasks = {task["task"]: task for task in view["open_tasks"]}
        if state == "Closed":
            case.finished = True
        elif "categorize_incident" in tasks:
            self.complete(case, tasks["categorize_incident"], case.technician, CATEGORIZED, rng)
        elif "diagnose" in tasks:
            self.diagnose(case, tasks["diagnose"], rng)
        elif "investigate_and_resolve" in tasks:
            task = tasks["investigate_and_resolve"]
            who = task["assignee"] if task["assignee"] in SPECIALISTS else SPECIALISTS[0]
            self.complete(case, task, who, SPECIALIST_RESOLVED, rng)
        elif state == "On Hold":
            if rng.random() < 0.5:
                self.message(case, case.technician, "resume", "note")
            else:
                self.message(case, case.caller, "user_reply", "message")
        elif state == "Resolved":
            if case.plan == "reopen" and "reopen" not in case.done:
                case.done.add("reopen")
                self.message(case, case.caller, "reopen", "reason")
            else:
                self.message(case, case.caller, "confirm", "comment")

    def diagnose(self, case: Case, task: dict, rng: random.Random) -> None:
        if case.plan in ("hold", "reprioritize") and case.plan not in case.done:
            case.done.add(case.plan)
            if case.plan == "hold":
                self.message(case, case.technician, "hold", "reason", waiting_for="vendor")
            else:
                more = {"impact": "high", "urgency": "high"}
                self.message(case, case.technician, "reprioritize", "reason", **more)
        elif case.plan == "park":
            if "reply" not in case.done:
                case.done.add("reply")
                self.message(case, case.caller, "user_reply", "message")
            elif "rule" not in case.done:
                case.done.add("rule")
                self.escalation_rule(case, rng)
            else:
                case.finished = True  # left in diagnosis: its SLA timers go on
        else:
            data = ESCALATED if case.plan == "escalate" else RESOLVED
            self.complete(case, task, case.technician, data, rng)

    def complete(self, case: Case, task: dict, who: str, data: dict, rng: random.Random) -> None:
        about = {"number": case.number, "task_id": task["id"]}
        if task["assignee"] != who:
            path = f"/api/tasks/{task['id']}/claim"
            claim = self.write("claim", who, path, None, element=task["task"], **about)
            if claim.outcome != "acknowledged":
                return
        marker = self.marker()
        body = {"data": {**data, "work_notes": f"{task['task']} {marker}"}}
        path = f"/api/tasks/{task['id']}/complete"
        if rng.random() < DOUBLE_CLICK:
            twice = [
                threading.Thread(
                    target=self.write,
                    args=("complete", who, path, body),
                    kwargs=about | {"marker": marker},
                )
                for _ in range(2)
            ]
            for thread in twice:
                thread.start()
            for thread in twice:
                thread.join()
        else:
            self.write("complete", who, path, body, marker=marker, **about)

    def message(self, case: Case, who: str, message: str, text_field: str, **more: Any) -> None:
        marker = self.marker()
        body = {"message": message, "payload": {text_field: f"{message} {marker}", **more}}
        path = f"/api/incidents/{case.number}/messages"
        self.write("message", who, path, body, marker=marker, number=case.number)

    def escalation_rule(self, case: Case, rng: random.Random) -> None:
        """An automated escalation, due in 20 to 90 minutes (5 to 22 s here): notify the
        manager. Added in this process: the API has no route for it."""
        marker = self.marker()
        due = clock.now() + timedelta(minutes=rng.uniform(20, 90))
        attempt = Attempt("escalation", case.technician, "add_escalation", marker, case.number)
        try:
            rule = self.runtime.add_escalation(
                case.number, due, "notify", MANAGER, f"crash test {marker}", actor=case.technician
            )
        except DeskflowError as err:
            attempt.status = 409 if isinstance(err, Conflict) else 400
            attempt.answer = {"error": str(err)}
        else:
            attempt.status, attempt.task_id = 200, str(rule)
        self.attempts.append(attempt)


def in_thread(name: str, work: Callable[[], None], crashes: list[str]) -> threading.Thread:
    def run() -> None:
        try:
            work()
        except Exception:
            crashes.append(f"{name}: {traceback.format_exc()}")

    thread = threading.Thread(target=run, name=name)
    thread.start()
    return thread


# --- the checks ---------------------------------------------------------------------------


def check_writes(db: Database, attempts: list[Attempt]) -> list[str]:
    """No acknowledged write lost, none applied twice."""
    problems = []
    with db.reading() as session:
        commands = session.execute(
            select(HistoryEvent.instance_id, HistoryEvent.element, HistoryEvent.payload).where(
                HistoryEvent.kind == "command"
            )
        ).all()
        completions = session.execute(
            select(HistoryEvent.instance_id, HistoryEvent.payload).where(
                HistoryEvent.kind == "task"
            )
        ).all()
        fired_rules = session.execute(
            select(HistoryEvent.payload).where(HistoryEvent.kind == "escalation")
        ).scalars()
        fired = Counter(p["rule"] for p in fired_rules if p.get("kind") == "automated")
        incidents, numbers = {}, {}
        for number, description, instance_id in session.execute(
            select(Incident.number, Incident.short_description, Incident.instance_id)
        ):
            incidents[number], numbers[instance_id] = description, number
        open_tasks = set(session.scalars(select(HumanTask.id)))
        rules = {str(rule.id): rule for rule in session.scalars(select(EscalationRule))}

    applied: Counter[str] = Counter()
    for _, _, payload in commands:
        for marker in set(MARKER.findall(json.dumps(payload))):
            applied[marker] += 1
    by_marker: dict[str, list[Attempt]] = defaultdict(list)
    for attempt in attempts:
        if attempt.marker:
            by_marker[attempt.marker].append(attempt)
    for marker, tries in sorted(by_marker.items()):
        outcomes = Counter(attempt.outcome for attempt in tries)
        low, high = outcomes["acknowledged"], outcomes["acknowledged"] + outcomes["unknown"]
        if not low <= applied[marker] <= high:
            problems.append(
                f"{marker}: applied {applied[marker]} time(s), expected {low}..{high}: "
                + "; ".join(str(attempt) for attempt in tries)
            )

    # claims carry no marker: counted by incident, task element and who claimed
    claimed = Counter(
        (numbers[instance_id], element, payload.get("assignee"))
        for instance_id, element, payload in commands
        if payload.get("command") == "claim_task"
    )
    claims: dict[tuple, Counter[str]] = defaultdict(Counter)
    for attempt in attempts:
        if attempt.kind == "claim":
            claims[(attempt.number, attempt.element, attempt.who)][attempt.outcome] += 1
    for key, outcomes in claims.items():
        low, high = outcomes["acknowledged"], outcomes["acknowledged"] + outcomes["unknown"]
        if not low <= claimed[key] <= high:
            problems.append(f"claims of {key}: {claimed[key]} in the history, {dict(outcomes)}")

    # user tasks: each completed once, and one complete_task command per completion
    completed = Counter()
    user_completions, complete_commands = Counter(), Counter()
    for instance_id, payload in completions:
        if payload.get("type") == "UserTask" and payload.get("state") == "COMPLETED":
            completed[payload["task_id"]] += 1
            user_completions[instance_id] += 1
    for instance_id, _, payload in commands:
        if payload.get("command") == "complete_task":
            complete_commands[instance_id] += 1
    problems += [f"task {task} completed {n} times" for task, n in completed.items() if n > 1]
    for instance_id in set(user_completions) | set(complete_commands):
        if user_completions[instance_id] != complete_commands[instance_id]:
            problems.append(
                f"instance {instance_id}: {complete_commands[instance_id]} complete_task "
                f"commands, {user_completions[instance_id]} user tasks completed"
            )

    acknowledged = [attempt for attempt in attempts if attempt.outcome == "acknowledged"]
    for attempt in acknowledged:
        if attempt.kind == "create" and attempt.marker not in incidents.get(attempt.number, ""):
            problems.append(f"acknowledged {attempt.number} missing: {attempt}")
        if attempt.kind == "complete" and (
            attempt.task_id in open_tasks or completed[attempt.task_id] != 1
        ):
            problems.append(
                f"acknowledged completion of task {attempt.task_id}: still open "
                f"{attempt.task_id in open_tasks}, completed {completed[attempt.task_id]} "
                f"time(s): {attempt}"
            )
        if attempt.kind == "escalation" and attempt.task_id not in rules:
            problems.append(f"acknowledged escalation rule {attempt.task_id} missing")
    twice = Counter(attempt.task_id for attempt in acknowledged if attempt.kind == "complete")
    problems += [f"completing task {t} acknowledged {n} times" for t, n in twice.items() if n > 1]
    problems += [f"escalation rule {r} fired {n} times" for r, n in fired.items() if n > 1]
    for rule_id, rule in rules.items():
        if rule.fired_at is not None and fired[int(rule_id)] != 1:
            problems.append(f"escalation rule {rule_id} marked fired, {fired[int(rule_id)]} events")
    return problems


def check_nothing_stuck(db: Database, now: datetime) -> list[str]:
    """After the final sweep at `now`: nothing due left; rows as the stored state says."""
    problems = []
    runtime = Runtime(db)
    with db.reading() as session:
        for timer, incident in session.execute(
            select(Timer, Incident)
            .join(Incident, Incident.instance_id == Timer.instance_id)
            .where(Timer.due_at < now)
        ):
            if timer.failed_at is None:
                problems.append(f"{incident.number}: timer {timer.element} due {timer.due_at}")
            elif not incident.last_error:
                problems.append(f"{incident.number}: timer {timer.element} failed, no last_error")
        for note in session.scalars(
            select(Notification).where(Notification.status == "pending", Notification.due_at <= now)
        ):
            if note.claimed_until is None or note.claimed_until < now:
                problems.append(
                    f"notification {note.id} ({note.template}) pending since {note.due_at}"
                )
        for rule in session.scalars(
            select(EscalationRule).where(
                EscalationRule.fired_at.is_(None), EscalationRule.due_at < now
            )
        ):
            problems.append(f"escalation rule {rule.id} due {rule.due_at} not fired")
        for event in session.scalars(select(HistoryEvent).where(HistoryEvent.kind == "error")):
            problems.append(f"error event on instance {event.instance_id}: {event.payload}")

        tasks, timers = defaultdict(set), defaultdict(set)
        for task in session.scalars(select(HumanTask)):
            tasks[task.instance_id].add((task.id, task.element, task.incident_id))
        for timer in session.scalars(select(Timer)):
            timers[timer.instance_id].add((timer.element, timer.due_at))
        for instance, incident in session.execute(
            select(Instance, Incident).join(Incident, Incident.instance_id == Instance.id)
        ):
            definition = runtime.definition(session, instance.definition_id)
            workflow = load_workflow(
                instance.state, definition.spec, definition.subprocess_specs, CommandContext()
            )
            waiting = projection.waiting_on(
                workflow, definition, incident.caller, incident.assignment_group
            )
            expected = {(task.id, task.element, incident.id) for task in waiting.tasks}
            state = projection.incident_state(workflow, definition)
            status = "completed" if workflow.is_completed() else "running"
            if tasks[instance.id] != expected:
                problems.append(
                    f"{incident.number}: open task rows {sorted(tasks[instance.id])}, "
                    f"the stored state waits on {sorted(expected)}"
                )
            if timers[instance.id] != set(waiting.timers):
                problems.append(
                    f"{incident.number}: timer rows {sorted(timers[instance.id])}, "
                    f"the stored state has {sorted(waiting.timers)}"
                )
            if (incident.state, instance.status) != (state, status):
                problems.append(
                    f"{incident.number}: record says {incident.state}/{instance.status}, "
                    f"the stored state {state}/{status}"
                )
    return problems


def counts(db: Database) -> dict[str, int]:
    """What the workers did so far (figures)."""
    with db.reading() as session:
        payloads = session.scalars(
            select(HistoryEvent.payload).where(HistoryEvent.kind.in_(("command", "escalation")))
        ).all()
        statuses = Counter(session.scalars(select(Notification.status)))
        incidents = len(session.scalars(select(Incident.id)).all())
    timers = [p for p in payloads if p.get("command") == "fire_due_timers"]
    return {
        "incidents": incidents,
        "timer firings": len(timers),
        "timers fired": sum(len(p.get("timers", [])) for p in timers),
        "escalation rules fired": sum(p.get("kind") == "automated" for p in payloads),
        "notifications delivered": statuses["delivered"],
        "notifications suppressed": statuses["suppressed"],
        "notifications pending": statuses["pending"],
    }


# --- the test -----------------------------------------------------------------------------


@dataclass
class Run:
    load: Load
    seconds: float
    kills: Counter[str]
    mails: Counter[str]  # Message-ID -> times the workers sent it
    problems: list[str]  # processes that ended by themselves


@pytest.fixture
def fast_clock():
    """The sped-up clock, in this process too, for the test; the previous one afterwards."""
    fast = FastClock(time.time(), SPEED)
    previous = clock.install(fast)
    yield fast
    clock.install(previous)


def run_under_fire(db: Database, fast: FastClock, tokens: dict[str, str], folder: Path) -> Run:
    """The load, with processes killed meanwhile; everything is stopped when it returns."""
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("DESKFLOW_SMTP")},
        "DESKFLOW_DATABASE_URL": db.url,
        "DESKFLOW_SECRET_KEY": secrets.token_urlsafe(32),
        crash_clock.ENV: fast.setting(),
    }
    kills: Counter[str] = Counter()
    stop = threading.Event()
    server = workers = killing = None
    try:
        server = Gunicorn(env, folder / "gunicorn.log")
        workers = DeskflowWorkers(db, env, folder)
        load = Load(server.port, tokens, Runtime(db))
        load.enough = lambda: kills.total() >= MIN_KILLS

        def killer() -> None:
            rng = random.Random(7)
            while not stop.wait(rng.uniform(*KILL_PAUSE)):
                if sum(kills.values()) >= KILLS:
                    continue
                if rng.random() < WEB_SHARE:
                    what = server.kill_one(rng, db)
                else:
                    what = workers.kill_one(rng)
                if what is not None:
                    kills[what] += 1

        started = time.monotonic()
        load.deadline = started + LOAD_SECONDS
        killing = in_thread("killer", killer, load.crashes)
        clients = [
            in_thread(f"client {i}", lambda i=i: load.client(i), load.crashes)
            for i in range(CLIENTS)
        ]
        for thread in clients:
            thread.join()
        seconds = time.monotonic() - started
    finally:
        stop.set()
        if killing is not None:  # a kill under way ends before the processes are stopped
            killing.join()
        if workers is not None:
            workers.stop()
        if server is not None:
            server.stop()
    problems = [f"a deskflow worker ended by itself: {exit}" for exit in workers.exited]
    if server.process.returncode not in (0, -signal.SIGTERM):
        problems.append(f"gunicorn's arbiter exited with {server.process.returncode}")
    problems += [f"in gunicorn: {error}" for error in exceptions(folder / "gunicorn.log")]
    return Run(load, seconds, kills, workers.mails(), problems)


def exceptions(log: Path) -> list[str]:
    """The exceptions Flask logged: "Exception on PATH: the last exception's line"."""
    found: list[str] = []
    request, last = None, ""
    for line in [*log.read_text(errors="replace").splitlines(), "[end]"]:
        if request and line.startswith("["):  # the next log record: the traceback ended
            found.append(f"{request}: {last}")
            request = None
        if "Exception on " in line:
            request, last = line[line.index("Exception on ") :], ""
        elif request and EXCEPTION_LINE.match(line):
            last = line
    return found


def final_sweep(db: Database) -> tuple[Counter[str], list[str]]:
    """Sweep until nothing is left to do (at most ten times); what it did, what failed."""
    worker, done, failures = Worker(Runtime(db)), Counter(), []
    for _ in range(10):
        sweep = worker.sweep()
        failures += sweep.failures
        done["timers"] += sweep.timers_fired
        done["escalations"] += sweep.escalations
        done["delivered"] += sweep.delivered
        if not (sweep.timers_fired or sweep.escalations or sweep.delivered or sweep.suppressed):
            break
    return done, failures


def test_kill_9_under_load_loses_no_acknowledged_write(db, fast_clock, tmp_path):
    started = time.monotonic()
    Runtime(db).deploy(definitions.bundled(), deployed_by="test")
    tokens = {
        name: api_tokens.create_token(db, name, "crash test", created_by="admin", scope="write")[1]
        for name in (*TECHNICIANS, *CALLERS, *SPECIALISTS)
    }

    run = run_under_fire(db, fast_clock, tokens, tmp_path)
    load, during = run.load, counts(db)

    # one last sweep, in this process, once the killed workers' claims have expired
    final = clock.FrozenClock(fast_clock.now() + BEYOND_LEASES)
    clock.install(final)  # the fixture puts the previous clock back
    swept, sweep_failures = final_sweep(db)
    write_anchor(db, "crash test")

    problems = run.problems + check_writes(db, load.attempts)
    problems += check_nothing_stuck(db, final.now())
    problems += [f"client or killer thread raised: {crash}" for crash in load.crashes]
    problems += [f"server error: {error}" for error in load.server_errors]
    problems += [f"final sweep: {failure}" for failure in sweep_failures]
    problems += [
        f"unexpected refusal: {attempt}"
        for attempt in load.attempts
        if attempt.outcome == "refused" and attempt.status != 409
    ]
    verified = verify(db)
    problems += [f"audit verify: {problem}" for problem in verified.problems]
    replayed = Replayer(db).many()
    problems += [f"replay: {verdict}" for verdict in replayed.diverged]

    outcomes = Counter((attempt.kind, attempt.outcome) for attempt in load.attempts)
    acknowledged = sum(n for (_, outcome), n in outcomes.items() if outcome == "acknowledged")
    refusals = Counter(
        NAMES.sub("…", str(attempt.answer.get("error")))[:80]
        for attempt in load.attempts
        if attempt.outcome == "refused"
    )
    print(f"\n--- kill -9 under load: {time.monotonic() - started:.1f} s in all ---")
    print(f"load: {run.seconds:.1f} s, {len(load.attempts)} writes, {load.reads.total()} reads")
    print(f"acknowledged writes: {acknowledged}")
    for kind in ("create", "claim", "complete", "message", "escalation"):
        said = [f"{outcome} {n}" for (k, outcome), n in sorted(outcomes.items()) if k == kind]
        print(f"  {kind}: {', '.join(said)}")
    print(f"unknown outcome (no answer): {sum(a.outcome == 'unknown' for a in load.attempts)}")
    print(f"reads: {dict(load.reads)}")
    print(f"refusals: {dict(refusals)}")
    print(f"kills: {dict(run.kills)}")
    print(f"during the run: {during}")
    again = sum(n - 1 for n in run.mails.values())
    print(f"mails sent by the workers: {len(run.mails)}, sent again after a kill: {again}")
    print(f"final sweep: {dict(swept)}")
    print(f"audit verify: {verified.summary()}")
    print(f"replay --all: {replayed.line()}")
    print(f"problems: {len(problems)}")
    for problem in problems[:40]:
        print(f"  {problem}")

    assert acknowledged >= 40 and run.kills.total() >= 10, "the run did too little to judge"
    assert during["timers fired"] > 0, "no timer fell due during the run"
    assert not problems, "\n".join(problems[:40])
