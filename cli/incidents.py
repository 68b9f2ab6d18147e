"""`deskflow incident ...`: look at and act on one incident."""

from __future__ import annotations

import json
from datetime import datetime

import click

from cli.errors import fail_cleanly
from engine import clock
from engine.desk import queries
from engine.instances.runtime import Runtime
from engine.store.db import Database
from engine.worker.failures import failed_incidents
from engine.worker.outbox import failed_notifications
from handlers.durations import parse_duration


@click.group()
def incident() -> None:
    """Look at and act on one incident."""


@incident.command("show")
@click.argument("number")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.pass_obj
@fail_cleanly
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
@fail_cleanly
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
@fail_cleanly
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
@fail_cleanly
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
@fail_cleanly
def incident_list(db: Database, state: str | None, limit: int) -> None:
    """The newest incidents, one line each."""
    for row in queries.incident_lines(db, state=state, limit=limit):
        click.echo(row)


COMMANDS = (incident,)


@incident.command("failed")
@click.pass_obj
@fail_cleanly
def incident_failed(db: Database) -> None:
    """Incidents the worker could not advance (their due timers held back), and
    notifications given up on; `incident retry NUMBER` once the cause is fixed."""
    incidents = failed_incidents(db)
    for row in incidents:
        held = f", {row.failed_timers} timer(s) held back" if row.failed_timers else ""
        click.echo(f"{row.number}  {row.state}{held}: {row.last_error or 'timer failed'}")
    mails = failed_notifications(db)
    for mail in mails:
        click.echo(
            f"notification {mail.id} ({mail.template} to {mail.recipient}, "
            f"{mail.incident or 'no incident'}): {mail.last_error}"
        )
    if not incidents and not mails:
        click.echo("nothing failed")
