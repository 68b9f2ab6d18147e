"""`deskflow serve`, `worker`, `demo`: running the desk."""

from __future__ import annotations

import gc
import logging
import sys
import threading

import click

from cli.errors import fail_cleanly
from engine.desk import accounts
from engine.desk.demo import run_demo
from engine.instances.runtime import Runtime
from engine.store.db import Database
from engine.worker.scheduler import Worker


@click.command()
@click.option("--incidents", "count", default=200, show_default=True, type=click.IntRange(1))
@click.option("--seed", default=7, show_default=True, help="Random seed of the path mix.")
@click.pass_obj
@fail_cleanly
def demo(db: Database, count: int, seed: int) -> None:
    """Give the accounts without a password the public demo password, drive COUNT
    incidents through a realistic mix of paths and print a summary."""
    if given := accounts.give_demo_passwords(db):
        click.echo(
            f"demo password '{accounts.DEMO_PASSWORD}' given to {len(given)} account(s) "
            "without one; change it with: deskflow user password NAME"
        )
    summary = run_demo(Runtime(db), count, seed=seed, progress=True)
    click.echo(summary.table())
    if not summary.adds_up():
        click.secho("the summary does not add up; see above", fg="red", err=True)
        sys.exit(1)


@click.command()
@click.option("--once", is_flag=True, help="One sweep, then exit.")
@click.option("--interval", default=1.0, show_default=True, help="Seconds between sweeps.")
@click.pass_obj
@fail_cleanly
def worker(db: Database, once: bool, interval: float) -> None:
    """Fire due timers and deliver notifications."""
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


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True)
@click.pass_obj
@fail_cleanly
def serve(db: Database, host: str, port: int) -> None:
    """Serve the web app, with a worker thread firing timers (the embedded set-up)."""
    from web import create_app  # Flask only for this command

    logging.getLogger("deskflow").setLevel(logging.INFO)
    threading.Thread(
        target=Worker(Runtime(db)).run_forever, daemon=True, name="deskflow-worker"
    ).start()
    gc.freeze()  # long-running: keep start-up objects out of every collection
    click.echo(f"Deskflow on http://{host}:{port}/ (worker running; Ctrl-C stops)")
    create_app(db).run(host=host, port=port)


COMMANDS = (demo, worker, serve)
