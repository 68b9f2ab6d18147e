"""A fast clock shared by the processes of the kill -9 test (`test_crash.py`).

SLA timers are hours long and the crash test runs for under a minute. So every process of
the test — gunicorn's workers, the `deskflow worker` processes and the test itself —
installs a `FastClock` (through `engine.clock.install`, as other tests install a
FrozenClock): it runs `speed` times faster than the wall clock from one origin, both
passed in the environment variable named by `ENV` ("origin:speed"), so every process
reads the same time and the timers of the incidents fall due while workers are killed.

This file is used three ways:

- as gunicorn's config file (`gunicorn -c tests/integration/crash_clock.py --preload
  ... web.wsgi:app`): `when_ready` compiles the process definitions in the arbiter, so
  that a worker forked to replace a killed one serves at once, and `post_fork` installs
  the clock in each worker (and names the worker's database connections);
- as the worker's entry point (`python -m tests.integration.crash_clock --database URL
  worker`): the `deskflow` command line with the clock installed; with `WAIT` set it
  imports and compiles the definitions first and starts when a line arrives on its
  stdin (a spare, ready to replace a killed worker at once);
- imported by the test, for `FastClock` itself.

Gunicorn reads every lower-case name of a config file as a setting, so the names here
that are not hooks are upper-case or start with an underscore.
"""

from __future__ import annotations

import os
import time
from datetime import UTC, datetime

from engine import clock

ENV = "DESKFLOW_CRASH_CLOCK"
WAIT = "DESKFLOW_CRASH_WAIT"  # set: a worker imports, then waits for a line on stdin


class FastClock:
    """The wall clock, sped up `speed` times from `origin` (seconds since the epoch)."""

    def __init__(self, origin: float, speed: float) -> None:
        self.origin, self.speed = origin, speed

    def now(self) -> datetime:
        return datetime.fromtimestamp(self.origin + (time.time() - self.origin) * self.speed, UTC)

    def setting(self) -> str:
        """The value of `ENV` that gives other processes this clock."""
        return f"{self.origin!r}:{self.speed!r}"

    @classmethod
    def from_setting(cls, value: str) -> FastClock:
        origin, speed = value.split(":")
        return cls(float(origin), float(speed))


def _install_from_env() -> None:
    value = os.environ.get(ENV)
    if value:
        clock.install(FastClock.from_setting(value))


def _compile_definitions() -> None:
    """Compile the deployed process definitions into this process's cache, as the first
    command of a fresh process would (seconds on a busy machine); its connections are
    closed afterwards, so that none is inherited by a fork."""
    from sqlalchemy import select

    from engine.instances.runtime import Runtime
    from engine.store.db import Database
    from engine.store.models import Definition

    db = Database()  # DESKFLOW_DATABASE_URL
    try:
        with db.reading() as session:
            for definition_id in session.scalars(select(Definition.id)):
                Runtime(db).definition(session, definition_id)
    finally:
        db.dispose()


def when_ready(server) -> None:  # gunicorn's hook, in the arbiter before it forks workers
    _compile_definitions()


def post_fork(server, worker) -> None:  # gunicorn's hook, in each new worker
    """The fast clock, and an application_name naming the worker (libpq's PGAPPNAME) so
    that the test sees in pg_stat_activity which worker is in a transaction."""
    _install_from_env()
    os.environ["PGAPPNAME"] = f"crash-web-{os.getpid()}"


if __name__ == "__main__":
    import faulthandler
    import signal
    import sys

    faulthandler.register(signal.SIGUSR1)  # kill -USR1: every thread's stack, to the log

    import engine.worker.scheduler  # noqa: F401  (the imports that take a while, done before waiting)
    from cli.main import main

    _install_from_env()
    if os.environ.get(WAIT):
        _compile_definitions()
        sys.stdin.readline()
    main()
