"""Re-execution: run recorded incidents again, in memory, and compare with the record.

`deskflow replay NUMBER` re-runs an incident from the version it is pinned to and its
recorded inputs (`engine.audit.replay.recorded`: start data, forms, messages, timer firings at
their recorded clock times, results of handlers that read stored state), in memory
(`engine.audit.replay.rerun`; nothing is written), and compares what it does with what was
recorded (`engine.audit.replay.compare`): "identical", or the first divergence with the
history step, the element, the expected and the actual. `Replayer.many` does it for many
incidents, read in batches (two queries per batch), with the compiled definitions reused.
`engine.audit.what_if` replays recorded incidents on another version and compares the paths.
"""

from __future__ import annotations

import contextlib
import gc
import multiprocessing
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from SpiffWorkflow.bpmn.serializer import BpmnWorkflowSerializer
from SpiffWorkflow.spiff.serializer.config import SPIFF_CONFIG
from SpiffWorkflow.util.task import TaskState

from engine import spiff
from engine.audit.replay import recorded as records
from engine.audit.replay.compare import (
    Divergence,
    command_label,
    end_difference,
    path_difference,
    step_difference,
)
from engine.audit.replay.recorded import Recorded, Step
from engine.audit.replay.rerun import CannotFeed, RecordedResults, Rerun, batch_mode, replay_clock
from engine.errors import NotFound
from engine.instances import projection
from engine.process.definitions import (
    Bundle,
    ProcessDefinition,
    bundle_from_json,
    bundle_to_json,
    compile_bundle,
)
from engine.process.definitions import cached as cached_definition
from engine.spiff import state_json
from engine.store.db import Database
from engine.store.models import Definition

__all__ = ["Divergence", "Replayer", "Summary", "Target", "Verdict"]

BATCH = 200
PARALLEL_CHUNK = 50
SHOWN = 10  # diverged incidents a summary lists


@dataclass
class Verdict:
    """The outcome of replaying one incident."""

    number: str
    instance_id: int
    version: str  # what it was re-run on ("key:version", or the what-if target's label)
    commands: int  # process commands re-run
    divergence: Divergence | None = None

    @property
    def identical(self) -> bool:
        return self.divergence is None

    def __str__(self) -> str:
        if self.divergence is None:
            return f"{self.number}: identical ({self.commands} commands re-run on {self.version})"
        return f"{self.number}: diverged at {self.divergence}"

    def as_json(self) -> dict[str, Any]:
        return {
            "number": self.number,
            "version": self.version,
            "commands": self.commands,
            "identical": self.identical,
            "first_difference": self.divergence.as_json() if self.divergence else None,
        }


@dataclass
class Summary:
    """Many replays: how many were identical, which diverged, how fast."""

    total: int = 0
    diverged: list[Verdict] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def identical(self) -> int:
        return self.total - len(self.diverged)

    @property
    def rate(self) -> float:
        return self.total / self.seconds if self.seconds > 0 else 0.0

    def line(self) -> str:
        return (
            f"{self.identical} identical, {len(self.diverged)} diverged "
            f"({self.total} incidents in {self.seconds:.1f}s, {self.rate:,.0f} incidents/s)"
        )


@dataclass
class Target:
    """Another version to re-run recorded incidents on (what-if): a deployed version or a
    draft, by its bundle; compiled once (a deployed version: once per process)."""

    label: str
    bundle: Bundle
    cache: bool = True  # False for a draft: edited drafts would pile up in the cache
    _definition: ProcessDefinition | None = field(default=None, repr=False)

    def definition(self) -> ProcessDefinition:
        if self._definition is None:
            bundle = self.bundle
            self._definition = (
                cached_definition(bundle.sha256(), lambda: bundle)
                if self.cache
                else compile_bundle(bundle)
            )
        return self._definition


class Replayer:
    """Replays recorded incidents of one database; compiled definitions are reused."""

    def __init__(self, db: Database, batch_mode: bool = False) -> None:
        spiff.install()  # re-runs build their workflows themselves (`Rerun`)
        self.db = db
        # A command-line run (never the web app): garbage collected once per batch, and
        # SpiffWorkflow's per-state-change log records left out (see `rerun.batch_mode`).
        self.batch_mode = batch_mode
        self._versions: dict[str, tuple[int, str]] | None = None

    # --- definitions ---------------------------------------------------------------------

    def definition(self, label: str) -> ProcessDefinition:
        """The compiled definition of version "key:version" (parsed once per content)."""
        versions = self._known_versions()
        if label not in versions:
            self._versions = None  # deployed since: read again
            versions = self._known_versions()
        if label not in versions:
            raise NotFound(f"no deployed version {label}")
        definition_id, sha = versions[label]

        def load():
            with self.db.reading() as session:
                text = session.get_one(Definition, definition_id).bundle
            return bundle_from_json(text)

        return cached_definition(sha, load)

    def _known_versions(self) -> dict[str, tuple[int, str]]:
        if self._versions is None:
            with self.db.reading() as session:
                self._versions = records.versions(session)
        return self._versions

    # --- replaying -----------------------------------------------------------------------

    def one(self, number: str) -> Verdict:
        """Replay incident `number` on its pinned version and compare."""
        with self.db.reading() as session:
            ids = records.instance_ids(session, number=number)
            if not ids:
                raise NotFound(f"no incident {number}")
            found = records.load(session, ids)
        with replay_clock():
            return self.replay(found[0])

    def many(
        self,
        since: datetime | None = None,
        version: str | None = None,
        progress: Callable[[int, int], None] | None = None,
        batch: int = BATCH,
        jobs: int = 1,
    ) -> Summary:
        """Replay every incident (opened since `since`, on version "key:version"); with
        `jobs` > 1, in that many worker processes."""
        started = time.perf_counter()
        with self.db.reading() as session:
            definition_id = None
            if version is not None:
                known = records.versions(session)
                if version not in known:
                    raise NotFound(f"no deployed version {version}")
                definition_id = known[version][0]
            ids = records.instance_ids(session, since=since, definition_id=definition_id)
        summary = Summary()
        for verdict in self.run(ids, progress=progress, batch=batch, jobs=jobs):
            summary.total += 1
            if not verdict.identical:
                summary.diverged.append(verdict)
        summary.seconds = time.perf_counter() - started
        return summary

    def run(
        self,
        ids: list[int],
        target: Target | None = None,
        progress: Callable[[int, int], None] | None = None,
        batch: int = BATCH,
        jobs: int = 1,
    ) -> Iterator[Verdict]:
        """Replay the instances `ids`, read `batch` at a time; a verdict each, in order.

        With `target`, each is re-run on that version instead and only the paths are
        compared (what-if). With `jobs` > 1, worker processes share the work (each reads
        its own batches); the verdicts still come in order."""
        if jobs > 1 and len(ids) > batch // 4:
            yield from self._parallel(ids, target, progress, jobs)
            return
        done = 0
        if progress:
            progress(0, len(ids))
        tuned = batch_mode() if self.batch_mode else contextlib.nullcontext()
        with replay_clock(), tuned:
            for offset in range(0, len(ids), batch):
                with self.db.reading() as session:
                    found = records.load(session, ids[offset : offset + batch], target is None)
                for one in found:
                    yield self.replay(one, target)
                done += len(found)
                if progress:
                    progress(done, len(ids))
                if self.batch_mode:
                    gc.collect(1)

    def _parallel(
        self,
        ids: list[int],
        target: Target | None,
        progress: Callable[[int, int], None] | None,
        jobs: int,
    ) -> Iterator[Verdict]:
        chunk = max(10, min(PARALLEL_CHUNK, len(ids) // (jobs * 4) or 1))
        chunks = [ids[i : i + chunk] for i in range(0, len(ids), chunk)]
        wanted = None if target is None else (target.label, bundle_to_json(target.bundle))
        self.db.engine.dispose()  # no pooled connection crosses into a worker
        methods = multiprocessing.get_all_start_methods()
        context = multiprocessing.get_context("fork" if "fork" in methods else "spawn")
        done = 0
        if progress:
            progress(0, len(ids))
        with context.Pool(
            jobs, initializer=_start_worker, initargs=(self.db.url, self.batch_mode, wanted)
        ) as pool:
            for verdicts in pool.imap(_work, chunks):
                yield from verdicts
                done += len(verdicts)
                if progress:
                    progress(done, len(ids))

    def replay(self, recorded: Recorded, target: Target | None = None) -> Verdict:
        """Re-run one recorded incident (inside `replay_clock()`) and compare. Whatever
        goes wrong is a divergence of this incident, never the end of the run."""
        label = recorded.start_version or recorded.version
        verdict = Verdict(recorded.number, recorded.instance_id, label, 0)
        rerun: list[Rerun] = []
        try:
            return self._replay(recorded, target, verdict, rerun)
        except Exception as err:
            verdict.divergence = Divergence(recorded.last_seq, None, "a replay", _error(err))
            return verdict
        finally:
            for done in rerun:
                done.dispose()

    def _replay(
        self, recorded: Recorded, target: Target | None, verdict: Verdict, made: list[Rerun]
    ) -> Verdict:
        label = verdict.version
        try:
            definition = target.definition() if target else self.definition(label)
        except Exception as err:  # a version that cannot be compiled any more
            verdict.divergence = Divergence(0, None, f"version {label}", _error(err))
            return verdict
        if target:
            verdict.version = target.label
        rerun = Rerun(definition, RecordedResults(recorded.events))
        made.append(rerun)
        compare = path_difference if target else step_difference
        for item in recorded.story():
            if isinstance(item, Step):
                verdict.commands += 1
                verdict.divergence = _feed(rerun, item, compare)
                if verdict.divergence is not None:
                    return verdict
            elif item.command == "migrate" and target is None:
                to = item.payload.get("to", "")
                try:
                    rerun.migrate(self.definition(to))
                except Exception as err:
                    verdict.divergence = Divergence(
                        item.seq, None, f"migrate to {to}", _error(err), "migrate"
                    )
                    return verdict
            else:
                rerun.note(item)
        if target is None:
            verdict.divergence = self._end(recorded, rerun)
        return verdict

    def _end(self, recorded: Recorded, rerun: Rerun) -> Divergence | None:
        workflow, shadow = rerun.workflow, rerun.shadow
        if workflow is None or shadow is None:
            return Divergence(recorded.last_seq, None, "a started incident", "no start_incident")
        status = "completed" if workflow.is_completed() else "running"
        actual_fields = {name: shadow.fields.get(name) for name in recorded.incident}
        recorded_data = actual_data = None
        if recorded.state:
            try:
                recorded_data = stored_data(recorded.state, rerun.definition)
            except Exception as err:
                return Divergence(recorded.last_seq, None, "the stored state to read", _error(err))
            actual_data = projection.current_data(workflow)
        return end_difference(
            recorded.last_seq,
            recorded.status,
            status,
            recorded.incident,
            actual_fields,
            recorded_data,
            actual_data,
        )


# --- worker processes (`jobs` > 1) --------------------------------------------------------

_worker: tuple[Replayer, Target | None] | None = None


def _start_worker(url: str, batch: bool, wanted: tuple[str, str] | None) -> None:
    global _worker
    target = None
    if wanted is not None:
        target = Target(wanted[0], bundle_from_json(wanted[1]))
    _worker = (Replayer(Database(url), batch_mode=batch), target)


def _work(ids: list[int]) -> list[Verdict]:
    assert _worker is not None
    replayer, target = _worker
    return list(replayer.run(ids, target=target, batch=len(ids)))


# --- reading a stored state -----------------------------------------------------------------

_SPIFF = BpmnWorkflowSerializer.configure(SPIFF_CONFIG)
LIVE = TaskState.READY | TaskState.WAITING | TaskState.STARTED


def stored_data(state: bytes, definition: ProcessDefinition) -> dict[str, Any]:
    """The process data of a stored instance state, as `projection.current_data` reads it
    off a restored workflow, read straight from the JSON (restoring costs ten times more).

    A task's data is stored as what changed from its parent's (SpiffWorkflow's `delta`)."""
    dct = state_json(state)
    tasks: dict[str, dict[str, Any]] = dict(dct["tasks"])
    for sub in dct.get("subprocesses", {}).values():
        tasks.update(sub["tasks"])
    memo: dict[str, dict[str, Any]] = {}

    def data_of(wanted: str) -> dict[str, Any]:
        chain, task_id = [], wanted
        while task_id not in memo:
            task = tasks[task_id]
            chain.append(task)
            if not (task.get("delta") and task["parent"] is not None):
                break
            task_id = task["parent"]
        for task in reversed(chain):
            delta = task.get("delta")
            if delta and task["parent"] is not None:
                data = {**memo[task["parent"]], **_SPIFF.restore(delta.get("updates", {}))}
                for key in delta.get("deletions", ()):
                    data.pop(key, None)
            else:
                data = _SPIFF.restore(task["data"])
            memo[task["id"]] = data
        return memo[wanted]

    if dct.get("completed"):
        last = dct.get("last_task")
        return dict(data_of(last)) if last in tasks else dict(dct.get("data") or {})
    live = sorted(
        (t for t in tasks.values() if t["state"] & LIVE and t["task_spec"] in definition.elements),
        key=lambda t: t["last_state_change"],
    )
    merged: dict[str, Any] = {}
    for task in live:
        merged.update(data_of(task["id"]))
    return merged


def _feed(rerun: Rerun, step: Step, compare) -> Divergence | None:
    label = command_label(step)
    try:
        actual = rerun.feed(step)
    except CannotFeed as err:
        element = err.element or step.command.element
        return Divergence(step.command.seq, element, err.expected, err.actual, label)
    except Exception as err:  # the engine or a handler failed: a divergence, never a crash
        element = getattr(err, "element", None) or _element_of(err) or step.command.element
        return Divergence(step.command.seq, element, "the command to run", _error(err), label)
    return compare(step, actual)


def _element_of(err: Exception) -> str | None:
    task = getattr(err, "task", None)
    return getattr(getattr(task, "task_spec", None), "bpmn_id", None) if task else None


def _error(err: Exception) -> str:
    text = str(err).splitlines()[0] if str(err) else ""
    return f"error: {type(err).__name__}: {text}"[:300]
