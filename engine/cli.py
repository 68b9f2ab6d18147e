"""`deskflow`: set up, deploy, drive and inspect the service desk from a shell.

Every command reads `--database` (default: `DESKFLOW_DATABASE_URL`, else the SQLite file
`deskflow.db` here). Bad input ends with a message and a non-zero exit, never a traceback.
"""

from __future__ import annotations

import functools
import gc
import json
import logging
import sys

import click

from engine.desk import queries
from engine.errors import DeskflowError, DiagramInvalid
from engine.instances.runtime import Runtime
from engine.process import definitions
from engine.store.db import Database, database_url


def _fail_cleanly(command):
    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        try:
            return command(*args, **kwargs)
        except DiagramInvalid as err:
            click.secho(f"refused: {len(err.problems)} problem(s)", fg="red", err=True)
            for problem in err.problems:
                click.echo(f"  {problem}", err=True)
            sys.exit(1)
        except DeskflowError as err:
            click.secho(f"error: {err}", fg="red", err=True)
            sys.exit(1)

    return wrapper


@click.group()
@click.option(
    "--database",
    envvar="DESKFLOW_DATABASE_URL",
    default=None,
    help="SQLAlchemy URL (default: sqlite:///deskflow.db).",
)
@click.option("-v", "--verbose", is_flag=True, help="Log what the worker and engine do.")
@click.pass_context
def main(ctx: click.Context, database: str | None, verbose: bool) -> None:
    """Deskflow: an ITIL service desk that runs as a BPMN process."""
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="%(asctime)s %(name)s %(message)s",
    )
    ctx.obj = Database(database or database_url())


@main.command()
@click.pass_obj
@_fail_cleanly
def init(db: Database) -> None:
    """Create or upgrade the database, deploy the bundled diagrams, add users and groups
    (accounts without a password get the demo password)."""
    from engine.desk import accounts, directory, knowledge_base
    from engine.store.migrate import upgrade
    from handlers.catalog import catalog

    upgrade(db)
    deployed = Runtime(db).deploy(
        definitions.bundled(), deployed_by="deskflow init", comment="bundled diagram"
    )
    with db.writing() as session:
        people = directory.seed(session, catalog())
        articles = knowledge_base.seed(session)
        given = accounts.give_demo_passwords(session)
    state = "deployed" if deployed.created else "already deployed"
    click.echo(f"database ready: {db.engine.url.render_as_string(hide_password=True)}")
    click.echo(f"{deployed.key} version {deployed.version} {state}")
    click.echo(f"{people} users and {len(catalog().groups)} groups in the directory")
    click.echo(f"{articles} self-help articles in the knowledge base")
    if given:
        click.echo(
            f"demo password '{accounts.DEMO_PASSWORD}' given to {len(given)} account(s) "
            "without one; change it with: deskflow user password NAME"
        )


@main.group()
def user() -> None:
    """Accounts."""


@user.command("password")
@click.argument("username")
@click.password_option("--password", help="The new password (asked for when left out).")
@click.pass_obj
@_fail_cleanly
def user_password(db: Database, username: str, password: str) -> None:
    """Set USERNAME's password (at least 8 characters); unlocks the account."""
    from engine.desk import accounts

    with db.writing() as session:
        accounts.set_password(session, username, password)
    click.echo(f"password of {username} changed")


@main.group()
def token() -> None:
    """Tokens for the JSON API (/api/): a program sends one as `Authorization: Bearer`."""


@token.command("create")
@click.argument("username")
@click.option("--name", required=True, help="What the token is for (e.g. 'monitoring').")
@click.pass_obj
@_fail_cleanly
def token_create(db: Database, username: str, name: str) -> None:
    """A new API token acting as USERNAME; printed once, never again."""
    from engine.desk import api_tokens

    with db.writing() as session:  # the CLI is the machine's admin
        token_id, plaintext = api_tokens.create_token(session, username, name, created_by="admin")
    click.echo(f"API token {token_id} for {username.strip().lower()} ({name.strip()}):")
    click.echo(plaintext)
    click.echo("Copy it now: it cannot be shown again (only its hash is stored).")


@token.command("list")
@click.pass_obj
@_fail_cleanly
def token_list(db: Database) -> None:
    """Every API token: id, owner, name, created, last used, revoked."""
    from engine.desk import api_tokens

    with db.reading() as session:
        tokens = api_tokens.list_tokens(session)
    if not tokens:
        click.echo("no API tokens")
    for t in tokens:
        used = f"last used {t.last_used_at:%Y-%m-%d %H:%M}" if t.last_used_at else "never used"
        revoked = f", REVOKED {t.revoked_at:%Y-%m-%d %H:%M}" if t.revoked_at else ""
        click.echo(
            f"{t.id:>4}  {t.username:<12} {t.name:<24} "
            f"created {t.created_at:%Y-%m-%d %H:%M} by {t.created_by}, {used}{revoked}"
        )


@token.command("revoke")
@click.argument("token_id", metavar="ID", type=int)
@click.pass_obj
@_fail_cleanly
def token_revoke(db: Database, token_id: int) -> None:
    """Revoke API token ID: requests carrying it are refused from now on."""
    from engine.desk import api_tokens

    with db.writing() as session:
        revoked = api_tokens.revoke_token(session, token_id)
        owner, name = revoked.username, revoked.name
    click.echo(f"API token {token_id} ({owner}: {name}) revoked")


@main.command()
@click.argument("paths", nargs=-1, required=True)
@click.option("--comment", default="", help="Why this version (shown in the versions list).")
@click.option("--by", "deployed_by", default="cli", help="Who deploys (recorded).")
@click.pass_obj
@_fail_cleanly
def deploy(db: Database, paths: tuple[str, ...], comment: str, deployed_by: str) -> None:
    """Validate and deploy BPMN files (with the DMN files and forms/ beside them)."""
    runtime = Runtime(db)
    bundles = definitions.bundle_from_paths(paths)
    for bundle in bundles:  # validate all first: a failed deploy stores nothing
        definitions.compile_bundle(bundle)
    for bundle in bundles:
        result = runtime.deploy(bundle, deployed_by=deployed_by, comment=comment)
        if result.created:
            click.echo(f"deployed {result.key} version {result.version}")
        else:
            click.echo(f"unchanged: {result.key} version {result.version} has identical source")


@main.command("versions")
@click.option("--key", default="service_desk", show_default=True, help="The process.")
@click.pass_obj
@_fail_cleanly
def versions_list(db: Database, key: str) -> None:
    """Deployed versions, newest first: who, when, why, and how many incidents run /
    completed on each."""
    from engine.process import drafts

    with db.reading() as session:
        rows = drafts.list_versions(session, key)
    if not rows:
        click.echo(f"no version of '{key}' is deployed; run `deskflow init`")
    for v in rows:
        click.echo(
            f"{v.version:>4}  {v.deployed_at:%Y-%m-%d %H:%M}  {v.deployed_by:<14} "
            f"running {v.running:>4}  completed {v.completed:>5}  {v.sha256[:12]}  {v.comment}"
        )


@main.command("diff")
@click.argument("old")
@click.argument("new")
@click.option("--key", default="service_desk", show_default=True, help="The process.")
@click.pass_obj
@_fail_cleanly
def diff(db: Database, old: str, new: str, key: str) -> None:
    """What changed from OLD to NEW: version numbers, or a draft as draft:ID."""
    from engine.process import drafts
    from engine.process.version_diff import diff_bundles

    with db.reading() as session:
        old_label, old_bundle = drafts.resolve(session, old, key)
        new_label, new_bundle = drafts.resolve(session, new, key)
    result = diff_bundles(old_bundle, new_bundle)
    click.echo(f"{old_label} → {new_label}")
    if result.empty:
        click.echo("no difference")
        return
    for element in result.added:
        click.echo(f"  + {element.id} ({element.type}) {element.name}".rstrip())
    for element in result.removed:
        click.echo(f"  - {element.id} ({element.type}) {element.name}".rstrip())
    for changed in result.changed:
        click.echo(f"  ~ {changed.element.id} ({changed.element.type}) {changed.element.name}")
        for change in changed.changes:
            click.echo(f"      {change}")
    for kind, files in (("form", result.forms), ("DMN", result.dmn)):
        for name in files.added:
            click.echo(f"  + {kind} {name}")
        for name in files.removed:
            click.echo(f"  - {kind} {name}")
        for item in files.changed:
            click.echo(f"  ~ {kind} {item['name']}: {'; '.join(item['changes'])}")


@main.command("migrate")
@click.option("--from", "source", type=int, required=True, help="The version they run on.")
@click.option("--to", "target", type=int, required=True, help="The version to move them to.")
@click.option("--dry-run", is_flag=True, help="Only say which could move and why (not).")
@click.option("--key", default="service_desk", show_default=True, help="The process.")
@click.option("--by", "actor", default="cli", help="Who migrates (recorded).")
@click.pass_obj
@_fail_cleanly
def migrate(db: Database, source: int, target: int, dry_run: bool, key: str, actor: str) -> None:
    """Move the running incidents of version FROM that can move to version TO."""
    from engine.process.migration import Migrator

    migrator = Migrator(Runtime(db))
    if dry_run:
        checks = migrator.dry_run(source, target, key)
        for check in checks:
            verdict = "can move" if check.can_move else "stays   "
            click.echo(f"{check.incident or check.instance}  {verdict}  {check.why}")
        movable = sum(c.can_move for c in checks)
        click.echo(f"{movable} of {len(checks)} running incident(s) can move (dry run)")
        return
    outcome = migrator.migrate(source, target, actor, key)
    for check in outcome.moved:
        click.echo(f"{check.incident or check.instance}  moved  to version {target}")
    for check in outcome.refused:
        click.echo(f"{check.incident or check.instance}  stays  {check.why}")
    click.echo(f"moved {len(outcome.moved)}, left {len(outcome.refused)} on version {source}")


@main.command("rollback")
@click.argument("version", type=int)
@click.option("--comment", required=True, help="Why (shown in the versions list).")
@click.option("--key", default="service_desk", show_default=True, help="The process.")
@click.option("--by", "deployed_by", default="cli", help="Who rolls back (recorded).")
@click.pass_obj
@_fail_cleanly
def rollback(db: Database, version: int, comment: str, key: str, deployed_by: str) -> None:
    """Deploy VERSION's content again as a new version (running incidents stay put)."""
    from engine.process import drafts

    result = drafts.rollback(db, version, deployed_by, comment, key)
    if result.created:
        click.echo(
            f"deployed {result.key} version {result.version} with version {version}'s content"
        )
    else:
        click.echo(
            f"unchanged: the latest version ({result.version}) has version {version}'s content"
        )


@main.command()
@click.option("--incidents", "count", default=200, show_default=True, type=click.IntRange(1))
@click.option("--seed", default=7, show_default=True, help="Random seed of the path mix.")
@click.pass_obj
@_fail_cleanly
def demo(db: Database, count: int, seed: int) -> None:
    """Drive COUNT incidents through a realistic mix of paths and print a summary."""
    from engine.desk.demo import run_demo

    summary = run_demo(Runtime(db), count, seed=seed, progress=True)
    click.echo(summary.table())
    if not summary.adds_up():
        click.secho("the summary does not add up; see above", fg="red", err=True)
        sys.exit(1)


@main.command()
@click.option("--once", is_flag=True, help="One sweep, then exit.")
@click.option("--interval", default=1.0, show_default=True, help="Seconds between sweeps.")
@click.pass_obj
@_fail_cleanly
def worker(db: Database, once: bool, interval: float) -> None:
    """Fire due timers and deliver notifications."""
    from engine.worker.scheduler import Worker

    work = Worker(Runtime(db))
    gc.freeze()  # long-running: keep start-up objects out of every collection
    if once:
        result = work.sweep()
        click.echo(
            f"fired {result.timers_fired} timer(s) on {result.instances} incident(s), "
            f"delivered {result.delivered} notification(s)"
        )
        for failure in result.failures:
            click.echo(f"  failed: {failure}", err=True)
        return
    logging.getLogger("deskflow").setLevel(logging.INFO)
    work.run_forever(interval)


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True)
@click.pass_obj
@_fail_cleanly
def serve(db: Database, host: str, port: int) -> None:
    """Serve the web app, with a worker thread firing timers (the embedded set-up)."""
    import threading

    from engine.worker.scheduler import Worker
    from web import create_app

    logging.getLogger("deskflow").setLevel(logging.INFO)
    threading.Thread(
        target=Worker(Runtime(db)).run_forever, daemon=True, name="deskflow-worker"
    ).start()
    gc.freeze()  # long-running: keep start-up objects out of every collection
    click.echo(f"Deskflow on http://{host}:{port}/ (worker running; Ctrl-C stops)")
    create_app(db).run(host=host, port=port)


@main.group()
def incident() -> None:
    """Look at and act on one incident."""


@incident.command("show")
@click.argument("number")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.pass_obj
@_fail_cleanly
def incident_show(db: Database, number: str, as_json: bool) -> None:
    """Fields, open tasks and history of NUMBER (e.g. INC0000042)."""
    view = queries.incident_view(db, number.upper())
    if as_json:
        click.echo(json.dumps(view, indent=2, default=str))
    else:
        click.echo(queries.render_incident(view))


@incident.command("retry")
@click.argument("number")
@click.pass_obj
@_fail_cleanly
def incident_retry(db: Database, number: str) -> None:
    """Clear a failed timer of NUMBER so the worker fires it again."""
    Runtime(db).retry(number.upper(), actor="cli")
    click.echo(f"{number.upper()}: failed timers cleared; the worker will retry them")


@incident.command("send")
@click.argument("number")
@click.argument(
    "message",
    type=click.Choice(["confirm", "reopen", "user_reply", "hold", "resume", "reprioritize"]),
)
@click.option(
    "--data", "data", default="{}", help='The payload, JSON (e.g. \'{"reason": "..."}\').'
)
@click.option("--by", "actor", required=True, help="Who sends it (recorded).")
@click.pass_obj
@_fail_cleanly
def incident_send(db: Database, number: str, message: str, data: str, actor: str) -> None:
    """Send MESSAGE to NUMBER's process: confirm, reopen, user_reply, hold or resume."""
    try:
        payload = json.loads(data)
    except json.JSONDecodeError as err:
        raise click.UsageError(f"--data is not JSON: {err.msg}") from None
    Runtime(db).send_message(number.upper(), message, payload, actor=actor)
    view = queries.incident_view(db, number.upper())
    click.echo(f"{number.upper()}: {message} delivered; state now {view['incident']['state']}")


@incident.command("escalate")
@click.argument("number")
@click.option("--at", "at", default=None, help="When, ISO 8601 with a zone (2026-01-05T17:00Z).")
@click.option("--after", "after", default=None, help="Or after how long, ISO 8601 (PT4H).")
@click.option("--notify", "notify_user", default=None, help="Notify this user then.")
@click.option("--reassign", "reassign_user", default=None, help="Or reassign the work to them.")
@click.option("--note", default="", help="Why (shown in the message and the history).")
@click.option("--by", "actor", default="cli", help="Who sets the rule (recorded).")
@click.pass_obj
@_fail_cleanly
def incident_escalate(
    db: Database,
    number: str,
    at: str | None,
    after: str | None,
    notify_user: str | None,
    reassign_user: str | None,
    note: str,
    actor: str,
) -> None:
    """If NUMBER is not resolved by then, notify or reassign someone (fires like a timer)."""
    from datetime import datetime

    from engine import clock
    from handlers.durations import parse_duration

    if (at is None) == (after is None) or (notify_user is None) == (reassign_user is None):
        raise click.UsageError("give one of --at/--after and one of --notify/--reassign")
    try:
        due = datetime.fromisoformat(at) if at else clock.now() + parse_duration(after or "")
    except ValueError as err:
        raise click.UsageError(f"cannot read the time: {err}") from None
    action, target = ("notify", notify_user) if notify_user else ("reassign", reassign_user)
    assert target is not None
    rule = Runtime(db).add_escalation(number.upper(), due, action, target, note, actor=actor)
    click.echo(
        f"{number.upper()}: rule {rule} will {action} {target} at {due.isoformat()} "
        "unless it is resolved by then"
    )


@incident.command("list")
@click.option("--state", default=None, help="Only incidents in this state.")
@click.option("--limit", default=20, show_default=True)
@click.pass_obj
@_fail_cleanly
def incident_list(db: Database, state: str | None, limit: int) -> None:
    """The newest incidents, one line each."""
    for row in queries.incident_lines(db, state=state, limit=limit):
        click.echo(row)


@main.command("export")
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
@_fail_cleanly
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
    import time

    from engine.audit import chains as auditing
    from engine.audit import export

    filters = export.Filters(
        version=version,
        since=export.parse_time(since) if since else None,
        until=export.parse_time(until, end_of_day=True) if until else None,
        priorities=priorities,
        categories=categories,
        groups=groups,
        breached=breached,
    )
    with db.writing() as session:
        people = ", with people" if with_people else ""
        auditing.record_view(session, auditor, f"export {fmt} (cli)", filters.describe() + people)
    stats, started = export.Stats(), time.monotonic()
    try:
        with click.open_file(out, "wb") as sink:
            for chunk in export.export(db, fmt, filters, with_people, stats):
                sink.write(chunk)
    except BrokenPipeError:  # e.g. `| head`: the reader has what it wanted
        import os

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


@main.group()
def audit() -> None:
    """Tamper evidence: verify the history's hash chains; seal them with anchors."""


@audit.command("verify")
@click.option("--instance", "instance_id", type=int, default=None, help="Only this instance.")
@click.option("--by", "auditor", default="cli", show_default=True, help="Who verifies (recorded).")
@click.pass_obj
@_fail_cleanly
def audit_verify(db: Database, instance_id: int | None, auditor: str) -> None:
    """Check every history chain, the instances' heads and the anchors; exit 1 when broken."""
    import contextlib

    from engine.audit import chains as auditing

    with contextlib.ExitStack() as stack:
        bars: list = []

        def progress(done: int, total: int) -> None:
            if not bars:
                bar = click.progressbar(length=max(total, 1), label="verifying", file=sys.stderr)
                bars.append(stack.enter_context(bar))
            bars[0].update(done - bars[0].pos)

        report = auditing.verify(db, instance_id=instance_id, progress=progress)
    with db.writing() as session:
        scope = f"instance {instance_id}" if instance_id is not None else "every chain"
        auditing.record_view(session, auditor, "verification (cli)", f"{scope}: {report.summary()}")
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
@_fail_cleanly
def audit_anchor(db: Database, created_by: str) -> None:
    """Seal the history now: an anchor with the heads of the chains that moved since the
    last one. Keep the printed hash elsewhere to detect a rewrite of everything."""
    from engine.audit import chains as auditing

    anchor = auditing.write_anchor(db, created_by)
    assert anchor is not None  # no min_interval: always written
    click.echo(
        f"anchor {anchor.id} at {anchor.at:%Y-%m-%d %H:%M:%S} UTC: {anchor.moved} chain head(s) "
        f"moved, {anchor.row_count} history rows sealed (up to id {anchor.last_history_id})"
    )
    click.echo(f"hash {anchor.hash}")


@main.command("replay")
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
@_fail_cleanly
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
    from engine.audit.replay.cli import run_replay

    run_replay(db, number, every, since, version, what_if, last, jobs, key)


if __name__ == "__main__":  # pragma: no cover
    main()
