"""Where the time of a command goes on SQLite: `python -m bench.breakdown`.

Runs the lifecycle mix through Deskflow's runtime (with claims, as `bench.sqlmix`) on a
temporary SQLite database with a stopwatch around the engine's parts. Each part's time is
exclusive (a handler's SQL counts as SQL, not as handler time); the command's own code
and whatever no part names is `other`. Parts: SQL in the driver and COMMIT (the fsync),
restoring and dumping the workflow, engine steps, handlers, projections (`waiting_on`
apart), history (hashing apart), ORM flush, the lock reads, the rest of the write-back.

    python -m bench.breakdown [--incidents N] [--keep 0.9[,0.3]] [--cpu] [--dir D]
                              [--cprofile N]

`--cpu` measures this thread's CPU time instead of wall time: on a machine others load,
the parts' shares stay put, and waiting (COMMIT's fsync) drops out. `--dir /dev/shm` puts
the database on tmpfs, where COMMIT costs no fsync: the rest is then what the CPU does.
The wrappers cost about a microsecond per call: totals run a little above the plain
benchmark's. `--cprofile N` profiles a second run instead and prints the N functions with
the most own time (profiled time is inflated, read it as shares).
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import importlib
import pstats
import sys
import time
from collections import Counter
from pathlib import Path

from SpiffWorkflow.bpmn.workflow import BpmnWorkflow
from SpiffWorkflow.task import Task
from sqlalchemy import event
from sqlalchemy.orm import Session

from . import databases
from .lifecycle import run_mix
from .sqlmix import Counted
from .stopwatch import Stopwatch
from .timing import CommandTimer

# (where the function is defined, part). Every module of engine/ and handlers/ that holds
# the same function (`from x import f`) gets the wrapper too; a name the engine no longer
# has is skipped, so the list survives refactoring.
PARTS = [
    ("engine.spiff.load_workflow", "restore workflow (deserialize)"),
    ("engine.spiff.dump_workflow", "dump workflow (serialize)"),
    ("engine.spiff.new_workflow", "engine steps"),
    ("engine.instances.steps.run_until_waiting", "engine steps"),
    ("engine.instances.steps.skip_missed_cycles", "engine steps"),
    (Task, "run", "engine steps"),
    (BpmnWorkflow, "send_event", "engine steps"),
    (BpmnWorkflow, "refresh_timers", "engine steps"),
    ("handlers.registry.call", "handlers"),
    ("engine.instances.projection.waiting_on", "projection: waiting_on"),
    ("engine.instances.projection.current_data", "projection: other"),
    ("engine.instances.projection.incident_state", "projection: other"),
    ("engine.instances.projection.incident_fields", "projection: other"),
    ("engine.instances.projection.live_task_ids", "projection: other"),
    ("engine.instances.steps.waits_for", "projection: other"),
    ("engine.instances.history.row_hash", "history: hashing"),
    ("engine.instances.history.append", "history: entries, rows"),
    ("engine.instances.history.entries_for", "history: entries, rows"),
    (Session, "flush", "ORM flush"),
    ("engine.instances.locks.InstanceLocks", "_lock", "lock and read rows (ORM)"),
    ("engine.instances.locks.InstanceLocks", "_lock_task", "lock and read rows (ORM)"),
    ("engine.instances.locks.InstanceLocks", "_incident", "lock and read rows (ORM)"),
    ("engine.process.versions.latest", "definition lookup"),
    ("engine.instances.runtime.Runtime", "definition", "definition lookup"),
    ("engine.process.forms.validate_form", "form validation"),
    ("engine.instances.writeback.write_back", "write-back (rest)"),
    ("engine.worker.mail.outbox_rows", "outbox rendering"),
    ("engine.instances.notices.send", "outbox rendering"),
    ("engine.instances.notices.changes", "notices, assignment, learning"),
    ("engine.desk.assignment.assign_escalated", "notices, assignment, learning"),
    ("engine.desk.knowledge.learn_from", "notices, assignment, learning"),
]
SQL, COMMIT = "SQL (driver)", "COMMIT (fsync)"


def _resolve(dotted: str):
    """The object a dotted name names (the longest importable module first), or None."""
    parts = dotted.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            found = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        for name in parts[cut:]:
            found = getattr(found, name, None)
        return found
    return None


def _patch(entry, wrap) -> bool:
    """Wrap one entry of PARTS wherever it is held; False when the engine has no such name."""
    if len(entry) == 3:  # (class or dotted class, method, part)
        owner, name, part = entry
        owner = _resolve(owner) if isinstance(owner, str) else owner
        if owner is None or name not in vars(owner):
            return False
        setattr(owner, name, wrap(part, vars(owner)[name]))
        return True
    dotted, part = entry
    func = _resolve(dotted)
    if func is None:
        return False
    wrapped = wrap(part, func)
    for name, module in list(sys.modules.items()):
        if name.split(".")[0] in ("engine", "handlers"):
            for attr, value in list(vars(module).items()):
                if value is func:
                    setattr(module, attr, wrapped)
    return True


def instrument(watch: Stopwatch, engine) -> None:
    """Wrap the engine's parts (process-wide: run this in its own process) and the SQL."""
    missing = [entry[:-1] for entry in PARTS if not _patch(entry, watch.part)]
    if missing:
        sys.stderr.write(f"breakdown: not in the engine (skipped): {missing}\n")
    event.listen(engine, "before_cursor_execute", lambda *a: watch.enter(SQL))
    event.listen(engine, "after_cursor_execute", lambda *a: watch.leave())
    event.listen(engine, "handle_error", lambda *a: watch.leave())
    engine.dialect.do_commit = watch.part(COMMIT, engine.dialect.do_commit)


def run(
    incidents: int,
    seed: int,
    profile: cProfile.Profile | None = None,
    cpu: bool = False,
    parent: str | None = None,
) -> Stopwatch:
    folder = databases.temp_folder(parent)
    watch = Stopwatch(time.thread_time if cpu else time.perf_counter)
    try:
        db = databases.deskflow_database(databases.sqlite_url(Path(folder.name), "b.db"))
        if profile is None:
            instrument(watch, db.engine)
        desk = Counted(db, watch, CommandTimer())
        gc.freeze()
        if profile is not None:
            profile.enable()
        run_mix(desk, incidents, seed, desk.timer)
        if profile is not None:
            profile.disable()
        db.dispose()
    finally:
        folder.cleanup()
    return watch


def in_lifecycle(label: str) -> bool:
    """Counted in (b)'s lifecycle time: the commands but claims, the poll, the reads."""
    return not label.startswith(("claim", "outbox", "("))


def table(watch: Stopwatch, incidents: int, keep: float = 0.9) -> list[str]:
    per = watch.ms_per_call(keep)
    kinds = [k for k in per if not k.startswith("(")]
    kinds.sort(key=lambda k: (not k.startswith(("start", "claim", "complete", "send", "fire")), k))
    lc = Counter()  # ms per lifecycle, as (b) counts it
    for k in kinds:
        if in_lifecycle(k):
            for part, ms in per[k].items():
                lc[part] += ms * watch.calls[k] / incidents
    parts = sorted({p for k in kinds for p in per[k]}, key=lambda p: -lc[p])
    short = [k.replace("complete_task ", "ct ").replace("send_message ", "msg ") for k in kinds]
    head = f"{'ms per call, exclusive':<32}" + "".join(f"{s[:11]:>12}" for s in short)
    head += f"{'per lc (b)':>12}"
    lines = [
        head,
        "-" * len(head),
        f"{'calls':<32}" + "".join(f"{watch.calls[k]:>12}" for k in kinds),
    ]
    for part in parts:
        cells = "".join(f"{per[k].get(part, 0):>12.3f}" for k in kinds)
        lines.append(f"{part[:31]:<32}{cells}{lc[part]:>12.2f}")
    totals = "".join(f"{sum(per[k].values()):>12.2f}" for k in kinds)
    lines.append(f"{'total':<32}{totals}{sum(lc.values()):>12.2f}")
    counts = {k: watch.entries[k] for k in kinds}
    lines.append(
        f"{'waiting_on calls per command':<32}"
        + "".join(f"{counts[k]['projection: waiting_on'] / watch.calls[k]:>12.1f}" for k in kinds)
    )
    lines.append(
        f"{'history rows hashed per command':<32}"
        + "".join(f"{counts[k]['history: hashing'] / watch.calls[k]:>12.1f}" for k in kinds)
    )
    lines.append(
        f"{'timed sections per command':<32}"
        + "".join(f"{sum(counts[k].values()) / watch.calls[k]:>12.0f}" for k in kinds)
    )
    lines.append(
        f"  mean over the fastest {keep:.0%} of the calls of each kind (the rest were "
        "preempted more); each part exclusive of the parts it calls; per lc (b) = per "
        "lifecycle as variant b counts it (commands without claims, worker polls, reads)"
    )
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.breakdown", description=__doc__)
    parser.add_argument("--incidents", type=int, default=100)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--cprofile", type=int, default=0, metavar="N")
    parser.add_argument(
        "--keep",
        default="0.9",
        help="share(s) of fastest calls kept, e.g. 0.9,0.3: one table each (default 0.9)",
    )
    parser.add_argument(
        "--cpu", action="store_true", help="CPU time of this thread instead of wall time"
    )
    parser.add_argument(
        "--dir", help="folder for the SQLite file, e.g. /dev/shm: no fsync cost (default: temp)"
    )
    args = parser.parse_args(argv)
    if args.cprofile:
        profile = cProfile.Profile()
        run(args.incidents, args.seed, profile, parent=args.dir)
        pstats.Stats(profile).sort_stats("tottime").print_stats(args.cprofile)
        return 0
    watch = run(args.incidents, args.seed, cpu=args.cpu, parent=args.dir)
    where = f" in {args.dir}" if args.dir else ""
    print(f"{'CPU' if args.cpu else 'wall'} time, {args.incidents} incidents, SQLite{where}")
    for keep in (float(k) for k in args.keep.split(",")):
        print("\n".join(table(watch, args.incidents, keep)) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
