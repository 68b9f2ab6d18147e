"""Fuzzing the forms: no POST, however hostile, is a server error.

For every route of the app that takes a POST outside the JSON API (the desk's and portal's
forms, the admin's and account pages, the process owners' `/process/api/`; `/api/` is
fuzzed from its OpenAPI document), as each role and as nobody, Hypothesis sends form data
— the field names the pages use, with valid, hostile, huge and missing values — or a JSON
body (objects with the keys the process API reads, wrong types, deep nesting, not JSON at
all), with the session's CSRF token or without it. Every answer must be below 500.

Log-out and the routes that end sessions or change a password are left out: they would
log the test's clients out (their own tests cover them).
"""

from __future__ import annotations

import json
import os
import re
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
from flask import Flask
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from werkzeug.routing import Rule

from engine.store.db import Database
from web import create_app

from .fuzz_site import WHO, any_text, demo_desk, hostile, path_of, path_values

pytestmark = [pytest.mark.fuzz, pytest.mark.xdist_group("fuzz_forms")]

EXAMPLES = 8
TEMPLATES = Path(__file__).parents[2] / "web" / "templates"
# The names of the fields the pages' forms send, read from the templates.
FIELDS = sorted(
    set(re.findall(r'name="([a-z_]+)"', "".join(p.read_text() for p in TEMPLATES.rglob("*.html"))))
    - {"csrf_token"}
)
# The keys the process owners' JSON API reads.
JSON_KEYS = ("bpmn", "dmn", "forms", "comment", "base_version", "from", "to", "message", "data")
LEFT_OUT = {
    "auth.logout",
    "account.end",
    "account.end_others",
    "account.password",
    "admin.end_session",
}
STATUSES: Counter[int] = Counter()


def _routes() -> list[Rule]:
    app = create_app(Database("sqlite://"), {"SECRET_KEY": "routes only"})
    rules = [
        rule
        for rule in app.url_map.iter_rules()
        if "POST" in (rule.methods or ())
        and not rule.rule.startswith("/api/")
        and rule.endpoint not in LEFT_OUT
    ]
    return sorted(rules, key=lambda rule: rule.rule)


ROUTES = _routes()


@dataclass
class Desk:
    app: Flask
    clients: dict[str, Any]
    ids: dict[str, list[str]]


@pytest.fixture(scope="module")
def desk(migrated: Database, screenshots: Path) -> Iterator[Desk]:
    app, clients, ids = demo_desk(migrated)
    yield Desk(app, clients, ids)
    worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
    path = screenshots.parent.parent / "fuzz" / f"forms-{screenshots.name}-{worker}.txt"
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = [f"{sum(STATUSES.values())} POSTs to {len(ROUTES)} form routes"]
    lines += [f"HTTP {status}: {count}" for status, count in sorted(STATUSES.items())]
    path.write_text("\n".join(lines) + "\n")


values = st.one_of(
    hostile,
    any_text,
    st.sampled_from(["1", "0", "true", "high", "medium", "low", "network", "alice", "tina"]),
    st.integers(-(2**70), 2**70).map(str),
    st.text(min_size=5000, max_size=5000),
)
form_data = st.dictionaries(st.sampled_from(FIELDS), st.lists(values, max_size=3), max_size=6)
json_values = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(-(2**70), 2**70), any_text),
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(any_text, inner, max_size=3)
    ),
    max_leaves=8,
)
json_objects = st.dictionaries(st.sampled_from(JSON_KEYS), json_values, max_size=4)
deep = st.integers(100, 5000).map(lambda depth: "[" * depth + "]" * depth)
json_bodies = st.one_of(
    json_objects.map(json.dumps), json_values.map(json.dumps), deep, any_text, st.just("{")
)


def post(desk: Desk, who: str, url: str, body: dict[str, Any], with_token: bool) -> tuple[int, str]:
    client = desk.clients[who]
    token = getattr(client, "token", "") if with_token else ""
    if "json" in body:
        response = client.post(
            url,
            data=body["json"].encode("utf-8", "surrogatepass"),
            headers={"Content-Type": body["type"], "X-CSRF-Token": token},
        )
    else:
        form = [(name, value) for name, many in body["form"].items() for value in many]
        encoded = urlencode([*form, ("csrf_token", token)], errors="surrogatepass")  # bad UTF-8 too
        response = client.post(url, data=encoded, content_type="application/x-www-form-urlencoded")
    try:
        STATUSES[response.status_code] += 1
        return response.status_code, response.get_data(as_text=True)
    finally:
        response.close()


bodies = st.one_of(
    form_data.map(lambda form: {"form": form}),
    st.tuples(json_bodies, st.sampled_from(["application/json", "text/plain", ""])).map(
        lambda pair: {"json": pair[0], "type": pair[1]}
    ),
)


@pytest.mark.parametrize("rule", ROUTES, ids=lambda rule: f"POST {rule.rule}")
def test_no_post_to_a_form_is_a_server_error(desk: Desk, rule: Rule):
    @settings(
        max_examples=int(os.environ.get("DESKFLOW_FUZZ_EXAMPLES", EXAMPLES)),
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(
        who=st.sampled_from(WHO),
        values=path_values(rule, desk.ids),
        body=bodies,
        with_token=st.booleans(),
    )
    def check(who: str, values: dict[str, str], body: dict[str, Any], with_token: bool) -> None:
        url = path_of(rule, values)
        status, text = post(desk, who, url, body, with_token)
        assert status < 500, (
            f"HTTP {status} for {who}: POST {url[:300]} {str(body)[:300]}\n{text[:600]}"
        )

    check()
