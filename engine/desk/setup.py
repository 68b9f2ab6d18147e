"""A desk ready to use: what `deskflow init` does, as one engine function.

The schema is created or upgraded (Alembic), the bundled process deployed (no new version
when it is unchanged), and the directory (people and groups from the service catalog),
and the self-help articles written in one transaction. Running it again changes only
what changed.

No account gets a password here: a password everybody knows would open a production desk
(ASVS V6.3.2). An admin sets each with `deskflow user password NAME`; `deskflow demo`
gives the demo accounts the public demo password, for trying Deskflow out.
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
    without_password: int  # accounts that cannot log in until they are given one


def initialize(db: Database) -> Initialized:
    """Create or upgrade the database, deploy the bundled diagrams, seed the directory and
    the knowledge base."""
    upgrade(db)
    deployed = versions.deploy(
        db, definitions.bundled(), deployed_by="deskflow init", comment="bundled diagram"
    )
    with db.writing() as session:
        people = directory.seed(session, catalog())
        articles = knowledge_base.seed(session)
        without = accounts.without_password(session)
    return Initialized(deployed, people, len(catalog().groups), articles, without)
