"""Bad input ends with a message and a non-zero exit, never a traceback."""

from __future__ import annotations

import functools
import sys

import click

from engine.errors import DeskflowError, DiagramInvalid


def fail_cleanly(command):
    """Turn the engine's refusals into a message on stderr and exit status 1."""

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
