"""`deskflow replay`: what the command prints, and its exit code (see `engine.cli`).

deskflow replay INC0000042                 identical (exit 0) or the first divergence (1)
deskflow replay --all [--since DATE] [--version N] [--jobs N]
deskflow replay --what-if VERSION|draft:ID [--last N | --all] [--since DATE]
"""

from __future__ import annotations

import contextlib
import sys
from datetime import UTC, datetime

import click

from engine.audit import what_if as what_ifs
from engine.audit.replay import SHOWN, Replayer
from engine.store.db import Database


def run_replay(
    db: Database,
    number: str | None,
    every: bool,
    since: str | None,
    version: int | None,
    what_if: str | None,
    last: int | None,
    jobs: int,
    key: str,
) -> None:
    opened_since = parse_since(since)
    if what_if is not None:
        if number is not None or version is not None:
            raise click.UsageError("--what-if compares many incidents: no NUMBER, no --version")
        _what_if(db, what_if, last, every, opened_since, jobs, key)
        return
    if last is not None:
        raise click.UsageError("--last goes with --what-if")
    if (number is None) == (not every):
        raise click.UsageError("give an incident NUMBER or --all (or --what-if)")
    replayer = Replayer(db, batch_mode=True)
    if number is not None:
        if since is not None or version is not None:
            raise click.UsageError("--since and --version go with --all")
        verdict = replayer.one(number.upper())
        click.echo(str(verdict))
        sys.exit(0 if verdict.identical else 1)
    label = f"{key}:{version}" if version is not None else None
    with _progress("replaying") as progress:
        summary = replayer.many(since=opened_since, version=label, progress=progress, jobs=jobs)
    for verdict in summary.diverged[:SHOWN]:
        click.echo(f"  {verdict}")
    if len(summary.diverged) > SHOWN:
        click.echo(f"  … and {len(summary.diverged) - SHOWN} more")
    click.echo(summary.line())
    sys.exit(0 if not summary.diverged else 1)


def _what_if(
    db: Database,
    ref: str,
    last: int | None,
    every: bool,
    since: datetime | None,
    jobs: int,
    key: str,
) -> None:
    if every and last is not None:
        raise click.UsageError("--last N or --all, not both")
    count = None if every else (last or what_ifs.DEFAULT_LAST)
    with _progress("comparing") as progress:
        report = what_ifs.run(
            db, ref, last=count, since=since, key=key, jobs=jobs, progress=progress
        )
    for verdict in report.differing[:SHOWN]:
        click.echo(f"  {verdict.number}: {verdict.divergence}")
    if report.differ > SHOWN:
        click.echo(f"  … and {report.differ - SHOWN} more")
    for row in report.by_element():
        click.echo(f"  {row['count']:>5}  at {row['name']} ({row['element']})")
    click.echo(f"{report.target}: {report.sentence()}")


def parse_since(text: str | None) -> datetime | None:
    """A date (midnight UTC) or an ISO 8601 time (UTC when it names no zone)."""
    if text is None:
        return None
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise click.UsageError(f"--since: cannot read {text!r}; give e.g. 2026-01-05") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


@contextlib.contextmanager
def _progress(label: str):
    """A progress bar on stderr, made once the total is known."""
    with contextlib.ExitStack() as stack:
        bars: list = []

        def progress(done: int, total: int) -> None:
            if not bars:
                bar = click.progressbar(length=max(total, 1), label=label, file=sys.stderr)
                bars.append(stack.enter_context(bar))
            bars[0].update(done - bars[0].pos)

        yield progress
