"""A desk ready to use: what `deskflow init` does, as one engine function.

The schema is created or upgraded (Alembic), the bundled process deployed (no new version
when it is unchanged), and the directory (people and groups from the service catalog),
the self-help articles and the demo passwords written in one transaction. Running it
again changes only what changed.
"""

from __future__ import annotations

from dataclasses import dataclass

from engine.desk import accounts, directory, knowledge_base
from engine.process import definitions, versions
from engine.store.db import Database
from engine.store.migrate import upgrade
from handlers.catalog import catalog


@dataclass(frozen=True)
class Initialized:
    deployed: versions.Deployed
    people: int  # users in the directory
    groups: int
    articles: int  # self-help articles in the knowledge base
    given_demo_password: list[str]  # accounts that had no password


def initialize(db: Database) -> Initialized:
    """Create or upgrade the database, deploy the bundled diagrams, seed the directory and
    the knowledge base, and give every account without a password the demo password."""
    upgrade(db)
    deployed = versions.deploy(
        db, definitions.bundled(), deployed_by="deskflow init", comment="bundled diagram"
    )
    with db.writing() as session:
        people = directory.seed(session, catalog())
        articles = knowledge_base.seed(session)
        given = accounts.give_demo_passwords(session)
    return Initialized(deployed, people, len(catalog().groups), articles, given)
