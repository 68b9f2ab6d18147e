"""The portal, for the people who report problems: report one in plain words, follow
their own incidents. Everything goes through the engine's commands."""

from __future__ import annotations

from flask import (
    Blueprint,
    abort,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from sqlalchemy import select

from engine.desk import knowledge_base, queries
from engine.errors import Conflict, DeskflowError, FormInvalid
from engine.store.models import Article, Group, HumanTask, Incident, User
from web.auth import current_username, requires
from web.database import database, runtime
from web.form_fields import new_submission
from web.params import Text, args, query
from web.timeline import customer_timeline

bp = Blueprint("portal", __name__, url_prefix="/portal")

# The questions a caller can answer, mapped to the process's impact and urgency.
HOW_MANY = {
    "low": "Just me",
    "medium": "My team or several people",
    "high": "Many people or a whole service",
}
HOW_URGENT = {"low": "It can wait", "medium": "It slows my work down", "high": "I cannot work"}
MY_INCIDENTS_SHOWN = 50
SUGGESTION_QUERY_MAX = 500  # characters of what the caller typed, to find articles with
STATUS_IN_WORDS = {
    "New": "Received: the service desk will look at it soon",
    "In Progress": "Being worked on",
    "On Hold": "Waiting (for you or a supplier)",
    "Awaiting user": "Waiting for your answer",
    "Resolved": "Solved: please confirm, or say it is not fixed",
    "Closed": "Closed",
}
MOVED_ON = "That is not possible any more: it has moved on. See below."


@bp.route("/report", methods=["GET", "POST"])
@requires("user")
def report():
    form = {"short_description": "", "description": "", "is_broken": "yes"}
    form |= {"impact": "low", "urgency": "medium"}
    errors: dict[str, str] = {}
    submission = request.form.get("submission") or new_submission()
    if request.method == "POST":
        form = {key: request.form.get(key, "") for key in form}
        answers = {
            "caller": current_username(),
            "channel": "portal",
            "short_description": form["short_description"].strip(),
            "description": form["description"].strip(),
            "is_broken": form["is_broken"] != "no",
            "impact": form["impact"],
            "urgency": form["urgency"],
        }
        try:
            number = runtime().start_incident(
                answers, actor=current_username(), submission=submission
            )
        except FormInvalid as invalid:
            errors = invalid.errors
        except DeskflowError as refused:
            errors = {"(form)": str(refused)}
        else:
            return redirect(url_for("portal.incident", number=number))
    page = render_template(
        "portal/report.html",
        form=form,
        submission=submission,
        errors=errors,
        how_many=HOW_MANY,
        how_urgent=HOW_URGENT,
        query_max=SUGGESTION_QUERY_MAX,
    )
    return page, 422 if errors else 200


def _mine():
    return select(Incident).where(Incident.caller == current_username())


@bp.get("/incidents")
@requires("user")
def incidents():
    with database().reading() as session:
        rows = list(session.scalars(_mine().order_by(Incident.id.desc()).limit(MY_INCIDENTS_SHOWN)))
        holders = {row.number: _who_has_it(session, row) for row in rows}
    return render_template(
        "portal/incidents.html", incidents=rows, words=STATUS_IN_WORDS, holders=holders
    )


@bp.get("/incidents/<number>")
@requires("user")
def incident(number: str):
    row = _my_incident(number)
    with database().reading() as session:
        self_help = _self_help_task(session, row)
        articles = (
            knowledge_base.search(session, f"{row.short_description} {row.description}")
            if self_help
            else []
        )
        history = queries.history_of(session, row.instance_id)
        holder = _who_has_it(session, row)
    return render_template(
        "portal/incident.html",
        incident=row,
        words=STATUS_IN_WORDS,
        self_help=self_help,
        articles=articles,
        timeline=customer_timeline(history, row.caller),
        holder=holder,
    )


def _who_has_it(session, incident: Incident) -> str:
    """The person working on it, else their team's name as people say it."""
    if incident.assignee:
        person = session.get(User, incident.assignee)
        return person.full_name if person else incident.assignee
    group = session.get(Group, incident.assignment_group or "service-desk")
    return group.description if group and group.description else "the service desk"


def _my_incident(number: str) -> Incident:
    with database().reading() as session:
        row = session.scalars(_mine().where(Incident.number == number.upper())).one_or_none()
    if row is None:  # someone else's incident looks like no incident
        abort(404, f"you have no incident {number}")
    return row


def _self_help_task(session, incident: Incident) -> HumanTask | None:
    """The caller's open self-help step (a request waiting to be tried with the FAQ)."""
    return session.scalars(
        select(HumanTask).where(
            HumanTask.incident_id == incident.id, HumanTask.element == "try_self_help"
        )
    ).first()


@bp.get("/suggestions")
@requires("user")
@query(q=Text(SUGGESTION_QUERY_MAX, cut=True))
def suggestions():
    """Self-help articles for what the caller is typing (an HTML fragment for the page)."""
    with database().reading() as session:
        hits = knowledge_base.search(session, args()["q"])
    return render_template("portal/_suggestions.html", articles=hits)


@bp.get("/articles/<article_id>")
@requires("user")
def article(article_id: str):
    with database().reading() as session:
        row = session.get(Article, article_id.upper())
    if row is None:
        abort(404, f"there is no article {article_id}")
    return render_template("portal/article.html", article=row)


@bp.post("/incidents/<number>/self-help")
@requires("user")
def self_help(number: str):
    """The caller says whether an article solved it (closes the request as deflected) or
    not (the service desk fulfils it)."""
    row = _my_incident(number)
    with database().reading() as session:
        task = _self_help_task(session, row)
    if task is None:
        flash(MOVED_ON, "error")
        return redirect(url_for("portal.incident", number=row.number))
    helped_by = request.form.get("helped_by", "")
    answers: dict = {"solved": bool(helped_by)}
    if helped_by:
        answers["helped_by"] = helped_by
    if comment := request.form.get("comment", "").strip():
        answers["comment"] = comment
    try:
        runtime().complete_task(task.id, answers, actor=current_username())
    except FormInvalid as invalid:
        flash(f"Not sent: {'; '.join(invalid.errors.values())}", "error")
    except Conflict:
        flash(MOVED_ON, "error")
    else:
        flash(
            "Glad it helped: the request is closed."
            if helped_by
            else "The service desk will take care of it.",
            "info",
        )
    return redirect(url_for("portal.incident", number=row.number))


# What a caller can say about an incident: the process message, its payload field, and
# whether that field may be left empty.
ANSWERS = {
    "confirm": ("confirm", "comment", True),
    "reopen": ("reopen", "reason", False),
    "reply": ("user_reply", "message", False),
}
ANSWER_MAX = 4000
SENT = {
    "confirm": "Thank you: the incident is closed.",
    "reopen": "The incident is open again; the service desk has been told.",
    "reply": "Your message was sent to the people working on it.",
}


@bp.post("/incidents/<number>/answer")
@requires("user")
def answer(number: str):
    """Confirm the resolution, reopen with a reason, or write to the people working on it."""
    row = _my_incident(number)
    what = request.form.get("action", "")
    if what not in ANSWERS:
        abort(400, f"unknown answer '{what}' (known: {', '.join(ANSWERS)})")
    message, field, optional = ANSWERS[what]
    text = request.form.get(field, "").strip()
    if not text and not optional:
        flash(f"Please write a {field} before sending.", "error")
    elif len(text) > ANSWER_MAX:
        flash(f"Please keep the {field} under {ANSWER_MAX} characters.", "error")
    else:
        try:
            assert row.number is not None  # numbered when it was opened
            runtime().send_message(row.number, message, {field: text}, actor=current_username())
        except Conflict:
            flash(MOVED_ON, "error")
        else:
            flash(SENT[what], "info")
    return redirect(url_for("portal.incident", number=row.number))
