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

from engine import definitions, queries
from engine.errors import DeskflowError, DiagramInvalid
from engine.runtime import Runtime
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
    from engine import accounts, directory, knowledge_base
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
    from engine import accounts

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
    from engine import api_tokens

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
    from engine import api_tokens

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
    from engine import api_tokens

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


@main.command()
@click.option("--incidents", "count", default=200, show_default=True, type=click.IntRange(1))
@click.option("--seed", default=7, show_default=True, help="Random seed of the path mix.")
@click.pass_obj
@_fail_cleanly
def demo(db: Database, count: int, seed: int) -> None:
    """Drive COUNT incidents through a realistic mix of paths and print a summary."""
    from engine.demo import run_demo

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
    from engine.scheduler import Worker

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

    from engine.scheduler import Worker
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


if __name__ == "__main__":  # pragma: no cover
    main()
