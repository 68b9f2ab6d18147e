"""Deskflow's web app: the factory wires the database, the checked way in for parameters
and bodies (`web.params`, `web.bodies`), security and one blueprint per audience: logging
in, the status page, the portal (callers), the desk (staff), the process diagram, the JSON
API and its tokens (admins)."""

from __future__ import annotations

from flask import Flask, jsonify, render_template, request
from werkzeug.exceptions import HTTPException

from engine.store.db import Database
from web import (
    account,
    admin,
    api,
    audit,
    auth,
    bodies,
    desk,
    failures,
    headers,
    incidents,
    params,
    portal,
    status,
)
from web.audit_export import bp as audit_export_bp
from web.database import attach
from web.diagram import bp as diagram_bp
from web.process_api import bp as process_api_bp
from web.process_pages import bp as process_pages_bp
from web.replay import bp as replay_bp
from web.security import protect


def create_app(db: Database | None = None, test_config: dict | None = None) -> Flask:
    app = Flask(__name__)
    app.config.from_mapping(test_config or {})
    attach(app, db or Database())
    params.install(app)  # before any blueprint: its rules take the checked converters
    bodies.install(app)
    protect(app)
    headers.install(app)
    app.register_blueprint(auth.bp)
    app.register_blueprint(account.bp)
    app.register_blueprint(status.bp)
    app.register_blueprint(portal.bp)
    app.register_blueprint(desk.bp)
    app.register_blueprint(incidents.bp)
    app.register_blueprint(diagram_bp)
    app.register_blueprint(api.bp)
    app.register_blueprint(admin.bp)
    app.register_blueprint(failures.bp)
    app.register_blueprint(audit.bp)
    app.register_blueprint(audit_export_bp)
    app.register_blueprint(process_pages_bp)
    app.register_blueprint(process_api_bp)
    app.register_blueprint(replay_bp)
    app.context_processor(lambda: {"me": auth.current_user()})

    @app.errorhandler(HTTPException)
    def refused(error: HTTPException):
        if error.code is None or error.code < 400:
            return error
        if request.path.startswith("/api/"):  # unknown paths and methods there too: JSON
            return api.refusal(error)
        body = render_template("error.html", error=error)
        return body, error.code

    @app.get("/health")
    def health():
        return jsonify(status="ok")

    return app
