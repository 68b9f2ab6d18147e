"""Requests generated from an OpenAPI 3.1 document, for fuzzing the API that publishes it.

`operations(document)` lists what the document promises; `requests(operation, document,
pools)` is a Hypothesis strategy of `ApiRequest`s for one operation: parameters and bodies
that fit the schemas (drawn partly from real data in `pools`, so requests get past 404),
boundary values (0, -1, the limits ± 1, 2**63, 2**70, empty and too long strings) and
hostile ones (control characters, superscript digits, long and unusual text, wrong JSON
types, missing and extra fields, wrong content types, bodies that are not JSON, deep
nesting).

`hypothesis-jsonschema` is not used: it does not work with the Hypothesis this project
pins. The schemas here are small, and `values` covers the keywords they use.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from hypothesis import strategies as st

HTTP_METHODS = ("get", "post", "put", "patch", "delete")
TEXT_CAP = 60  # valid strings longer than this are drawn at the boundary only
DEEP = 5000  # levels of [[[...]]] in the deeply nested body

# Text no parameter or field should choke on.
HOSTILE_TEXT = (
    "\x00",
    "INC\x000000001",
    "a\x00b",
    "\x01\x02\x07\x1b[31m",
    "\r\nSet-Cookie: x=1",
    "\t",
    "\x7f",
    "²",
    "¹²³",
    "٣",  # an Arabic-Indic digit: int() takes it, a database may not
    "𝟙𝟚",
    "Ⅻ",
    "½",
    "-0",
    "+1",
    " 1 ",
    "1e3",
    "0x10",
    "1_000",
    "NaN",
    "Infinity",
    "null",
    "true",
    "[]",
    "{}",
    "%00",
    "%",
    "../../etc/passwd",
    "' OR 1=1 --",
    "<script>alert(1)</script>",
    "{{7*7}}",
    "${7*7}",
    "\u202eevil",
    "\ufeff",
    "zero\u200bwidth",
    "é" * 3,
    "🔥" * 5,
    "x" * 5_000,
    "9" * 400,
)
HUGE_NUMBERS = (2**31, 2**31 - 1, 2**53 + 1, 2**63 - 1, 2**63, 2**64, 2**70, -(2**63) - 1)


@dataclass(frozen=True)
class Operation:
    """One method on one path of the document."""

    method: str
    path: str
    spec: Mapping[str, Any] = field(repr=False)

    @property
    def id(self) -> str:
        return str(self.spec.get("operationId") or f"{self.method} {self.path}")

    @property
    def writes(self) -> bool:
        return self.method != "get"


@dataclass
class ApiRequest:
    """What to send: method, path (parameters filled in and quoted), query, headers, body."""

    method: str
    path: str
    query: list[tuple[str, str]] = field(default_factory=list)
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes | None = None

    def describe(self, limit: int = 300) -> str:
        """One line for a report: the request, long values cut."""
        query = "&".join(f"{name}={_cut(value, 40)!r}" for name, value in self.query)
        line = f"{self.method.upper()} {_cut(self.path, 120)}" + (f"?{query}" if query else "")
        if self.body is not None:
            kind = self.headers.get("Content-Type", "-")
            line += f" [{kind}] {_cut(self.body.decode('utf-8', 'replace'), limit)!r}"
        return line


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else f"{text[:limit]}…({len(text)} chars)"


def operations(document: Mapping[str, Any]) -> list[Operation]:
    """Every operation of the document, in its order."""
    return [
        Operation(method, path, spec)
        for path, item in document["paths"].items()
        for method, spec in item.items()
        if method in HTTP_METHODS
    ]


def resolve(document: Mapping[str, Any], node: Any) -> Any:
    """`node` with its `$ref` (a local JSON pointer) followed, repeatedly."""
    while isinstance(node, Mapping) and "$ref" in node:
        target: Any = document
        for part in node["$ref"].removeprefix("#/").split("/"):
            target = target[part.replace("~1", "/").replace("~0", "~")]
        node = target
    return node


# --- values from a schema ---------------------------------------------------------------


def _text(low: int = 0, high: int | None = None) -> st.SearchStrategy[str]:
    alphabet = st.characters(exclude_categories=("Cs",))  # no lone surrogates: not encodable
    return st.text(alphabet, min_size=low, max_size=min(high or TEXT_CAP, TEXT_CAP))


def values(schema: Any, document: Mapping[str, Any], pools: Mapping[str, list]) -> Any:
    """A strategy of values that fit `schema` (the keywords the document uses), its
    examples among them; an object's fields take the real values `pools` has by name too."""
    schema = resolve(document, schema)
    if not isinstance(schema, Mapping) or not schema:
        return json_values()
    if "const" in schema:
        return st.just(schema["const"])
    if "enum" in schema:
        return st.sampled_from(schema["enum"])
    if "allOf" in schema and "properties" not in schema:
        return values(schema["allOf"][0], document, pools)
    kinds = schema.get("type", "object" if "properties" in schema else None)
    if kinds is None:
        return json_values()
    if isinstance(kinds, list):
        return st.one_of([values({**schema, "type": kind}, document, pools) for kind in kinds])
    extra = [st.sampled_from(schema["examples"])] if schema.get("examples") else []
    if kinds == "string":
        low, high = schema.get("minLength", 0), schema.get("maxLength")
        text = _text(low, high)
        if low:
            text = text.filter(lambda value: value.strip() != "")
        return st.one_of(text, *extra)
    if kinds == "integer":
        return st.integers(schema.get("minimum"), schema.get("maximum"))
    if kinds == "number":
        return st.floats(schema.get("minimum"), schema.get("maximum"), allow_nan=False)
    if kinds == "boolean":
        return st.booleans()
    if kinds == "null":
        return st.none()
    if kinds == "array":
        return st.lists(values(schema.get("items", {}), document, pools), max_size=4)
    return _objects(schema, document, pools)


def _objects(schema: Mapping[str, Any], document: Mapping[str, Any], pools: Mapping) -> Any:
    properties = schema.get("properties", {})
    required = set(schema.get("required", ()))
    fields = {name: _field(name, sub, document, pools) for name, sub in properties.items()}
    fixed = {name: value for name, value in fields.items() if name in required}
    optional = {name: value for name, value in fields.items() if name not in required}
    return st.fixed_dictionaries(fixed, optional=optional)


def _field(name: str, schema: Any, document: Mapping[str, Any], pools: Mapping) -> Any:
    """A field's values; the real ones of `pools[name]` too."""
    fitting = values(schema, document, pools)
    return st.one_of(st.sampled_from(pools[name]), fitting) if pools.get(name) else fitting


def boundary_integers(schema: Mapping[str, Any]) -> list[int]:
    """The limits and one past them, 0, -1 and numbers too big for 64 bits."""
    edges = {0, -1, 1, *HUGE_NUMBERS}
    for key in ("minimum", "maximum"):
        if key in schema:
            edges |= {schema[key] - 1, schema[key], schema[key] + 1}
    return sorted(edges)


def boundary_strings(schema: Mapping[str, Any]) -> list[str]:
    """Empty, blank, one short of the minimum, the maximum and one past it."""
    edges = ["", " ", "\n"]
    if low := schema.get("minLength"):
        edges.append("x" * (low - 1))
    if high := schema.get("maxLength"):
        edges += ["y" * high, "z" * (high + 1)]
    return edges


def hostile_text() -> st.SearchStrategy[str]:
    return st.one_of(st.sampled_from(HOSTILE_TEXT), _text(1, 30).map(lambda t: t + "\x00"))


def json_values(depth: int = 2) -> st.SearchStrategy[Any]:
    """Any JSON value: for a field, the wrong type most of the time."""
    scalars = st.one_of(
        st.none(),
        st.booleans(),
        st.sampled_from(HUGE_NUMBERS),
        st.integers(-10, 10),
        st.floats(allow_nan=False, allow_infinity=False),
        hostile_text(),
        _text(0, 20),
    )
    if depth <= 0:
        return scalars
    inner = json_values(depth - 1)
    return st.one_of(
        scalars,
        st.lists(inner, max_size=3),
        st.dictionaries(_text(0, 10), inner, max_size=3),
    )


def parameter_values(
    schema: Any, document: Mapping[str, Any], pools: Mapping[str, list], name: str
) -> st.SearchStrategy[str]:
    """What a path or query parameter may be sent as: text that fits, a real value, a
    boundary value or a hostile one."""
    schema = resolve(document, schema) or {}
    fitting = values(schema, document, pools).map(_as_text)
    choices = [
        fitting,
        st.sampled_from(boundary_integers(schema)).map(str),
        st.sampled_from(boundary_strings(schema)),
    ]
    choices.append(hostile_text())
    if pools.get(name):
        choices.insert(0, st.sampled_from(pools[name]))
    return st.one_of(choices)


def _as_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return value if isinstance(value, str) else json.dumps(value)


# --- bodies -----------------------------------------------------------------------------


JSON = "application/json"
RAW_BODIES = (
    b"",
    b"null",
    b"[]",
    b"42",
    b'"text"',
    b"{",
    b'{"a": }',
    b"{'single': 'quotes'}",
    b'{"a": NaN}',
    b'{"a": Infinity}',
    b'{"a": 1, "a": 2}',
    b"\xff\xfe\x00garbage",
    b'{"short_description": "caf\xe9"}',  # Latin-1, not UTF-8
    b"\x00" * 16,
    b"[" * DEEP + b"]" * DEEP,
    b'{"a":' * DEEP + b"1" + b"}" * DEEP,
    b"9" * 5000,
    b'"' + b"x" * (1024 * 1024) + b'"',  # just over 1 MiB
)
CONTENT_TYPES = (
    "text/plain",
    "application/x-www-form-urlencoded",
    "multipart/form-data; boundary=x",
    "application/xml",
    "application/json; charset=latin-1",
    "application/jsonx",
    "",
)


@st.composite
def _broken_object(draw: Any, fitting: Any, schema: Mapping[str, Any]) -> dict:
    """A body that fits but for one thing: a field missing, one extra, or of a wrong type."""
    body = dict(draw(fitting))
    names = sorted(schema.get("properties", {}))
    how = draw(st.sampled_from(("missing", "extra", "wrong type")))
    if how == "missing" and body:
        body.pop(draw(st.sampled_from(sorted(body))))
    elif how == "wrong type" and names:
        body[draw(st.sampled_from(names))] = draw(json_values())
    else:
        body[draw(_text(0, 12))] = draw(json_values(1))
    return body


def bodies(
    schema: Any, document: Mapping[str, Any], pools: Mapping[str, list]
) -> st.SearchStrategy[tuple[str | None, bytes | None]]:
    """(Content-Type, body) pairs for an operation whose body has `schema`: fitting ones,
    broken ones, hostile JSON, and bodies that are not JSON or not labelled so."""
    resolved = resolve(document, schema) or {}
    fitting = values(resolved, document, pools)
    as_json = st.one_of(
        fitting,
        fitting,
        _broken_object(fitting, resolved),
        json_values(),
        st.dictionaries(_text(0, 12), json_values(), max_size=4),
    ).map(lambda body: json.dumps(body).encode())
    labelled = st.tuples(st.just(JSON), st.one_of(as_json, as_json, st.sampled_from(RAW_BODIES)))
    mislabelled = st.tuples(
        st.sampled_from(CONTENT_TYPES), st.one_of(as_json, st.sampled_from(RAW_BODIES))
    )
    missing = st.just((None, None))
    return st.one_of(labelled, labelled, labelled, mislabelled, missing)


# --- whole requests ---------------------------------------------------------------------


def header_safe(value: str) -> bool:
    """Whether an HTTP client can send `value` as a header at all (Latin-1, no line
    break): what it cannot send, no server receives."""
    return "\r" not in value and "\n" not in value and value.isprintable() and value.isascii()


@st.composite
def requests(
    draw: Any, operation: Operation, document: Mapping[str, Any], pools: Mapping[str, list]
) -> ApiRequest:
    """A request for `operation`, credentials left to the caller."""
    path, query, headers = operation.path, [], {}
    for parameter in map(lambda p: resolve(document, p), operation.spec.get("parameters", ())):
        name, where = parameter["name"], parameter["in"]
        value = parameter_values(parameter.get("schema"), document, pools, name)
        if where == "path":  # not empty, no "/": that would be another URL, not this one
            segment = draw(value.filter(lambda text: text and "/" not in text))
            path = path.replace("{" + name + "}", quote(segment, safe=""))
        elif where == "header":
            if draw(st.booleans()) and header_safe(sent := draw(value)):
                headers[name] = sent
        elif where == "query" and (parameter.get("required") or draw(st.booleans())):
            query.append((name, draw(value)))
            if draw(st.integers(0, 9)) == 0:  # the same parameter twice
                query.append((name, draw(value)))
    if draw(st.integers(0, 9)) == 0:
        query.append((draw(_text(1, 10)), draw(hostile_text())))  # one the API does not know
    request = ApiRequest(operation.method, path, query, headers=headers)
    body_spec = resolve(document, operation.spec.get("requestBody"))
    if body_spec:
        schema = body_spec["content"][JSON]["schema"]
        kind, request.body = draw(bodies(schema, document, pools))
    elif operation.writes and draw(st.integers(0, 4)) == 0:  # a body where none is asked for
        kind, request.body = draw(st.sampled_from(((JSON, b"{}"), (JSON, b"[" * DEEP))))
    else:
        kind = None
    if kind is not None:
        request.headers["Content-Type"] = kind
    return request


# --- the same hostile values every run --------------------------------------------------


def hostile_requests(
    operation: Operation, document: Mapping[str, Any], pools: Mapping[str, list]
) -> list[ApiRequest]:
    """Each boundary and hostile value in each parameter (the others real or left out),
    and each broken body: what random drawing may miss in a short run."""
    parameters = [resolve(document, p) for p in operation.spec.get("parameters", ())]
    real = {p["name"]: (pools.get(p["name"]) or ["1"])[0] for p in parameters}
    body_spec = resolve(document, operation.spec.get("requestBody"))
    fitting = (JSON, b"{}") if body_spec else (None, None)
    found = []
    for parameter in parameters:
        name, schema = parameter["name"], resolve(document, parameter.get("schema")) or {}
        edges = [*map(str, boundary_integers(schema)), *boundary_strings(schema), *HOSTILE_TEXT]
        for edge in edges:
            if parameter["in"] == "path" and (not edge or "/" in edge):
                continue
            found.append(_request(operation, parameters, real, {name: edge}, fitting))
    if body_spec:
        found += [_request(operation, parameters, real, {}, (JSON, raw)) for raw in RAW_BODIES]
        found += [
            _request(operation, parameters, real, {}, (kind, b"{}")) for kind in CONTENT_TYPES
        ]
    return found


def _request(
    operation: Operation,
    parameters: list[Mapping[str, Any]],
    real: Mapping[str, str],
    varied: Mapping[str, str],
    body: tuple[str | None, bytes | None],
) -> ApiRequest:
    """The request with the `varied` parameters, the other path parameters `real`, the
    other query parameters left out."""
    path, query, headers = operation.path, [], {}
    for parameter in parameters:
        name = parameter["name"]
        value = varied.get(name, real[name])
        if parameter["in"] == "path":
            path = path.replace("{" + name + "}", quote(value, safe=""))
        elif parameter["in"] == "header":
            if name in varied and header_safe(value):
                headers[name] = value
        elif name in varied or parameter.get("required"):
            query.append((name, value))
    request = ApiRequest(operation.method, path, query, headers=headers, body=body[1])
    if body[0] is not None:
        request.headers["Content-Type"] = body[0]
    return request
