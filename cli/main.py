"""The `deskflow` command group: reads `--database` (default: `DESKFLOW_DATABASE_URL`,
else the SQLite file `deskflow.db` here) and hands the database to every command."""

from __future__ import annotations

import logging

import click

from cli import audit, incidents, init, process, serve
from engine.store.db import Database, database_url


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


for module in (init, process, serve, incidents, audit):
    for command in module.COMMANDS:
        main.add_command(command)


if __name__ == "__main__":  # pragma: no cover
    main()
