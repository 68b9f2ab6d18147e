"""`deskflow audit`, `export`, `replay`: what auditors run.

deskflow audit verify [--instance ID]      every chain checks out (exit 0) or not (1)
deskflow audit anchor                      seal the history now
deskflow export --format xes|csv [...]     the history as an event log
deskflow replay INC0000042                 identical (exit 0) or the first divergence (1)
deskflow replay --all [--since DATE] [--version N] [--jobs N]
deskflow replay --what-if VERSION|draft:ID [--last N | --all] [--since DATE]
"""

from __future__ import annotations

import contextlib
import os
import sys
import time
from datetime import UTC, datetime

import click

from cli.errors import fail_cleanly
from engine.audit import anchors, auditors, chains, event_log, export
from engine.audit import what_if as what_ifs
from engine.audit.replay import SHOWN, Replayer
from engine.store.db import Database


@click.command("export")
@click.option("--format", "fmt", type=click.Choice(["xes", "csv"]), required=True)
@click.option(
    "--out",
    type=click.Path(dir_okay=False, allow_dash=True),
    default="-",
    help="The file to write (default: standard output).",
)
@click.option("--version", "version", type=int, default=None, help="Only this process version.")
@click.option("--since", default=None, help="Only incidents opened at or after (ISO 8601).")
@click.option("--until", default=None, help="Only incidents opened before (a date: through it).")
@click.option("--priority", "priorities", type=int, multiple=True, help="Only this priority.")
@click.option("--category", "categories", multiple=True, help="Only this category.")
@click.option("--group", "groups", multiple=True, help="Only this assignment group.")
@click.option("--breached/--not-breached", default=None, help="Only (not) SLA-breached.")
@click.option("--with-people", is_flag=True, help="Add callers' names and descriptions.")
@click.option("--by", "auditor", default="cli", show_default=True, help="Who exports (recorded).")
@click.pass_obj
@fail_cleanly
def export_history(
    db: Database,
    fmt: str,
    out: str,
    version: int | None,
    since: str | None,
    until: str | None,
    priorities: tuple[int, ...],
    categories: tuple[str, ...],
    groups: tuple[str, ...],
    breached: bool | None,
    with_people: bool,
    auditor: str,
) -> None:
    """The history as an event log for process mining (XES or CSV), streamed; repeat
    --priority, --category or --group for several. See `engine.audit.export`."""
    filters = event_log.Filters(
        version=version,
        since=event_log.parse_time(since) if since else None,
        until=event_log.parse_time(until, end_of_day=True) if until else None,
        priorities=priorities,
        categories=categories,
        groups=groups,
        breached=breached,
    )
    people = ", with people" if with_people else ""
    auditors.record_view(db, auditor, f"export {fmt} (cli)", filters.describe() + people)
    stats, started = event_log.Stats(), time.monotonic()
    try:
        with click.open_file(out, "wb") as sink:
            for chunk in export.export(db, fmt, filters, with_people, stats):
                sink.write(chunk)
    except BrokenPipeError:  # e.g. `| head`: the reader has what it wanted
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no flush error
        sys.exit(1)
    seconds = time.monotonic() - started
    rate = stats.events / seconds if seconds else 0
    where = "standard output" if out == "-" else out
    click.echo(
        f"exported {stats.events} events of {stats.cases} incidents ({filters.describe()}) "
        f"to {where} in {seconds:.1f}s, {rate:,.0f} events/s",
        err=True,
    )


@click.group()
def audit() -> None:
    """Tamper evidence: verify the history's hash chains; seal them with anchors."""


@audit.command("verify")
@click.option("--instance", "instance_id", type=int, default=None, help="Only this instance.")
@click.option("--by", "auditor", default="cli", show_default=True, help="Who verifies (recorded).")
@click.pass_obj
@fail_cleanly
def audit_verify(db: Database, instance_id: int | None, auditor: str) -> None:
    """Check every history chain, the instances' heads and the anchors; exit 1 when broken."""
    with _progress("verifying") as progress:
        report = chains.verify(db, instance_id=instance_id, progress=progress)
    scope = f"instance {instance_id}" if instance_id is not None else "every chain"
    auditors.record_view(db, auditor, "verification (cli)", f"{scope}: {report.summary()}")
    rate = report.rows / report.seconds if report.seconds else 0
    timing = f"{report.seconds:.1f}s, {rate:,.0f} rows/s"
    if report.ok:
        click.echo(f"{report.summary()} ({timing})")
        if report.last_anchor is not None:
            last = report.last_anchor
            click.echo(f"newest anchor {last.id} at {last.at:%Y-%m-%d %H:%M:%S} UTC: {last.hash}")
        return
    click.secho(f"history BROKEN: {report.problem_count} problem(s) ({timing})", fg="red", err=True)
    for problem in report.problems:
        click.echo(f"  {problem}", err=True)
    if report.problem_count > len(report.problems):
        click.echo(f"  … and {report.problem_count - len(report.problems)} more", err=True)
    sys.exit(1)


@audit.command("anchor")
@click.option("--by", "created_by", default="cli", show_default=True, help="Who seals (recorded).")
@click.pass_obj
@fail_cleanly
def audit_anchor(db: Database, created_by: str) -> None:
    """Seal the history now: an anchor with the heads of the chains that moved since the
    last one. Keep the printed hash elsewhere to detect a rewrite of everything."""
    anchor = anchors.write_anchor(db, created_by)
    assert anchor is not None  # no min_interval: always written
    click.echo(
        f"anchor {anchor.id} at {anchor.at:%Y-%m-%d %H:%M:%S} UTC: {anchor.moved} chain head(s) "
        f"moved, {anchor.row_count} history rows sealed (up to id {anchor.last_history_id})"
    )
    click.echo(f"hash {anchor.hash}")


@click.command("replay")
@click.argument("number", required=False)
@click.option("--all", "every", is_flag=True, help="Replay every incident (see --since).")
@click.option("--since", default=None, help="Only incidents opened since DATE (2026-01-05).")
@click.option("--version", type=click.IntRange(1), default=None, help="Only those on version N.")
@click.option(
    "--what-if",
    "what_if",
    default=None,
    metavar="VERSION|draft:ID",
    help="Re-run on another version and report where the paths would differ.",
)
@click.option(
    "--last",
    type=click.IntRange(1),
    default=None,
    help="--what-if: the last N finished incidents (default 500; --all: every finished one).",
)
@click.option(
    "--jobs",
    type=click.IntRange(1, 64),
    default=1,
    show_default=True,
    help="Worker processes for --all / --what-if.",
)
@click.option("--key", default="service_desk", show_default=True, help="The process.")
@click.pass_obj
@fail_cleanly
def replay(
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
    """Re-run NUMBER (or --all) in memory from its recorded inputs and compare with the
    record: identical, or the first divergence (exit 1). --what-if: on another version."""
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


COMMANDS = (export_history, audit, replay)
