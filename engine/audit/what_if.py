"""What-if: recorded incidents re-run on another version, and where their paths would part.

Before deploying a draft (or to compare with any deployed version), the last N finished
incidents (or those opened since a date) are re-run in memory on that version with their
recorded inputs (`engine.audit.replay`): the same start data, forms, messages and timer firings
at the recorded times, the same results for the handlers that read stored state. For
each incident the first element where the path (the elements completed, in order)
differs from the recorded one is reported; an input the other version cannot take — a
task it does not have or does not reach, a message it is not waiting for — is itself
the difference. Nothing is written.

    Of the last 500 incidents, 37 would take a different path, most at 'Triage'.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from engine.audit.replay import Replayer, Target, Verdict
from engine.audit.replay import recorded as records
from engine.process import drafts
from engine.process.versions import PROCESS_KEY
from engine.store.db import Database

DEFAULT_LAST = 500
MAX_LAST = 2000  # a request re-runs them all: keep it within a few seconds
SHOWN_INCIDENTS = 500  # differing incidents listed in the JSON answer


@dataclass
class Report:
    """Where recorded incidents would take another path on `target`."""

    target: str  # "draft 7", "version 3"
    compared: int = 0
    differing: list[Verdict] = field(default_factory=list)
    names: dict[str, str] = field(default_factory=dict)  # element id -> name
    last: int | None = None  # the N of "the last N incidents", when asked that way
    seconds: float = 0.0

    @property
    def differ(self) -> int:
        return len(self.differing)

    def by_element(self) -> list[dict[str, Any]]:
        """Where paths part first, most often first."""
        counts = Counter(v.divergence.element or "(start)" for v in self.differing if v.divergence)
        return [
            {"element": element, "name": self.names.get(element, element), "count": count}
            for element, count in sorted(counts.items(), key=lambda item: (-item[1], item[0]))
        ]

    def sentence(self) -> str:
        """ "Of the last 500 incidents, 37 would take a different path, most at 'Triage'." """
        if not self.compared:
            return "No finished incident to compare with yet."
        which = f"the last {self.compared}" if self.last is not None else f"{self.compared}"
        if not self.differing:
            return f"Of {which} incidents, none would take a different path."
        top = self.by_element()[0]
        return (
            f"Of {which} incidents, {self.differ} would take a different path, "
            f"most at '{top['name']}'."
        )

    def as_json(self, limit: int | None = None) -> dict[str, Any]:
        shown = self.differing if limit is None else self.differing[:limit]
        return {
            "target": self.target,
            "compared": self.compared,
            "differ": self.differ,
            "sentence": self.sentence(),
            "by_element": self.by_element(),
            "incidents": [
                {
                    "number": v.number,
                    "first_difference": {
                        key: value
                        for key, value in (v.divergence.as_json() if v.divergence else {}).items()
                        if key in ("step", "element", "expected", "actual")
                    },
                }
                for v in shown
            ],
            "seconds": round(self.seconds, 3),
        }


def target_of(db: Database, ref: str, key: str = PROCESS_KEY) -> Target:
    """A version number ("3") or a draft ("draft:7") as a what-if target."""
    with db.reading() as session:
        label, bundle = drafts.resolve(session, ref, key)
    return Target(label, bundle, cache=not label.startswith("draft"))


def run(
    db: Database,
    ref: str | Target,
    *,
    last: int | None = DEFAULT_LAST,
    since: datetime | None = None,
    key: str = PROCESS_KEY,
    jobs: int = 1,
    progress: Callable[[int, int], None] | None = None,
    replayer: Replayer | None = None,
) -> Report:
    """Re-run the last `last` finished incidents of process `key` (all with None; only
    those opened since `since`) on `ref` and report where their paths differ.

    Raises DiagramInvalid when the target does not compile (a broken draft)."""
    started = time.perf_counter()
    target = ref if isinstance(ref, Target) else target_of(db, ref, key)
    definition = target.definition()  # a broken draft fails here, before any replay
    with db.reading() as session:
        ids = records.instance_ids(session, since=since, key=key, finished=True, last=last)
    report = Report(target.label, last=last)
    report.names = {element.id: element.name for element in definition.elements.values()}
    replayer = replayer or Replayer(db)
    for verdict in replayer.run(ids, target=target, progress=progress, jobs=jobs):
        report.compared += 1
        if not verdict.identical:
            report.differing.append(verdict)
            divergence = verdict.divergence
            if divergence and divergence.element and divergence.element not in report.names:
                report.names[divergence.element] = divergence.name or divergence.element
    report.seconds = time.perf_counter() - started
    return report
