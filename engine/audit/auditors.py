"""What auditors did: who looked at what (`audit_views`, append-only like the history),
and verifications started from the web, run in the background with their progress."""

from __future__ import annotations

import time
from datetime import timedelta
from typing import Any

from sqlalchemy import func, insert, select, update
from sqlalchemy.orm import Session

from engine import clock
from engine.audit.chains import Report, only, verify
from engine.store.db import Database
from engine.store.models import AuditRun, AuditView, HistoryEvent

STALE_RUN = timedelta(minutes=2)  # a run whose heartbeat is older was interrupted


def record_view(db: Database, auditor: str, what: str, detail: str = "") -> None:
    """Note that `auditor` looked at `what` (append-only, like the history)."""
    with db.writing() as session:
        _note_view(session, auditor, what, detail)


def _note_view(session: Session, auditor: str, what: str, detail: str = "") -> None:
    session.execute(
        insert(AuditView).values(at=clock.now(), auditor=auditor, what=what[:100], detail=detail)
    )


def recent_views(session: Session, limit: int = 20) -> list[AuditView]:
    return list(session.scalars(select(AuditView).order_by(AuditView.id.desc()).limit(limit)))


def history_rows(db: Database, instance_id: int | None = None) -> int:
    with db.reading() as session:
        statement = only(select(func.count()).select_from(HistoryEvent), instance_id)
        return session.scalar(statement) or 0


def start_run(db: Database, auditor: str, instance_id: int | None = None) -> int:
    """A verification run, recorded as started by `auditor`; `run` does the work."""
    now = clock.now()
    with db.writing() as session:
        run_id = session.execute(
            insert(AuditRun)
            .values(
                started_by=auditor,
                started_at=now,
                updated_at=now,
                instance_id=instance_id,
                status="running",
                rows_total=0,
                rows_done=0,
            )
            .returning(AuditRun.id)
        ).scalar_one()
        scope = f"instance {instance_id}" if instance_id is not None else "every chain"
        _note_view(session, auditor, "verification started", f"run {run_id}: {scope}")
    return run_id


def run(db: Database, run_id: int) -> Report | None:
    """Verify as run `run_id` asks, telling its progress about once a second; the outcome
    goes on the run and, as a view, on the auditor who started it."""
    with db.reading() as session:
        job = session.get(AuditRun, run_id)
        assert job is not None
        auditor, instance_id = job.started_by, job.instance_id
    told = [time.monotonic()]

    def progress(done: int, total: int) -> None:
        if done and time.monotonic() - told[0] < 1.0:
            return
        told[0] = time.monotonic()
        with db.writing() as session:
            session.execute(
                update(AuditRun)
                .where(AuditRun.id == run_id)
                .values(rows_done=done, rows_total=total, updated_at=clock.now())
            )

    try:
        report = verify(db, instance_id=instance_id, progress=progress)
    except Exception as err:  # the page must say it failed, not run forever
        _finish(db, run_id, auditor, "failed", f"{type(err).__name__}: {err}", None, None)
        raise
    problems = "\n".join(str(p) for p in report.problems)
    status = "clean" if report.ok else "broken"
    _finish(db, run_id, auditor, status, report.summary(), problems or None, report)
    return report


def _finish(
    db: Database,
    run_id: int,
    auditor: str,
    status: str,
    summary: str,
    problems: str | None,
    report: Report | None,
) -> None:
    values: dict[str, Any] = {
        "status": status,
        "summary": summary,
        "problems": problems,
        "finished_at": clock.now(),
        "updated_at": clock.now(),
    }
    if report is not None:
        values.update(rows_done=report.rows, rows_total=report.rows, seconds=report.seconds)
    with db.writing() as session:
        session.execute(update(AuditRun).where(AuditRun.id == run_id).values(**values))
        _note_view(session, auditor, f"verification {status}", f"run {run_id}: {summary}")


def recent_runs(session: Session, limit: int = 10) -> list[AuditRun]:
    return list(session.scalars(select(AuditRun).order_by(AuditRun.id.desc()).limit(limit)))


def interrupted(job: AuditRun) -> bool:
    """A run still marked running whose heartbeat stopped (its process ended)."""
    return job.status == "running" and clock.now() - job.updated_at > STALE_RUN
