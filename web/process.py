"""The process owner's pages under /process/: the deployed versions (who, when, why, how
many incidents run on each), diffs, rolling back, moving running incidents to another
version, drafts (the modeler page edits them; a JSON editor here edits their forms), and
the JSON endpoints the modeler calls under /process/api/.

Every route is for process owners. JSON endpoints answer JSON, errors included:
`{"error": "...", "problems": [{"file", "line", "element", "message"}]}` with a 4xx status
(as `web.api` does). A POST or PUT carries the CSRF token (header `X-CSRF-Token`).
"""

from __future__ import annotations

import inspect
import json
from typing import Any

from flask import (
    Blueprint,
    Response,
    abort,
    flash,
    jsonify,
    make_response,
    redirect,
    render_template,
    request,
    url_for,
)
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge

from engine.errors import Conflict, DeskflowError, DiagramInvalid, NotFound, Problem
from engine.instances.runtime import Runtime
from engine.process import drafts
from engine.process.migration import Migrator
from engine.process.version_diff import diff_bundles
from engine.process.versions import PROCESS_KEY
from engine.store.models import Draft
from handlers.registry import ENGINE_PARAMETERS, OPERATORS  # importing it registers them all
from web.auth import current_user, requires
from web.database import database

bp = Blueprint("process", __name__, url_prefix="/process")

OWNER = "process_owner"
API_PREFIX = "/process/api/"
# A draft's files may be 2 MB each (engine.process.drafts); the app's default body limit is 1 MB.
API_BODY_LIMIT = 8 * 1024 * 1024


def _me() -> str:
    user = current_user()
    assert user is not None  # requires(...) let the request in
    return user.username


def _runtime() -> Runtime:
    return Runtime(database())


@bp.before_request
def _allow_big_drafts() -> None:
    if request.path.startswith(API_PREFIX):
        request.max_content_length = API_BODY_LIMIT


# --- errors ---------------------------------------------------------------------------


def _is_api() -> bool:
    return request.path.startswith(API_PREFIX)


def _refusal(status: int, message: str, problems: list[Problem] | None = None) -> Response:
    body: dict[str, Any] = {"error": message}
    if problems is not None:
        body["problems"] = [drafts.problem_json(p) for p in problems]
    response = jsonify(body)
    response.status_code = status
    return response


@bp.errorhandler(HTTPException)
def _http_error(error: HTTPException):
    status = error.code or 500
    if not _is_api():
        return render_template("error.html", error=error), status
    message = error.description or error.name
    if isinstance(error, RequestEntityTooLarge):
        message = f"the request body is too large (the limit is {API_BODY_LIMIT:,} bytes)"
    response = _refusal(status, message)
    for name, value in error.get_headers():
        if name.lower() != "content-type":
            response.headers[name] = value
    return response


def _deskflow_error(status: int, error: DeskflowError, problems: list[Problem] | None = None):
    if _is_api():
        return _refusal(status, str(error) if problems is None else _summary(problems), problems)
    return render_template("error.html", error=_PageError(status, str(error))), status


class _PageError:
    """What error.html shows, for an engine refusal on an HTML page."""

    def __init__(self, code: int, description: str) -> None:
        self.code = code
        self.name = {404: "Not Found", 409: "Conflict", 422: "Unprocessable"}.get(
            code, "Bad Request"
        )
        self.description = description


def _summary(problems: list[Problem]) -> str:
    return f"{len(problems)} problem(s); nothing was stored"


@bp.errorhandler(DiagramInvalid)
def _diagram_invalid(error: DiagramInvalid):
    return _deskflow_error(422, error, error.problems)


@bp.errorhandler(NotFound)
def _not_found(error: NotFound):
    return _deskflow_error(404, error)


@bp.errorhandler(Conflict)
def _conflict(error: Conflict):
    return _deskflow_error(409, error)


@bp.errorhandler(DeskflowError)
def _refused(error: DeskflowError):
    return _deskflow_error(400, error)


# --- reading requests -----------------------------------------------------------------


def _body(*fields: str) -> dict[str, Any]:
    """The JSON object sent, with no field but `fields` (parsed here: a body nested too
    deeply is a 400, not a crash)."""
    if not request.is_json:
        abort(415, "send JSON, with Content-Type: application/json")
    try:
        body = json.loads(request.get_data(as_text=True) or "null")
    except (ValueError, RecursionError):
        abort(400, "the body is not valid JSON")
    if not isinstance(body, dict):
        abort(400, "the body must be a JSON object")
    if unknown := sorted(set(body) - set(fields)):
        abort(400, f"unknown field(s) {', '.join(unknown)}; known: {', '.join(fields)}")
    return body


def _version_number(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int | str):
        abort(400, f"{name} must be a version number")
    text = str(value).strip()
    if not text.isdigit() or not 0 < int(text) < 10**9:
        abort(400, f"{name} must be a version number")
    return int(text)


def _ref(value: Any, name: str) -> str:
    """A version number or draft:ID, as sent."""
    if value is None or isinstance(value, bool) or not isinstance(value, int | str):
        abort(400, f"{name} must be a version number or draft:ID")
    return str(value).strip()[:40]


# --- JSON: versions, drafts, validation, deploying ------------------------------------


@bp.get("/api/versions")
@requires(OWNER)
def api_versions():
    with database().reading() as session:
        rows = drafts.list_versions(session, PROCESS_KEY)
    return jsonify([row.as_json() for row in rows])


@bp.get("/api/versions/<int:version>")
@requires(OWNER)
def api_version(version: int):
    with database().reading() as session:
        row = drafts.version_row(session, version, PROCESS_KEY)
        answer = {
            "version": row.version,
            "sha256": row.sha256,
            "deployed_by": row.deployed_by,
            "deployed_at": row.deployed_at.isoformat(),
            "comment": row.comment,
            **drafts.bundle_json(drafts.version_bundle(session, version, PROCESS_KEY)),
        }
    return jsonify(answer)


@bp.post("/api/drafts")
@requires(OWNER)
def api_create_draft():
    body = _body("base_version", "comment")
    base = _version_number(body.get("base_version"), "base_version")
    comment = body.get("comment") or ""
    if not isinstance(comment, str):
        abort(400, "comment must be text")
    draft = drafts.create(database(), _me(), base_version=base, key=PROCESS_KEY, comment=comment)
    answer = drafts.as_json(draft)
    return jsonify(answer), 201, {"Location": url_for("process.api_draft", draft_id=answer["id"])}


@bp.get("/api/drafts")
@requires(OWNER)
def api_drafts():
    with database().reading() as session:
        rows = drafts.list_drafts(session, PROCESS_KEY)
        answer = [_draft_summary(d) for d in rows]
    return jsonify(answer)


def _draft_summary(draft: Draft) -> dict[str, Any]:
    return {
        "id": draft.id,
        "base_version": draft.base_version,
        "comment": draft.comment,
        "created_by": draft.created_by,
        "updated_by": draft.updated_by,
        "updated_at": draft.updated_at.isoformat(),
    }


@bp.get("/api/drafts/<int:draft_id>")
@requires(OWNER)
def api_draft(draft_id: int):
    with database().reading() as session:
        answer = drafts.as_json(drafts.get(session, draft_id))
    response = jsonify(answer)
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.put("/api/drafts/<int:draft_id>")
@requires(OWNER)
def api_save_draft(draft_id: int):
    body = _body("bpmn", "dmn", "forms", "comment")
    draft = drafts.save(
        database(),
        draft_id,
        _me(),
        bpmn=body.get("bpmn"),
        dmn=body.get("dmn"),
        forms=body.get("forms"),
        comment=body.get("comment"),
    )
    return jsonify(drafts.as_json(draft))


@bp.delete("/api/drafts/<int:draft_id>")
@requires(OWNER)
def api_delete_draft(draft_id: int):
    drafts.delete(database(), draft_id)
    return "", 204


@bp.post("/api/drafts/<int:draft_id>/validate")
@requires(OWNER)
def api_validate_draft(draft_id: int):
    with database().reading() as session:
        draft = drafts.get(session, draft_id)
        bundle, key = drafts.bundle_of(draft), draft.key
    return jsonify(drafts.validate(bundle, key).as_json())


@bp.post("/api/drafts/<int:draft_id>/deploy")
@requires(OWNER)
def api_deploy_draft(draft_id: int):
    body = _body("comment")
    comment = body.get("comment")
    if not isinstance(comment, str) or not comment.strip():
        abort(400, "say why in a comment: it is shown in the versions list")
    result = drafts.deploy_draft(database(), draft_id, _me(), comment)
    answer: dict[str, Any] = {"version": result.version, "created": result.created}
    if not result.created:
        answer["message"] = f"no change: version {result.version} has the same content"
    return jsonify(answer), 201


@bp.post("/api/versions/<int:version>/rollback")
@requires(OWNER)
def api_rollback(version: int):
    """Deploy an older version's content again, as a new version, with a comment."""
    body = _body("comment")
    comment = body.get("comment")
    if not isinstance(comment, str) or not comment.strip():
        abort(400, "say why in a comment: it is shown in the versions list")
    result = drafts.rollback(database(), version, _me(), comment, PROCESS_KEY)
    answer: dict[str, Any] = {"version": result.version, "created": result.created}
    if not result.created:
        answer["message"] = f"no change: version {result.version} has the same content"
    return jsonify(answer), 201


@bp.get("/api/operators")
@requires(OWNER)
def api_operators():
    return jsonify(operators())


def operators() -> list[dict[str, Any]]:
    """The operators a service task may name, with the parameters the diagram passes."""
    found = []
    for name in sorted(OPERATORS):
        func = OPERATORS[name]
        parameters = []
        for param in inspect.signature(func).parameters.values():
            if param.name in ENGINE_PARAMETERS or param.kind not in (
                param.POSITIONAL_OR_KEYWORD,
                param.KEYWORD_ONLY,
            ):
                continue
            required = param.default is param.empty
            parameters.append(
                {
                    "name": param.name,
                    "required": required,
                    "default": None if required else _plain_default(param.default),
                }
            )
        found.append({"name": name, "doc": inspect.getdoc(func) or "", "parameters": parameters})
    return found


def _plain_default(value: Any) -> Any:
    try:
        json.dumps(value)
    except (TypeError, ValueError):
        return repr(value)
    return value


# --- JSON: diff and migrations --------------------------------------------------------


@bp.get("/api/diff")
@requires(OWNER)
def api_diff():
    old = _ref(request.args.get("from"), "?from")
    new = _ref(request.args.get("to"), "?to")
    with database().reading() as session:
        _, old_bundle = drafts.resolve(session, old, PROCESS_KEY)
        _, new_bundle = drafts.resolve(session, new, PROCESS_KEY)
    return jsonify(diff_bundles(old_bundle, new_bundle).as_json())


def _migration_pair() -> tuple[int, int]:
    body = _body("from", "to")
    return _version_number(body.get("from"), "from"), _version_number(body.get("to"), "to")


@bp.post("/api/migrations/dry-run")
@requires(OWNER)
def api_dry_run():
    source, target = _migration_pair()
    checks = Migrator(_runtime()).dry_run(source, target, PROCESS_KEY)
    return jsonify(instances=[c.as_json() for c in checks])


@bp.post("/api/migrations")
@requires(OWNER)
def api_migrate():
    source, target = _migration_pair()
    outcome = Migrator(_runtime()).migrate(source, target, _me(), PROCESS_KEY)
    return jsonify(outcome.as_json())


@bp.route(
    "/api/<path:rest>", methods=["GET", "POST", "PUT", "PATCH", "DELETE"], endpoint="api_unknown"
)
@requires(OWNER)
def api_unknown(rest: str):
    abort(404, f"no endpoint {request.method} /process/api/{rest[:100]}")


# --- HTML: versions, roll back, drafts --------------------------------------------------


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


@bp.post("/versions/<int:version>/rollback")
@requires(OWNER)
def rollback(version: int):
    comment = request.form.get("comment", "")
    try:
        result = drafts.rollback(database(), version, _me(), comment, PROCESS_KEY)
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
    raw = request.form.get("base_version", "")
    if not raw.isdigit():
        abort(400, "choose the version the draft starts from")
    draft = drafts.create(database(), _me(), base_version=int(raw), key=PROCESS_KEY)
    flash(f"Draft {draft.id} created from version {raw}.", "info")
    return redirect(url_for("process.versions_page"))


@bp.post("/drafts/<int:draft_id>/delete")
@requires(OWNER)
def delete_draft(draft_id: int):
    drafts.delete(database(), draft_id)
    flash(f"Draft {draft_id} deleted.", "info")
    return redirect(url_for("process.versions_page"))


@bp.get("/modeler")
@requires(OWNER)
def modeler():
    """The modeler page (bpmn-js) on a version or a draft; it talks to /process/api/."""
    draft_id = _whole_arg("draft")
    version = _whole_arg("version")
    with database().reading() as session:
        if draft_id is not None:
            drafts.get(session, draft_id)
        elif version is not None:
            drafts.version_row(session, version, PROCESS_KEY)
        else:
            rows = drafts.list_versions(session, PROCESS_KEY)
            version = rows[0].version if rows else None
    return _page("process/modeler.html", draft_id=draft_id, version=version)


def _whole_arg(name: str) -> int | None:
    raw = request.args.get(name)
    if raw in (None, ""):
        return None
    assert raw is not None
    if not raw.isdigit() or len(raw) > 9:
        abort(400, f"?{name} must be a whole number")
    return int(raw)


# --- HTML: diff and migration ---------------------------------------------------------


def _choices() -> tuple[list[drafts.VersionSummary], list[Draft]]:
    with database().reading() as session:
        return drafts.list_versions(session, PROCESS_KEY), drafts.list_drafts(session, PROCESS_KEY)


@bp.get("/diff")
@requires(OWNER)
def diff_page():
    versions, draft_rows = _choices()
    old, new = request.args.get("from", ""), request.args.get("to", "")
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
def migrate_page():
    versions, _ = _choices()
    source, target = _whole_arg("from"), _whole_arg("to")
    checks = None
    if source is not None and target is not None:
        checks = Migrator(_runtime()).dry_run(source, target, PROCESS_KEY)
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
    source = request.form.get("from", "")
    target = request.form.get("to", "")
    if not (source.isdigit() and target.isdigit()):
        abort(400, "choose the version to move from and the version to move to")
    outcome = Migrator(_runtime()).migrate(int(source), int(target), _me(), PROCESS_KEY)
    versions, _ = _choices()
    return _page(
        "process/migrate.html",
        versions=versions,
        source=int(source),
        target=int(target),
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
                drafts.save(database(), draft_id, _me(), forms=parsed)
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


# --- JSON: what-if before deploying (engine/audit/what_if.py) -------------------------------


@bp.get("/api/drafts/<int:draft_id>/what-if")
@requires(OWNER)
def api_what_if(draft_id: int):
    """Of the last N finished incidents (`?last=`, default 500), which would take another
    path on this draft, and where: the recorded incidents re-run in memory on it."""
    from engine.audit import what_if

    raw = request.args.get("last", str(what_if.DEFAULT_LAST)).strip()
    if not raw.isdigit() or not 0 < int(raw) <= what_if.MAX_LAST:
        abort(400, f"?last must be a whole number from 1 to {what_if.MAX_LAST}")
    report = what_if.run(database(), f"draft:{draft_id}", last=int(raw), key=PROCESS_KEY)
    response = jsonify(report.as_json(limit=what_if.SHOWN_INCIDENTS))
    response.headers["Cache-Control"] = "no-store"
    return response
