"""The app's database: the factory puts it on the app, every blueprint reads it here."""

from __future__ import annotations

from flask import Flask, current_app

from engine.store.db import Database

KEY = "deskflow.db"


def attach(app: Flask, db: Database) -> None:
    app.extensions[KEY] = db


def database() -> Database:
    return current_app.extensions[KEY]
