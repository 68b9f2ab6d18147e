"""The app's database and its runtime: the factory puts them on the app, every blueprint
reads them here. One runtime per app (per gunicorn worker), so its workflow cache serves
the next command on a busy incident instead of rebuilding the workflow."""

from __future__ import annotations

from flask import Flask, current_app

from engine.instances.runtime import Runtime
from engine.store.db import Database

KEY = "deskflow.db"
RUNTIME = "deskflow.runtime"


def attach(app: Flask, db: Database) -> None:
    app.extensions[KEY] = db
    app.extensions[RUNTIME] = Runtime(db)


def database() -> Database:
    return current_app.extensions[KEY]


def runtime() -> Runtime:
    """The app's command side (`engine.instances.runtime.Runtime`)."""
    return current_app.extensions[RUNTIME]
