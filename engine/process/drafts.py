"""Process owners' drafts, and the versions they start from and end up as.

A draft is a bundle (BPMN, DMN files, forms) that is being edited: saving one checks only
that each part is text (or a JSON object, for a form) within the size limits, so a draft
may be broken. `validate` runs exactly the checks `deskflow deploy` runs
(`compile_bundle`: safe XML, XSD, parse, engine lint, catalog references, no scripts)
plus a JSON-Schema meta-validation of every form; `deploy_draft` deploys only a draft
with no problem, through `versions.deploy` (identical content to the latest version is
"no change"). `rollback` deploys an older version's bundle again, as a new version.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import jsonschema
from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from engine import clock
from engine.errors import DeskflowError, DiagramInvalid, NotFound, Problem
from engine.process import versions
from engine.process.definitions import (
    MAX_SOURCE_BYTES,
    Bundle,
    SourceFile,
    bundle_from_json,
    bundle_to_json,
    compile_bundle,
)
from engine.process.versions import PROCESS_KEY, Deployed
from engine.store.db import Database
from engine.store.models import Definition, Draft, Instance

MAX_FILE_BYTES = MAX_SOURCE_BYTES  # per BPMN / DMN file and per form (2 MB by default)
MAX_FORMS = 100
MAX_DMN_FILES = 20
MAX_COMMENT = 2000
FORM_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_-]{0,99}$")
DMN_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,95}\.dmn$")
BPMN_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,250}\.bpmn$")


class DraftRefused(DiagramInvalid):
    """A draft that cannot be saved as given (too big, too many forms, a bad name, not
    text); `problems` lists every reason. Nothing was saved."""


# --- versions -------------------------------------------------------------------------


@dataclass(frozen=True)
class VersionSummary:
    """One deployed version as the versions list shows it."""

    version: int
    sha256: str
    deployed_by: str
    deployed_at: datetime
    comment: str
    running: int
    completed: int

    def as_json(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "sha256": self.sha256,
            "deployed_by": self.deployed_by,
            "deployed_at": self.deployed_at.isoformat(),
            "comment": self.comment,
            "running": self.running,
            "completed": self.completed,
        }


def list_versions(session: Session, key: str = PROCESS_KEY) -> list[VersionSummary]:
    """Every version of `key`, newest first, with how many instances run / completed on
    it (one grouped query)."""
    running = func.count(case((Instance.status == "running", Instance.id)))
    completed = func.count(case((Instance.status == "completed", Instance.id)))
    rows = session.execute(
        select(
            Definition.version,
            Definition.sha256,
            Definition.deployed_by,
            Definition.deployed_at,
            Definition.comment,
            running,
            completed,
        )
        .outerjoin(Instance, Instance.definition_id == Definition.id)
        .where(Definition.key == key)
        .group_by(Definition.id)
        .order_by(Definition.version.desc())
    ).all()
    return [VersionSummary(*row) for row in rows]


def version_row(session: Session, version: int, key: str = PROCESS_KEY) -> Definition:
    row = session.scalars(
        select(Definition).where(Definition.key == key, Definition.version == version)
    ).first()
    if row is None:
        raise NotFound(f"there is no version {version} of process '{key}'")
    return row


def version_bundle(session: Session, version: int, key: str = PROCESS_KEY) -> Bundle:
    return bundle_from_json(version_row(session, version, key).bundle)


def resolve(session: Session, ref: str | int, key: str = PROCESS_KEY) -> tuple[str, Bundle]:
    """A version number ("3") or a draft ("draft:7") -> (a label for people, its bundle)."""
    text = str(ref).strip().lower()
    if text.startswith("draft:") and text[6:].isdigit():
        draft = get(session, int(text[6:]))
        if draft.key != key:
            raise DeskflowError(f"draft {draft.id} is for process '{draft.key}', not '{key}'")
        return f"draft {draft.id}", bundle_of(draft)
    if text.isdigit():
        return f"version {int(text)}", version_bundle(session, int(text), key)
    raise DeskflowError(f"'{str(ref)[:40]}' is neither a version number nor draft:ID")


def bundle_json(bundle: Bundle) -> dict[str, Any]:
    """A bundle as the modeler reads it: the BPMN text, DMN texts by file name, forms."""
    return {
        "bpmn": bundle.bpmn.text,
        "bpmn_filename": bundle.bpmn.filename,
        "dmn": {d.filename: d.text for d in bundle.dmns},
        "forms": bundle.forms,
    }


# --- drafts ---------------------------------------------------------------------------


def create(
    db: Database,
    created_by: str,
    *,
    base_version: int | None = None,
    bundle: Bundle | None = None,
    key: str = PROCESS_KEY,
    comment: str = "",
) -> Draft:
    """A new draft: a copy of version `base_version`, or the sources in `bundle`."""
    if (base_version is None) == (bundle is None):
        raise DeskflowError("start a draft from a deployed version or from sources (one of them)")
    if bundle is not None:
        _check_bundle(bundle)
    with db.writing() as session:
        if base_version is not None:
            row = version_row(session, base_version, key)
            text, key = row.bundle, row.key
        else:
            assert bundle is not None
            text = bundle_to_json(bundle)
        draft = Draft(
            key=key,
            base_version=base_version,
            bundle=text,
            created_by=created_by,
            updated_by=created_by,
            updated_at=clock.now(),
            comment=_comment(comment),
        )
        session.add(draft)
        session.flush()
        return draft


def get(session: Session, draft_id: int) -> Draft:
    draft = session.get(Draft, draft_id)
    if draft is None:
        raise NotFound(f"there is no draft {draft_id}")
    return draft


def list_drafts(session: Session, key: str | None = None) -> list[Draft]:
    """The drafts, most recently changed first."""
    query = select(Draft).order_by(Draft.updated_at.desc(), Draft.id.desc())
    if key is not None:
        query = query.where(Draft.key == key)
    return list(session.scalars(query))


def delete(db: Database, draft_id: int) -> None:
    with db.writing() as session:
        session.delete(get(session, draft_id))


def save(
    db: Database,
    draft_id: int,
    updated_by: str,
    *,
    bpmn: Any = None,
    dmn: Any = None,
    forms: Any = None,
    comment: Any = None,
) -> Draft:
    """Replace the BPMN text, the DMN files (filename -> text) and/or the forms
    (name -> JSON Schema) of a draft. Checks shapes and sizes only: a draft may be broken.
    """
    with db.writing() as session:
        draft = get(session, draft_id)
        _replace(draft, updated_by, bpmn=bpmn, dmn=dmn, forms=forms, comment=comment)
        return draft


def _replace(
    draft: Draft, updated_by: str, *, bpmn: Any, dmn: Any, forms: Any, comment: Any
) -> None:
    current = bundle_of(draft)
    problems: list[Problem] = []
    new_bpmn = current.bpmn
    if bpmn is not None:
        if isinstance(bpmn, str):
            new_bpmn = SourceFile(current.bpmn.filename, bpmn)
        else:
            problems.append(Problem(current.bpmn.filename, "the BPMN must be text (XML)"))
    new_dmns = current.dmns
    if dmn is not None:
        if isinstance(dmn, dict) and all(isinstance(t, str) for t in dmn.values()):
            new_dmns = tuple(SourceFile(str(name), dmn[name]) for name in sorted(dmn))
        else:
            problems.append(Problem("dmn", "the DMN files must be an object: file name -> XML"))
    new_forms = current.forms
    if forms is not None:
        if isinstance(forms, dict):
            new_forms = dict(forms)
        else:
            problems.append(Problem("forms", "the forms must be an object: name -> JSON Schema"))
    if comment is not None and not isinstance(comment, str):
        problems.append(Problem("comment", "the comment must be text"))
    if problems:
        raise DraftRefused(problems)
    updated = Bundle(new_bpmn, new_dmns, new_forms)
    _check_bundle(updated)
    draft.bundle = bundle_to_json(updated)
    if comment is not None:
        draft.comment = _comment(comment)
    draft.updated_by = updated_by
    draft.updated_at = clock.now()


def bundle_of(draft: Draft) -> Bundle:
    return bundle_from_json(draft.bundle)


def as_json(draft: Draft) -> dict[str, Any]:
    """The draft as the modeler reads it."""
    return {
        "id": draft.id,
        "key": draft.key,
        "base_version": draft.base_version,
        **bundle_json(bundle_of(draft)),
        "comment": draft.comment,
        "created_by": draft.created_by,
        "updated_by": draft.updated_by,
        "updated_at": draft.updated_at.isoformat(),
    }


def _comment(comment: str) -> str:
    comment = comment.strip()
    if len(comment) > MAX_COMMENT:
        raise DraftRefused(
            [Problem("comment", f"the comment is {len(comment)} characters; the limit is 2000")]
        )
    return comment


def _check_bundle(bundle: Bundle) -> None:
    """Sizes, counts and names; raises DraftRefused listing every problem."""
    problems: list[Problem] = []

    def check_text(filename: str, text: str) -> None:
        try:
            size = len(text.encode("utf-8"))
        except UnicodeEncodeError as err:
            problems.append(Problem(filename, f"not UTF-8 text (character {err.start})"))
            return
        if size > MAX_FILE_BYTES:
            problems.append(
                Problem(filename, f"file is {size:,} bytes; the limit is {MAX_FILE_BYTES:,}")
            )

    if not isinstance(bundle.bpmn.text, str):
        problems.append(Problem(bundle.bpmn.filename, "the BPMN must be text (XML)"))
    else:
        check_text(bundle.bpmn.filename, bundle.bpmn.text)
    if not BPMN_NAME.match(bundle.bpmn.filename):
        problems.append(Problem(bundle.bpmn.filename, "the BPMN file name must end in .bpmn"))
    if len(bundle.dmns) > MAX_DMN_FILES:
        problems.append(
            Problem("dmn", f"{len(bundle.dmns)} DMN files; the limit is {MAX_DMN_FILES}")
        )
    for source in bundle.dmns:
        if not DMN_NAME.match(source.filename):
            problems.append(
                Problem(
                    source.filename[:120],
                    "a DMN file name is letters, digits, '_', '-', '.' and ends in .dmn",
                )
            )
        check_text(source.filename[:120], source.text)
    if len(bundle.forms) > MAX_FORMS:
        problems.append(Problem("forms", f"{len(bundle.forms)} forms; the limit is {MAX_FORMS}"))
    for name, schema in bundle.forms.items():
        label = f"forms/{str(name)[:100]}.json"
        if not isinstance(name, str) or not FORM_NAME.match(name):
            problems.append(
                Problem(label, "a form name is letters, digits, '_' and '-' (up to 100)")
            )
        if not isinstance(schema, dict):
            problems.append(Problem(label, "a form must be a JSON object (a JSON Schema)"))
            continue
        try:
            check_text(label, json.dumps(schema, ensure_ascii=False))
        except (TypeError, ValueError, RecursionError):
            problems.append(Problem(label, "the form cannot be written as JSON"))
    if problems:
        raise DraftRefused(problems)


# --- validating and deploying ---------------------------------------------------------


@dataclass
class Validation:
    """What `deskflow deploy` would say about a bundle. Lint draws no line between
    errors and warnings: every problem it finds is an error (`warnings` stays empty)."""

    errors: list[Problem] = field(default_factory=list)
    warnings: list[Problem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors

    def as_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "errors": [problem_json(p) for p in self.errors],
            "warnings": [problem_json(p) for p in self.warnings],
        }


def problem_json(problem: Problem) -> dict[str, Any]:
    return {
        "file": problem.file,
        "line": problem.line,
        "element": problem.element,
        "message": problem.message,
    }


def form_problems(name: str, schema: Any) -> list[Problem]:
    """A form must be a JSON object that is a valid JSON Schema (draft 2020-12)."""
    label = f"forms/{name}.json"
    if not isinstance(schema, dict):
        return [Problem(label, "a form must be a JSON object (a JSON Schema)")]
    try:
        jsonschema.Draft202012Validator.check_schema(schema)
    except jsonschema.SchemaError as err:
        where = "/".join(str(p) for p in err.absolute_path)
        at = f" (at {where})" if where else ""
        return [Problem(label, f"not a valid JSON Schema: {err.message}{at}")]
    except RecursionError:
        return [Problem(label, "not a valid JSON Schema: nested too deeply")]
    return []


def validate(bundle: Bundle, key: str | None = None) -> Validation:
    """Every problem that would stop `deskflow deploy`, and the forms' meta-validation.

    `key`: the process the bundle must define (a draft's key)."""
    errors: list[Problem] = []
    try:
        _check_bundle(bundle)
    except DraftRefused as refused:
        return Validation(errors=list(refused.problems))
    forms_ok: dict[str, dict] = {}
    for name, schema in bundle.forms.items():
        found = form_problems(name, schema)
        errors += found
        if not found:
            forms_ok[name] = schema
    try:
        definition = compile_bundle(Bundle(bundle.bpmn, bundle.dmns, forms_ok))
    except DiagramInvalid as invalid:
        errors += invalid.problems
    except RecursionError:
        errors.append(Problem(bundle.bpmn.filename, "the diagram is nested too deeply to check"))
    except Exception as err:  # a check that met input it did not expect: still a refusal
        errors.append(
            Problem(bundle.bpmn.filename, f"cannot be checked: {type(err).__name__}: {err}")
        )
    else:
        if key is not None and definition.key != key:
            errors.append(
                Problem(
                    bundle.bpmn.filename,
                    f"the executable process is '{definition.key}', but this is process "
                    f"'{key}'; keep the process id",
                    element=definition.key,
                )
            )
    return Validation(errors=_unique(errors))


def _unique(problems: list[Problem]) -> list[Problem]:
    return list(dict.fromkeys(problems))


def deploy_draft(db: Database, draft_id: int, deployed_by: str, comment: str) -> Deployed:
    """Deploy a draft that validates; raises DiagramInvalid (storing nothing) otherwise."""
    comment = _required_comment(comment)
    with db.reading() as session:
        draft = get(session, draft_id)
        bundle, key = bundle_of(draft), draft.key
    result = validate(bundle, key)
    if not result.ok:
        raise DiagramInvalid(result.errors)
    return versions.deploy(db, bundle, deployed_by, comment)


def rollback(
    db: Database, version: int, deployed_by: str, comment: str, key: str = PROCESS_KEY
) -> Deployed:
    """Deploy version `version`'s content again, as a new version (unless it is the
    latest content already: then `created` is False)."""
    with db.reading() as session:
        bundle = version_bundle(session, version, key)
    why = _required_comment(comment)
    return versions.deploy(db, bundle, deployed_by, f"roll back to version {version}: {why}")


def _required_comment(comment: str) -> str:
    comment = _comment(comment or "")
    if not comment:
        raise DeskflowError("say why in a comment: it is shown in the versions list")
    return comment
