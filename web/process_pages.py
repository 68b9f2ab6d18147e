"""The process owner's pages under /process/: the deployed versions (who, when, why, how
many incidents run on each), diffs, rolling back, moving running incidents to another
version, drafts (the modeler page edits them through `web.process_api`; a JSON editor
here edits their forms).

Every page is for process owners. An engine refusal shows as the error page with its
status (404, 409, 422 for a diagram that cannot run, else 400).
"""

from __future__ import annotations

import json
from typing import Any

from flask import (
    Blueprint,
    Response,
    abort,
    flash,
    make_response,
    redirect,
    render_template,
    request,
    url_for,
)

from engine.errors import Conflict, DeskflowError, DiagramInvalid, NotFound
from engine.instances.migration import Migrator
from engine.process import drafts
from engine.process.version_diff import diff_bundles
from engine.process.versions import PROCESS_KEY
from engine.store.models import Draft
from web.auth import current_username, requires
from web.database import database, runtime
from web.params import INT32, Pattern, Whole, args, field, query

bp = Blueprint("process", __name__, url_prefix="/process")

OWNER = "process_owner"


def version_or_draft(required: bool = False) -> Pattern:
    """What a diff compares: a version number or a draft, as `drafts.resolve` reads them."""
    words = "a version number or draft:ID"
    return Pattern(r"(?i:draft:[0-9]{1,18}|[0-9]{1,9})", words, required=required)


# --- errors ---------------------------------------------------------------------------


def _error_page(status: int, error: DeskflowError):
    return render_template("error.html", error=_PageError(status, str(error))), status


class _PageError:
    """What error.html shows, for an engine refusal on an HTML page."""

    def __init__(self, code: int, description: str) -> None:
        self.code = code
        self.name = {404: "Not Found", 409: "Conflict", 422: "Unprocessable"}.get(
            code, "Bad Request"
        )
        self.description = description


@bp.errorhandler(DiagramInvalid)
def _diagram_invalid(error: DiagramInvalid):
    return _error_page(422, error)


@bp.errorhandler(NotFound)
def _not_found(error: NotFound):
    return _error_page(404, error)


@bp.errorhandler(Conflict)
def _conflict(error: Conflict):
    return _error_page(409, error)


@bp.errorhandler(DeskflowError)
def _refused(error: DeskflowError):
    return _error_page(400, error)


def _page(template: str, status: int = 200, **context: Any) -> Response:
    response = make_response(render_template(template, **context), status)
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.get("/")
@requires(OWNER)
def versions_page():
    with database().reading() as session:
        rows = drafts.list_versions(session, PROCESS_KEY)
        draft_rows = drafts.list_drafts(session, PROCESS_KEY)
    return _page("process/versions.html", versions=rows, drafts=draft_rows)


@bp.post("/versions/<int32:version>/rollback")
@requires(OWNER)
def rollback(version: int):
    comment = request.form.get("comment", "")
    try:
        result = drafts.rollback(database(), version, current_username(), comment, PROCESS_KEY)
    except NotFound as missing:
        abort(404, str(missing))
    except DeskflowError as refused:
        flash(f"Not rolled back: {refused}", "error")
        return redirect(url_for("process.versions_page"))
    if result.created:
        flash(f"Version {result.version} deployed with version {version}'s content.", "info")
    else:
        flash(f"No change: the latest version already has version {version}'s content.", "info")
    return redirect(url_for("process.versions_page"))


@bp.post("/drafts")
@requires(OWNER)
def create_draft():
    base = field("base_version", Whole(1, INT32))
    if base is None:
        abort(400, "choose the version the draft starts from")
    draft = drafts.create(database(), current_username(), base_version=base, key=PROCESS_KEY)
    flash(f"Draft {draft.id} created from version {base}.", "info")
    return redirect(url_for("process.versions_page"))


@bp.post("/drafts/<int:draft_id>/delete")
@requires(OWNER)
def delete_draft(draft_id: int):
    drafts.delete(database(), draft_id)
    flash(f"Draft {draft_id} deleted.", "info")
    return redirect(url_for("process.versions_page"))


@bp.get("/modeler")
@requires(OWNER)
@query(draft=Whole(1), version=Whole(1, INT32))
def modeler():
    """The modeler page (bpmn-js) on a version or a draft; it talks to /process/api/."""
    draft_id, version = args()["draft"], args()["version"]
    with database().reading() as session:
        if draft_id is not None:
            drafts.get(session, draft_id)
        elif version is not None:
            drafts.version_row(session, version, PROCESS_KEY)
        else:
            rows = drafts.list_versions(session, PROCESS_KEY)
            version = rows[0].version if rows else None
    return _page("process/modeler.html", draft_id=draft_id, version=version)


# --- HTML: diff and migration ---------------------------------------------------------


def _choices() -> tuple[list[drafts.VersionSummary], list[Draft]]:
    with database().reading() as session:
        return drafts.list_versions(session, PROCESS_KEY), drafts.list_drafts(session, PROCESS_KEY)


@bp.get("/diff")
@requires(OWNER)
@query({"from": version_or_draft(), "to": version_or_draft()})
def diff_page():
    versions, draft_rows = _choices()
    old, new = args()["from"], args()["to"]
    result, labels, problems = None, ("", ""), None
    if old and new:
        try:
            with database().reading() as session:
                old_label, old_bundle = drafts.resolve(session, old, PROCESS_KEY)
                new_label, new_bundle = drafts.resolve(session, new, PROCESS_KEY)
            result = diff_bundles(old_bundle, new_bundle)
            labels = (old_label, new_label)
        except DiagramInvalid as invalid:
            problems = invalid.problems
    return _page(
        "process/diff.html",
        422 if problems else 200,
        versions=versions,
        drafts=draft_rows,
        old=old,
        new=new,
        result=result,
        labels=labels,
        problems=problems,
    )


@bp.get("/migrate")
@requires(OWNER)
@query({"from": Whole(1, INT32), "to": Whole(1, INT32)})
def migrate_page():
    versions, _ = _choices()
    source, target = args()["from"], args()["to"]
    checks = None
    if source is not None and target is not None:
        checks = Migrator(runtime()).dry_run(source, target, PROCESS_KEY)
    return _page(
        "process/migrate.html",
        versions=versions,
        source=source,
        target=target,
        checks=checks,
        outcome=None,
    )


@bp.post("/migrate")
@requires(OWNER)
def migrate():
    source, target = field("from", Whole(1, INT32)), field("to", Whole(1, INT32))
    if source is None or target is None:
        abort(400, "choose the version to move from and the version to move to")
    outcome = Migrator(runtime()).migrate(source, target, current_username(), PROCESS_KEY)
    versions, _ = _choices()
    return _page(
        "process/migrate.html",
        versions=versions,
        source=source,
        target=target,
        checks=None,
        outcome=outcome,
    )


# --- HTML: the forms of a draft -------------------------------------------------------


@bp.route("/drafts/<int:draft_id>/forms", methods=["GET", "POST"])
@requires(OWNER)
def draft_forms(draft_id: int):
    """A JSON editor for the draft's forms: each form is checked as JSON and as a JSON
    Schema before anything is saved; errors show next to their form."""
    with database().reading() as session:
        forms = drafts.bundle_of(drafts.get(session, draft_id)).forms
    texts = {
        name: json.dumps(schema, indent=2, ensure_ascii=False) for name, schema in forms.items()
    }
    errors: dict[str, str] = {}
    new_name, new_text = "", ""
    if request.method == "POST":
        texts, parsed, errors = {}, {}, {}
        for name in forms:
            if request.form.get(f"remove-{name}"):
                continue
            texts[name] = request.form.get(f"form-{name}", "")
            parsed[name] = _read_form(name, texts[name], errors)
        new_name = request.form.get("new_name", "").strip()
        new_text = request.form.get("new_schema", "").strip()
        if new_name or new_text:
            if not drafts.FORM_NAME.match(new_name):
                errors["new"] = "a form name is letters, digits, '_' and '-' (up to 100)"
            elif new_name in parsed:
                errors["new"] = f"there is a form '{new_name}' already"
            else:
                value = _read_form(new_name, new_text or "{}", errors, key="new")
                parsed[new_name] = value
        if not errors:
            try:
                drafts.save(database(), draft_id, current_username(), forms=parsed)
            except DiagramInvalid as refused:
                errors["new"] = "; ".join(p.message for p in refused.problems)
            else:
                flash(f"The forms of draft {draft_id} are saved.", "info")
                return redirect(url_for("process.draft_forms", draft_id=draft_id))
    return _page(
        "process/forms.html",
        422 if errors else 200,
        draft_id=draft_id,
        texts=texts,
        errors=errors,
        new_name=new_name,
        new_text=new_text,
    )


def _read_form(name: str, text: str, errors: dict[str, str], key: str | None = None) -> Any:
    """The form's schema from its text; a problem goes into `errors` under its name."""
    try:
        value = json.loads(text)
    except json.JSONDecodeError as err:
        errors[key or name] = f"not valid JSON: {err.msg} (line {err.lineno}, column {err.colno})"
        return None
    except RecursionError:
        errors[key or name] = "not valid JSON: nested too deeply"
        return None
    problems = drafts.form_problems(name, value)
    if problems:
        errors[key or name] = problems[0].message
    return value
