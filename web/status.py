"""The start page: people who only report problems go to their incidents, people who
work tasks to their queue; the others (auditors, process owners, admins) see the desk's
counts of incidents, tasks and timers."""

from __future__ import annotations

from flask import Blueprint, redirect, render_template, url_for
from sqlalchemy import func, select

from engine.store.models import HumanTask, Incident, Timer
from web.auth import current_user, requires
from web.database import database
from web.desk import STAFF

bp = Blueprint("status", __name__)


def counts() -> dict:
    with database().reading() as session:
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


@bp.get("/")
@requires()
def home():
    me = current_user()
    if me is not None and set(me.roles) == {"user"}:  # people who report: their incidents
        return redirect(url_for("portal.incidents"))
    if me is not None and set(me.roles) & set(STAFF):  # people who work tasks: their queue
        return redirect(url_for("desk.queue"))
    return render_template("status.html", counts=counts())
