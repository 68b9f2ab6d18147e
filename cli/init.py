"""`deskflow init`, `deskflow user`, `deskflow token`: the database, accounts, API tokens."""

from __future__ import annotations

import click

from cli.errors import fail_cleanly
from engine.desk import accounts, api_tokens, setup
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
    """Set USERNAME's password (at least 8 characters); unlocks the account."""
    accounts.set_password(db, username, password)
    click.echo(f"password of {username} changed")


@click.group()
def token() -> None:
    """Tokens for the JSON API (/api/): a program sends one as `Authorization: Bearer`."""


@token.command("create")
@click.argument("username")
@click.option("--name", required=True, help="What the token is for (e.g. 'monitoring').")
@click.pass_obj
@fail_cleanly
def token_create(db: Database, username: str, name: str) -> None:
    """A new API token acting as USERNAME; printed once, never again."""
    # the CLI is the machine's admin
    token_id, plaintext = api_tokens.create_token(db, username, name, created_by="admin")
    click.echo(f"API token {token_id} for {username.strip().lower()} ({name.strip()}):")
    click.echo(plaintext)
    click.echo("Copy it now: it cannot be shown again (only its hash is stored).")


@token.command("list")
@click.pass_obj
@fail_cleanly
def token_list(db: Database) -> None:
    """Every API token: id, owner, name, created, last used, revoked."""
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
@fail_cleanly
def token_revoke(db: Database, token_id: int) -> None:
    """Revoke API token ID: requests carrying it are refused from now on."""
    revoked = api_tokens.revoke_token(db, token_id)
    click.echo(f"API token {token_id} ({revoked.username}: {revoked.name}) revoked")


COMMANDS = (init, user, token)
