"""Deskflow's web app. For now a status page; the technicians' UI builds on this factory."""

from __future__ import annotations

from flask import Flask, jsonify, render_template
from sqlalchemy import func, select

from engine.store.db import Database
from engine.store.models import HumanTask, Incident, Timer


def create_app(db: Database | None = None, test_config: dict | None = None) -> Flask:
    app = Flask(__name__)
    app.config.from_mapping(test_config or {})
    database = db or Database()

    def counts() -> dict:
        with database.reading() as session:
            by_state = dict(
                session.execute(select(Incident.state, func.count()).group_by(Incident.state)).all()
            )
            return {
                "incidents": sum(by_state.values()),
                "by_state": by_state,
                "open_tasks": session.scalar(select(func.count()).select_from(HumanTask)),
                "armed_timers": session.scalar(select(func.count()).select_from(Timer)),
                "breached": session.scalar(
                    select(func.count())
                    .select_from(Incident)
                    .where(Incident.resolution_breached.is_(True))
                ),
            }

    @app.get("/health")
    def health():
        return jsonify(status="ok", **counts())

    @app.get("/")
    def status():
        return render_template("status.html", counts=counts())

    return app
