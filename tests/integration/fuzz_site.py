"""What the fuzz tests of the pages and forms share: a demo desk with a logged-in client per
role, hostile values, and path parameters filled in from the demo's ids or hostile ones."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import quote

from hypothesis import strategies as st
from sqlalchemy import select
from werkzeug.routing import Rule

from engine.audit import auditors
from engine.audit.append_only import maintenance
from engine.desk import api_tokens, directory, knowledge_base
from engine.desk.demo import run_demo
from engine.instances.runtime import Runtime
from engine.process import definitions, drafts
from engine.store.db import Database
from engine.store.models import Article, Base, HumanTask, Incident
from handlers.catalog import catalog

from .web_client import app_with_accounts, logged_in

DEMO_INCIDENTS = 12
ROLES = {
    "user": "alice",
    "technician": "tina",
    "specialist": "ned",
    "manager": "sam",
    "process_owner": "owen",
    "auditor": "audrey",
    "admin": "admin",
}
WHO = (*ROLES, "nobody")
BIGINT = 2**63 - 1

# Values that broke, or could break, a page: control characters (NUL above all, which
# PostgreSQL refuses in text), digits Python reads but ASCII does not hold, integers
# around 64 bits, very long and odd unicode text, path tricks, markup.
HOSTILE = (
    "\x00",
    "INC\x00",
    "a\x00b",
    "\n",
    "x\r\nSet-Cookie: taken=1",
    "\t",
    "\x1b[31m",
    "\x7f",
    "\x85",
    "\u2028",
    "²",
    "¹²",
    "٣",
    "１２",
    "Ⅻ",
    "-1",
    "0",
    "00",
    "1e3",
    "1.5",
    "0x10",
    " 7 ",
    str(BIGINT),
    str(BIGINT + 1),
    str(2**70),
    "9" * 400,
    "x" * 5000,
    "INC" + "0" * 300,
    "😀",
    "\u202etxt.exe",
    "\ud800",
    "\ufffe",
    "%00",
    "%",
    "..",
    "../../etc/passwd",
    "draft:",
    "draft:²",
    f"draft:{2**70}",
    "9999-12-31",
    "0001-01-01",
    "2026-02-30",
    "2026-01-05T25:00",
    "'; DROP TABLE incidents; --",
    '"><script>alert(1)</script>',
    "NaN",
    "Infinity",
    "true",
    "",
)
hostile = st.sampled_from(HOSTILE)
any_text = st.one_of(hostile, st.text(max_size=40), st.text(min_size=200, max_size=600))


PLACEHOLDER = re.compile(r"<(?:([^:<>()]+)(?:\([^)]*\))?:)?([^<>]+)>")


def demo_desk(db: Database) -> tuple[Any, dict[str, Any], dict[str, list[str]]]:
    """Demo data (the database emptied first), a draft, a verification run, an API token:
    the app, a client per role (logged in) and for nobody, and valid path values by
    argument name."""
    with db.writing() as session, maintenance(session.connection()):
        for table in reversed(Base.metadata.sorted_tables):
            session.execute(table.delete())
        directory.seed(session, catalog())
        knowledge_base.seed(session)
    runtime = Runtime(db)
    runtime.deploy(definitions.bundled(), deployed_by="test")
    run_demo(runtime, DEMO_INCIDENTS, seed=11)
    draft = drafts.create(db, "owen", base_version=1)
    run_id = auditors.start_run(db, "audrey")
    auditors.run(db, run_id)
    token_id, _ = api_tokens.create_token(db, "tina", "fuzzing", "admin")
    with db.reading() as session:
        numbers = list(session.scalars(select(Incident.number).order_by(Incident.id)))
        tasks = list(session.scalars(select(HumanTask.id).order_by(HumanTask.created_at)))
        articles = list(session.scalars(select(Article.id).order_by(Article.id).limit(3)))
    ids = {
        "number": [n for n in numbers if n][:6],
        "task_id": tasks[:6],
        "article_id": articles,
        "run_id": [str(run_id)],
        "draft_id": [str(draft.id)],
        "version": ["1"],
        "token_id": [str(token_id)],
        "filename": ["deskflow.css", "desk.js"],
        "rest": ["nothing/here"],
    }
    app = app_with_accounts(runtime, *ROLES.values())
    clients = {role: logged_in(app, name) for role, name in ROLES.items()}
    clients["nobody"] = app.test_client()
    return app, clients, ids


def path_of(rule: Rule, values: dict[str, str]) -> str:
    """The rule's path with `values` quoted into its placeholders."""

    def filled(match: re.Match) -> str:
        converter, name = match.group(1), match.group(2)
        safe = "/" if converter == "path" else ""
        return quote(values[name], safe=safe, errors="surrogatepass")

    return PLACEHOLDER.sub(filled, rule.rule)


def path_values(rule: Rule, ids: dict[str, list[str]]) -> st.SearchStrategy[dict[str, str]]:
    """Values for the rule's placeholders: the demo's ids half the time, else hostile."""
    fields = {}
    for name in sorted(rule.arguments):
        valid = st.sampled_from(ids.get(name) or ["1"])
        integers = st.integers(-(2**70), 2**70).map(str)
        fields[name] = st.one_of(valid, st.one_of(hostile, any_text, integers))
    return st.fixed_dictionaries(fields)
