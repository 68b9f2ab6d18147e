"""The JSON endpoints the process modeler calls, under /process/api/: versions, drafts
(create, save, delete, validate, deploy), rolling back, the operators a service task may
name, diffs, migrating running incidents, and what-if before deploying.

Every endpoint is for process owners and answers JSON, errors included:
`{"error": "...", "problems": [{"file", "line", "element", "message"}]}` with a 4xx status
(as `web.api` does). A POST or PUT carries the CSRF token (header `X-CSRF-Token`).
"""

from __future__ import annotations

import inspect
import json
import re
from typing import Any

from flask import Blueprint, Response, abort, jsonify, request, url_for
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge

from engine.audit import what_if
from engine.errors import Conflict, DeskflowError, DiagramInvalid, NotFound, Problem
from engine.instances.migration import Migrator
from engine.process import drafts
from engine.process.version_diff import diff_bundles
from engine.process.versions import PROCESS_KEY
from engine.store.models import Draft
from handlers.registry import ENGINE_PARAMETERS, OPERATORS  # importing it registers them all
from web.auth import current_username, requires
from web.bodies import json_body
from web.database import database, runtime
from web.params import Whole, args, query
from web.process_pages import version_or_draft

bp = Blueprint("process_api", __name__, url_prefix="/process/api")

OWNER = "process_owner"
# A draft's files may be 2 MB each (engine.process.drafts); the app's default limit is 1 MB.
BODY_LIMIT = 8 * 1024 * 1024


@bp.before_request
def _allow_big_drafts() -> None:
    request.max_content_length = BODY_LIMIT


# --- errors ---------------------------------------------------------------------------


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
    message = error.description or error.name
    if isinstance(error, RequestEntityTooLarge):
        message = f"the request body is too large (the limit is {BODY_LIMIT:,} bytes)"
    response = _refusal(status, message)
    for name, value in error.get_headers():
        if name.lower() != "content-type":
            response.headers[name] = value
    return response


def _summary(problems: list[Problem]) -> str:
    return f"{len(problems)} problem(s); nothing was stored"


@bp.errorhandler(DiagramInvalid)
def _diagram_invalid(error: DiagramInvalid):
    return _refusal(422, _summary(error.problems), error.problems)


@bp.errorhandler(NotFound)
def _not_found(error: NotFound):
    return _refusal(404, str(error))


@bp.errorhandler(Conflict)
def _conflict(error: Conflict):
    return _refusal(409, str(error))


@bp.errorhandler(DeskflowError)
def _refused(error: DeskflowError):
    return _refusal(400, str(error))


# --- reading requests -----------------------------------------------------------------


def _body(*fields: str) -> dict[str, Any]:
    """The JSON object sent (`web.bodies.json_body`: a body nested too deeply is a 400,
    not a crash), with no field but `fields`."""
    body = json_body()
    if not isinstance(body, dict):
        abort(400, "the body must be a JSON object")
    if unknown := sorted(set(body) - set(fields)):
        abort(400, f"unknown field(s) {', '.join(unknown)}; known: {', '.join(fields)}")
    return body


def _version_number(value: Any, name: str) -> int:
    """A version number sent in a body: a whole number, or its ASCII digits as text."""
    if isinstance(value, bool) or not isinstance(value, int | str):
        abort(400, f"{name} must be a version number")
    text = str(value).strip()
    if not re.fullmatch(r"[0-9]{1,9}", text) or int(text) == 0:
        abort(400, f"{name} must be a version number")
    return int(text)


# --- versions, drafts, validation, deploying ------------------------------------------


@bp.get("/versions")
@requires(OWNER)
def list_versions():
    with database().reading() as session:
        rows = drafts.list_versions(session, PROCESS_KEY)
    return jsonify([row.as_json() for row in rows])


@bp.get("/versions/<int32:version>")
@requires(OWNER)
def show_version(version: int):
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


@bp.post("/drafts")
@requires(OWNER)
def create_draft():
    body = _body("base_version", "comment")
    base = _version_number(body.get("base_version"), "base_version")
    comment = body.get("comment") or ""
    if not isinstance(comment, str):
        abort(400, "comment must be text")
    draft = drafts.create(
        database(), current_username(), base_version=base, key=PROCESS_KEY, comment=comment
    )
    answer = drafts.as_json(draft)
    return (
        jsonify(answer),
        201,
        {"Location": url_for("process_api.show_draft", draft_id=answer["id"])},
    )


@bp.get("/drafts")
@requires(OWNER)
def list_drafts():
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


@bp.get("/drafts/<int:draft_id>")
@requires(OWNER)
def show_draft(draft_id: int):
    with database().reading() as session:
        answer = drafts.as_json(drafts.get(session, draft_id))
    response = jsonify(answer)
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.put("/drafts/<int:draft_id>")
@requires(OWNER)
def save_draft(draft_id: int):
    body = _body("bpmn", "dmn", "forms", "comment")
    draft = drafts.save(
        database(),
        draft_id,
        current_username(),
        bpmn=body.get("bpmn"),
        dmn=body.get("dmn"),
        forms=body.get("forms"),
        comment=body.get("comment"),
    )
    return jsonify(drafts.as_json(draft))


@bp.delete("/drafts/<int:draft_id>")
@requires(OWNER)
def delete_draft(draft_id: int):
    drafts.delete(database(), draft_id)
    return "", 204


@bp.post("/drafts/<int:draft_id>/validate")
@requires(OWNER)
def validate_draft(draft_id: int):
    with database().reading() as session:
        draft = drafts.get(session, draft_id)
        bundle, key = drafts.bundle_of(draft), draft.key
    return jsonify(drafts.validate(bundle, key).as_json())


@bp.post("/drafts/<int:draft_id>/deploy")
@requires(OWNER)
def deploy_draft(draft_id: int):
    body = _body("comment")
    comment = body.get("comment")
    if not isinstance(comment, str) or not comment.strip():
        abort(400, "say why in a comment: it is shown in the versions list")
    result = drafts.deploy_draft(database(), draft_id, current_username(), comment)
    answer: dict[str, Any] = {"version": result.version, "created": result.created}
    if not result.created:
        answer["message"] = f"no change: version {result.version} has the same content"
    return jsonify(answer), 201


@bp.post("/versions/<int32:version>/rollback")
@requires(OWNER)
def rollback(version: int):
    """Deploy an older version's content again, as a new version, with a comment."""
    body = _body("comment")
    comment = body.get("comment")
    if not isinstance(comment, str) or not comment.strip():
        abort(400, "say why in a comment: it is shown in the versions list")
    result = drafts.rollback(database(), version, current_username(), comment, PROCESS_KEY)
    answer: dict[str, Any] = {"version": result.version, "created": result.created}
    if not result.created:
        answer["message"] = f"no change: version {result.version} has the same content"
    return jsonify(answer), 201


@bp.get("/operators")
@requires(OWNER)
def list_operators():
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


@bp.get("/diff")
@requires(OWNER)
@query({"from": version_or_draft(required=True), "to": version_or_draft(required=True)})
def diff():
    old, new = args()["from"], args()["to"]
    with database().reading() as session:
        _, old_bundle = drafts.resolve(session, old, PROCESS_KEY)
        _, new_bundle = drafts.resolve(session, new, PROCESS_KEY)
    return jsonify(diff_bundles(old_bundle, new_bundle).as_json())


def _migration_pair() -> tuple[int, int]:
    body = _body("from", "to")
    return _version_number(body.get("from"), "from"), _version_number(body.get("to"), "to")


@bp.post("/migrations/dry-run")
@requires(OWNER)
def dry_run():
    source, target = _migration_pair()
    checks = Migrator(runtime()).dry_run(source, target, PROCESS_KEY)
    return jsonify(instances=[c.as_json() for c in checks])


@bp.post("/migrations")
@requires(OWNER)
def migrate():
    source, target = _migration_pair()
    outcome = Migrator(runtime()).migrate(source, target, current_username(), PROCESS_KEY)
    return jsonify(outcome.as_json())


@bp.route("/<path:rest>", methods=["GET", "POST", "PUT", "PATCH", "DELETE"])
@requires(OWNER)
def unknown(rest: str):
    abort(404, f"no endpoint {request.method} /process/api/{rest[:100]}")


# --- what-if before deploying (engine/audit/what_if.py) --------------------------------


@bp.get("/drafts/<int:draft_id>/what-if")
@requires(OWNER)
@query(last=Whole(1, what_if.MAX_LAST, default=what_if.DEFAULT_LAST))
def what_if_report(draft_id: int):
    """Of the last N finished incidents (`?last=`, default 500), which would take another
    path on this draft, and where: the recorded incidents re-run in memory on it."""
    last = args()["last"]
    report = what_if.run(database(), f"draft:{draft_id}", last=last, key=PROCESS_KEY)
    response = jsonify(report.as_json(limit=what_if.SHOWN_INCIDENTS))
    response.headers["Cache-Control"] = "no-store"
    return response
