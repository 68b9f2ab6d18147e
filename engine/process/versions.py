"""Deployed versions of a process: store one, find the latest, compile a stored one.

A version is a bundle (BPMN, its DMN files, its forms) with a number per process key and
the sha256 of its content. Deploying the same content as the latest version is a no-op;
deploying an older version's content again is a new version (a roll-back). Instances stay
pinned to the version they started on.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session, load_only

from engine import clock
from engine.errors import NotFound
from engine.process.definitions import (
    Bundle,
    ProcessDefinition,
    bundle_from_json,
    bundle_to_json,
    compile_bundle,
)
from engine.process.definitions import cached as cached_definition
from engine.store.db import Database
from engine.store.models import Definition

PROCESS_KEY = "service_desk"


@dataclass(frozen=True)
class Deployed:
    key: str
    version: int
    definition_id: int
    created: bool  # False when the source was identical to the latest version


def deploy(db: Database, bundle: Bundle, deployed_by: str, comment: str = "") -> Deployed:
    """Validate and store a new version; identical source to the latest is a no-op.

    Raises DiagramInvalid (and stores nothing) when the bundle cannot run.
    """
    definition = compile_bundle(bundle)
    sha = bundle.sha256()
    with db.writing() as session:
        latest = session.scalars(
            select(Definition)
            .where(Definition.key == definition.key)
            .order_by(Definition.version.desc())
            .limit(1)
            .with_for_update()
        ).first()
        if latest is not None and latest.sha256 == sha:
            return Deployed(definition.key, latest.version, latest.id, created=False)
        row = Definition(
            key=definition.key,
            version=(latest.version + 1) if latest else 1,
            sha256=sha,
            bpmn_filename=bundle.bpmn.filename,
            bundle=bundle_to_json(bundle),
            deployed_at=clock.now(),
            deployed_by=deployed_by,
            comment=comment,
        )
        session.add(row)
        session.flush()
        return Deployed(row.key, row.version, row.id, created=True)


def latest(session: Session, key: str = PROCESS_KEY) -> Definition:
    """The newest version of process `key`; new incidents start on it. Its id, key and
    version are loaded; the rest (the bundle, over 100 KB) only when asked for."""
    row = session.scalars(
        select(Definition)
        .options(load_only(Definition.id, Definition.key, Definition.version))
        .where(Definition.key == key)
        .order_by(Definition.version.desc())
        .limit(1)
    ).first()
    if row is None:
        raise NotFound(f"no version of process '{key}' is deployed; run `deskflow init`")
    return row


class Compiled:
    """Stored versions, compiled: parsed once per content for the whole process."""

    def __init__(self) -> None:
        self._shas: dict[int, str] = {}  # definition id -> content hash; rows never change

    def get(self, session: Session, definition_id: int) -> ProcessDefinition:
        sha = self._shas.get(definition_id)
        if sha is None:
            sha = session.scalar(select(Definition.sha256).where(Definition.id == definition_id))
            if sha is None:
                raise NotFound(f"no definition {definition_id}")
            self._shas[definition_id] = sha

        def load() -> Bundle:
            row = session.get(Definition, definition_id)
            assert row is not None
            return bundle_from_json(row.bundle)

        return cached_definition(sha, load)
