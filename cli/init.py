"""`deskflow init`, `deskflow user`, `deskflow token`: the database, accounts, API tokens."""

from __future__ import annotations

import click

from cli.errors import fail_cleanly
from engine.desk import account_state, accounts, api_tokens, setup
from engine.store.db import Database


@click.command()
@click.pass_obj
@fail_cleanly
def init(db: Database) -> None:
    """Create or upgrade the database, deploy the bundled diagrams, add users and groups
    (without passwords: set one with `deskflow user password`)."""
    done = setup.initialize(db)
    deployed = done.deployed
    state = "deployed" if deployed.created else "already deployed"
    click.echo(f"database ready: {db.engine.url.render_as_string(hide_password=True)}")
    click.echo(f"{deployed.key} version {deployed.version} {state}")
    click.echo(f"{done.people} users and {done.groups} groups in the directory")
    click.echo(f"{done.articles} self-help articles in the knowledge base")
    if done.without_password:
        click.echo(
            f"{done.without_password} account(s) have no password and cannot log in yet: "
            "set one with `deskflow user password NAME` (or, to try Deskflow out, "
            "`deskflow demo` gives them the public demo password)"
        )


@click.group()
def user() -> None:
    """Accounts."""


@user.command("password")
@click.argument("username")
@click.password_option("--password", help="The new password (asked for when left out).")
@click.pass_obj
@fail_cleanly
def user_password(db: Database, username: str, password: str) -> None:
    """Set USERNAME's password (at least 8 characters); lifts the lockout after wrong
    passwords (not an admin's lock) and ends every session of the account."""
    accounts.set_password(db, username, password)
    click.echo(f"password of {username} changed; their sessions ended")


@user.command("lock")
@click.argument("username")
@click.pass_obj
@fail_cleanly
def user_lock(db: Database, username: str) -> None:
    """Lock USERNAME until unlocked: ends their sessions, revokes their API tokens."""
    ended = account_state.lock(db, username)
    click.echo(f"{username} locked; {ended} session(s) ended, API tokens revoked")


@user.command("unlock")
@click.argument("username")
@click.pass_obj
@fail_cleanly
def user_unlock(db: Database, username: str) -> None:
    """Let USERNAME log in again (revoked API tokens stay revoked)."""
    account_state.unlock(db, username)
    click.echo(f"{username} unlocked")


@user.command("deactivate")
@click.argument("username")
@click.pass_obj
@fail_cleanly
def user_deactivate(db: Database, username: str) -> None:
    """Deactivate USERNAME (they left): no log-in; sessions end, API tokens are revoked."""
    ended = account_state.deactivate(db, username)
    click.echo(f"{username} deactivated; {ended} session(s) ended, API tokens revoked")


@user.command("activate")
@click.argument("username")
@click.pass_obj
@fail_cleanly
def user_activate(db: Database, username: str) -> None:
    """Reactivate USERNAME: they may log in again."""
    account_state.activate(db, username)
    click.echo(f"{username} reactivated")


@user.command("roles")
@click.argument("username")
@click.argument("roles", nargs=-1, required=True)
@click.pass_obj
@fail_cleanly
def user_roles(db: Database, username: str, roles: tuple[str, ...]) -> None:
    """Give USERNAME exactly ROLES (e.g. technician manager); a change ends their sessions."""
    ended = account_state.set_roles(db, username, list(roles))
    click.echo(f"roles of {username}: {' '.join(sorted(set(roles)))}; {ended} session(s) ended")


@click.group()
def token() -> None:
    """Tokens for the JSON API (/api/): a program sends one as `Authorization: Bearer`."""


@token.command("create")
@click.argument("username")
@click.option("--name", required=True, help="What the token is for (e.g. 'monitoring').")
@click.option(
    "--scope",
    type=click.Choice(api_tokens.SCOPES),
    default="read",
    show_default=True,
    help="read: GET only; write: all the user may do.",
)
@click.option(
    "--days",
    type=click.IntRange(1, api_tokens.MAX_DAYS),
    default=api_tokens.DEFAULT_DAYS,
    show_default=True,
    help="How long the token works.",
)
@click.pass_obj
@fail_cleanly
def token_create(db: Database, username: str, name: str, scope: str, days: int) -> None:
    """A new API token acting as USERNAME; printed once, never again."""
    # the CLI is the machine's admin
    token_id, plaintext = api_tokens.create_token(
        db, username, name, created_by="admin", scope=scope, days=days
    )
    click.echo(
        f"API token {token_id} for {username.strip().lower()} ({name.strip()}), "
        f"{scope}, for {days} days:"
    )
    click.echo(plaintext)
    click.echo("Copy it now: it cannot be shown again (only its hash is stored).")


@token.command("list")
@click.pass_obj
@fail_cleanly
def token_list(db: Database) -> None:
    """Every API token: id, owner, name, scope, created, expiry, last used, revoked."""
    with db.reading() as session:
        tokens = api_tokens.list_tokens(session)
    if not tokens:
        click.echo("no API tokens")
    for t in tokens:
        used = f"last used {t.last_used_at:%Y-%m-%d %H:%M}" if t.last_used_at else "never used"
        revoked = f", REVOKED {t.revoked_at:%Y-%m-%d %H:%M}" if t.revoked_at else ""
        why = f" ({t.revoke_reason})" if t.revoked_at and t.revoke_reason else ""
        click.echo(
            f"{t.id:>4}  {t.username:<12} {t.name:<24} {t.scope:<5} "
            f"created {t.created_at:%Y-%m-%d %H:%M} by {t.created_by}, "
            f"expires {t.expires_at:%Y-%m-%d %H:%M}, {used}{revoked}{why}"
        )


@token.command("revoke")
@click.argument("token_id", metavar="ID", type=int)
@click.pass_obj
@fail_cleanly
def token_revoke(db: Database, token_id: int) -> None:
    """Revoke API token ID: requests carrying it are refused from now on."""
    revoked = api_tokens.revoke_token(db, token_id)
    click.echo(f"API token {token_id} ({revoked.username}: {revoked.name}) revoked")


COMMANDS = (init, user, token)
