"""Fuzzing the pages: no GET request, however hostile, is a server error.

For every GET route of the app (walking `app.url_map`: the HTML pages, and the JSON API's
GET routes as pages see them), logged in as each role and as nobody, Hypothesis makes
path parameters — ids from demo data, and hostile ones: control characters, NUL, numbers
beyond 64 bits, superscript digits, very long strings, unicode — and query parameters from
the route's declaration (`web.params.declared`: in range, on and past the bounds, hostile)
plus unknown ones. Every answer must be below 500, its body read to the end (a streamed
export must not break off).

`DESKFLOW_FUZZ_EXAMPLES` examples per route (default `EXAMPLES`); `make fuzz` runs more.
A sweep without Hypothesis first asks every route as every role with the demo's ids.
Fuzzing the JSON API from its OpenAPI document (bodies, methods, tokens) is another
test's work, under the same marker `fuzz`.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

import pytest
from flask import Flask
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from werkzeug.routing import Rule

from engine.store.db import Database
from web import create_app, params

from .fuzz_site import WHO, any_text, demo_desk, hostile, path_of, path_values

pytestmark = [pytest.mark.fuzz, pytest.mark.xdist_group("fuzz_pages")]

EXAMPLES = 6


def examples() -> int:
    return int(os.environ.get("DESKFLOW_FUZZ_EXAMPLES", EXAMPLES))


# --- the routes -------------------------------------------------------------------------


def _routes() -> list[Rule]:
    """Every GET route, read from an app that never touches its database."""
    app = create_app(Database("sqlite://"), {"SECRET_KEY": "routes only"})
    rules = [rule for rule in app.url_map.iter_rules() if "GET" in (rule.methods or ())]
    return sorted(rules, key=lambda rule: rule.rule)


ROUTES = _routes()
STATUSES: Counter[int] = Counter()  # every answer's status, counted in this process


@dataclass
class Site:
    app: Flask
    clients: dict[str, Any]
    ids: dict[str, list[str]]  # valid path values by argument name
    # The sweep: each route asked with the demo's ids as each role (and nobody)...
    swept: list[tuple[int, str, str, str]]  # (status, who, url, the start of the body)
    welcome: dict[str, list[str]]  # ...and by endpoint, who got an answer below 400


@pytest.fixture(scope="module")
def site(migrated: Database, screenshots: Path) -> Iterator[Site]:
    """Demo data (emptied once for the module), a draft, a verification run, an API
    token, and a client per role, logged in."""
    app, clients, ids = demo_desk(migrated)
    site = Site(app, clients, ids, [], {})
    sweep(site)
    yield site
    worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
    tally(screenshots.parent.parent / "fuzz" / f"pages-{screenshots.name}-{worker}.txt")


def tally(path: Path) -> None:
    """How many requests this process sent, by status, in test-output/fuzz/ (kept by CI;
    one file per xdist worker, the module's tests may be spread over them)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = [f"{sum(STATUSES.values())} requests to {len(ROUTES)} GET routes"]
    lines += [f"HTTP {status}: {count}" for status, count in sorted(STATUSES.items())]
    path.write_text("\n".join(lines) + "\n")


def sweep(site: Site) -> None:
    """Every route as every role with the demo's ids (no query): what the Hypothesis
    tests start from — who is welcome where, so that most examples reach the view."""
    for rule in ROUTES:
        welcome = set()
        for values in _id_combinations(rule, site.ids):
            url = path_of(rule, values)
            for who in WHO:
                status, body = ask(site, who, url)
                site.swept.append((status, who, url, body[:600]))
                if status < 400:
                    welcome.add(who)
        site.welcome[rule.endpoint] = sorted(welcome) or list(WHO)


def ask(site: Site, who: str, url: str) -> tuple[int, str]:
    """GET `url` as `who`: the status, and the body read to its end."""
    response = site.clients[who].get(url)
    try:
        STATUSES[response.status_code] += 1
        return response.status_code, response.get_data(as_text=True)
    finally:
        response.close()


def no_server_error(status: int, body: str, who: str, url: str) -> None:
    assert status < 500, f"HTTP {status} for {who}: GET {url[:300]}\n{body[:600]}"


# --- what to ask ------------------------------------------------------------------------


def fitting(schema: dict[str, Any]) -> st.SearchStrategy[str]:
    """Text for one query value that fits `schema` (`web.params.Param.schema`)."""
    kind = schema.get("type")
    if "enum" in schema:
        return st.sampled_from([str(v) for v in schema["enum"]])
    if kind == "integer":
        low, high = schema["minimum"], schema["maximum"]
        return st.one_of(st.integers(low, high), st.sampled_from([low, high])).map(str)
    if schema.get("format") in ("date", "date-time"):
        days = st.dates(date(1970, 1, 1), date(9998, 12, 31))
        moments = st.datetimes(datetime(1970, 1, 2), datetime(9998, 12, 30))
        return st.one_of(days.map(str), moments.map(lambda moment: moment.isoformat()))
    if "pattern" in schema:
        return st.from_regex(schema["pattern"].replace("(?i:draft:)", "(?:draft:)"))
    longest = schema.get("maxLength", 200)
    return st.one_of(st.text(max_size=20), st.text(min_size=longest, max_size=longest))


def beyond(schema: dict[str, Any]) -> st.SearchStrategy[str]:
    """Text for one query value just past `schema`'s bounds, or hostile."""
    edges = ["9999-12-31", "0001-01-01", "1969-12-31T23:59:59", "2026-01-05T09:00:00+25:00"]
    if schema.get("type") == "integer":
        low, high = schema["minimum"], schema["maximum"]
        edges = [str(n) for n in (low - 1, high + 1, 2**70, -(2**70))]
    elif "maxLength" in schema:
        edges = ["x" * (schema["maxLength"] + 1)]
    return st.one_of(st.sampled_from(edges), hostile, any_text)


def query_pairs(
    declared: dict[str, params.Param], clean: bool
) -> st.SearchStrategy[list[tuple[str, str]]]:
    """A query string as (name, value) pairs: some of the declared parameters (repeated
    ones up to three times) with values that fit or, unless `clean`, that do not; and,
    unless `clean`, unknown parameters."""
    parts = []
    for name, param in sorted(declared.items()):
        schema = param.schema()
        one = fitting(schema.get("items", schema))
        if not clean:
            one = st.one_of(one, beyond(schema.get("items", schema)))
        values = st.lists(one, max_size=3 if param.many else 1)
        parts.append(values.map(lambda vs, n=name: [(n, v) for v in vs]))
    unknown = st.lists(st.tuples(any_text, any_text), max_size=0 if clean else 2)
    return st.tuples(*parts, unknown).map(lambda lists: [pair for part in lists for pair in part])


def url_of(path: str, pairs: list[tuple[str, str]]) -> str:
    if not pairs:
        return path
    return f"{path}?{urlencode(pairs, quote_via=quote, errors='surrogatepass')}"


# --- the tests ---------------------------------------------------------------------------


def test_every_route_answers_every_role_without_a_server_error(site: Site):
    """The sweep (`sweep`): each route, as each role and as nobody, with the demo's ids."""
    for status, who, url, body in site.swept:
        no_server_error(status, body, who, url)
    assert len(site.swept) >= len(ROUTES) * len(WHO)
    assert sum(status == 200 for status, *_ in site.swept) > len(ROUTES)  # views were reached


def _id_combinations(rule: Rule, ids: dict[str, list[str]]) -> list[dict[str, str]]:
    names = sorted(rule.arguments)
    if not names:
        return [{}]
    width = max(len(ids.get(name) or ["1"]) for name in names)
    return [
        {name: (ids.get(name) or ["1"])[i % len(ids.get(name) or ["1"])] for name in names}
        for i in range(width)
    ]


@pytest.mark.parametrize("rule", ROUTES, ids=lambda rule: f"GET {rule.rule}")
def test_no_request_to_a_route_is_a_server_error(site: Site, rule: Rule):
    declared = params.declared(site.app).get(rule.endpoint, {})

    @settings(
        max_examples=examples(),
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(
        who=st.one_of(st.sampled_from(site.welcome[rule.endpoint]), st.sampled_from(WHO)),
        values=path_values(rule, site.ids),
        pairs=st.one_of(query_pairs(declared, clean=True), query_pairs(declared, clean=False)),
    )
    def check(who: str, values: dict[str, str], pairs: list[tuple[str, str]]) -> None:
        url = url_of(path_of(rule, values), pairs)
        no_server_error(*ask(site, who, url), who, url)

    check()
