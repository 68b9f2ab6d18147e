"""One checked way in for path and query parameters, for the HTML pages and the JSON API
alike: a value that reaches a view has its type and range, so it is safe in the database
(no NUL byte in a string, an integer that fits BIGINT, a date that is a real date).

- `install(app)` (from `web.create_app`, before the blueprints) refuses, before any view
  runs, a request whose path holds a control character (404) or whose query string does
  (400 naming the parameter); and replaces Flask's URL converters: `<int:...>` is ASCII
  digits up to a signed 64-bit integer (an id), `<int32:...>` up to a 32-bit one (a
  version number), a `<name>` (string) or `<path:...>` part holds no control character
  and a string at most `SEGMENT_MAX` characters. Anything else is 404.
- A view declares its query parameters once, below `@requires`:

      @query(limit=Whole(1, 200, default=50), q=Text(200), mine=Flag())

  They are parsed before the view runs, each into its type (`Whole`, `Choice`, `Text`,
  `Pattern`, `Day`, `Moment`, `Flag`; `many=True` for a repeated parameter); a value that
  does not fit is a 400 that names the parameter and says what it accepts ("?limit must
  be a whole number from 1 to 200"). The view reads them with `args()`. An empty value is
  the same as none (HTML forms send empty fields); unknown parameters are ignored.
- `declared(app)`: for every endpoint, the names and types of its query parameters
  (`Param.schema()`, JSON Schema words), for the fuzz tests and anyone documenting them.

Numbers are ASCII digits only: `"²".isdigit()` is True, and `int("²")` raises.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from datetime import UTC, date, datetime, time, timedelta
from functools import wraps
from typing import Any
from urllib.parse import urlencode

from flask import Flask, abort, request
from werkzeug.routing import BaseConverter, PathConverter, ValidationError

BIGINT = 2**63 - 1  # the largest integer an id column (BIGINT) holds
INT32 = 2**31 - 1  # and an INTEGER column: a version, a priority
CONTROL = re.compile("[\x00-\x1f\x7f-\x9f]")  # C0, DEL and C1
SEGMENT_MAX = 200  # characters in one string part of a path (an incident number, a task id)
FIRST_DAY, LAST_DAY = date(1970, 1, 1), date(9998, 12, 31)  # what Day and Moment accept
# Where `read` leaves the parsed values and the declared parameters as sent: in the
# request's WSGI environment (flask.g can outlive a request, inside an app context).
QUERY, GIVEN = "deskflow.query", "deskflow.query.given"


# --- the app-wide checks --------------------------------------------------------------


def install(app: Flask) -> None:
    """The checked converters and the control-character check, on `app` (call it before
    registering blueprints: a rule takes its converters when it is added)."""
    app.url_map.converters.update(
        int=WholeConverter,
        int32=Whole32Converter,
        default=SegmentConverter,
        string=SegmentConverter,
        path=TailConverter,
    )
    app.before_request(refuse_control_characters)


def refuse_control_characters() -> None:
    """404 for a control character in the path (no page has one in its address), 400
    naming the parameter for one in the query string, name or value."""
    if CONTROL.search(request.path):
        abort(404, "no such page: the address holds a control character")
    for name, value in request.args.items(multi=True):
        if CONTROL.search(name):
            abort(400, f"the query parameter {_shown(name)!r} holds a control character")
        if CONTROL.search(value):
            abort(400, f"?{_shown(name)} holds a control character; send plain text")


def _shown(name: str) -> str:
    """A parameter's name, fit to quote in a message."""
    return CONTROL.sub("?", name)[:40]


class WholeConverter(BaseConverter):
    """`<int:...>`: ASCII digits, up to a signed 64-bit integer; else no route (404)."""

    regex = r"[0-9]{1,19}"
    weight = 50
    largest = BIGINT

    def to_python(self, value: str) -> int:
        number = int(value)
        if number > self.largest:
            raise ValidationError()
        return number

    def to_url(self, value: Any) -> str:
        return str(int(value))


class Whole32Converter(WholeConverter):
    """`<int32:...>`: the same, up to a signed 32-bit integer (an INTEGER column)."""

    regex = r"[0-9]{1,10}"
    largest = INT32


class SegmentConverter(BaseConverter):
    """A string part of a path: no slash, no control character, at most SEGMENT_MAX."""

    regex = f"[^/\x00-\x1f\x7f-\x9f]{{1,{SEGMENT_MAX}}}"


class TailConverter(PathConverter):
    """`<path:...>`: the rest of the path, without a control character."""

    regex = "[^/\x00-\x1f\x7f-\x9f][^\x00-\x1f\x7f-\x9f]*?"


# --- the types of query parameters ----------------------------------------------------


class Param:
    """One query parameter: its type, its range, its default. `parse` turns the text sent
    into the value or raises ValueError; `accepts` says in words what it takes (after
    "must be"); `schema` says the same in JSON Schema words, for programs."""

    def __init__(self, default: Any = None, *, many: bool = False, required: bool = False):
        self.default = () if many and default is None else default
        self.many, self.required = many, required

    def parse(self, text: str) -> Any:
        raise NotImplementedError

    def accepts(self) -> str:
        raise NotImplementedError

    def value_schema(self) -> dict[str, Any]:
        raise NotImplementedError

    def schema(self) -> dict[str, Any]:
        one = self.value_schema()
        if not self.many and self.default not in (None, ""):
            one["default"] = self.default
        described = {"type": "array", "items": one} if self.many else one
        return described | {"required": self.required, "description": self.accepts()}


class Whole(Param):
    """A whole number from `low` to `high` (at most BIGINT), in ASCII digits."""

    def __init__(self, low: int = 0, high: int = BIGINT, default: int | None = None, **kw: Any):
        super().__init__(default, **kw)
        self.low, self.high = low, min(high, BIGINT)

    def parse(self, text: str) -> int:
        if not re.fullmatch(r"-?[0-9]{1,19}", text):
            raise ValueError(text)
        value = int(text)
        if not self.low <= value <= self.high:
            raise ValueError(text)
        return value

    def accepts(self) -> str:
        if self.high == BIGINT:
            return f"a whole number from {self.low} up (at most {BIGINT})"
        return f"a whole number from {self.low} to {self.high}"

    def value_schema(self) -> dict[str, Any]:
        return {"type": "integer", "minimum": self.low, "maximum": self.high}


class Choice(Param):
    """One of `options` (exactly as written)."""

    def __init__(self, options: tuple[str, ...] | list[str], default: str | None = None, **kw):
        super().__init__(default, **kw)
        self.options = tuple(options)

    def parse(self, text: str) -> str:
        if text not in self.options:
            raise ValueError(text)
        return text

    def accepts(self) -> str:
        return f"one of {', '.join(self.options)}"

    def value_schema(self) -> dict[str, Any]:
        return {"type": "string", "enum": list(self.options)}


class Text(Param):
    """Text of up to `max_length` characters (none of them a control character); with
    `cut`, longer text is cut to that length instead of refused."""

    def __init__(self, max_length: int = 200, default: str = "", *, cut: bool = False, **kw):
        super().__init__(default, **kw)
        self.max_length, self.cut = max_length, cut

    def parse(self, text: str) -> str:
        if CONTROL.search(text):
            raise ValueError(text)
        if len(text) > self.max_length:
            if not self.cut:
                raise ValueError(text)
            text = text[: self.max_length].strip()
        return text

    def accepts(self) -> str:
        return f"text of up to {self.max_length} characters"

    def value_schema(self) -> dict[str, Any]:
        return {"type": "string", "maxLength": self.max_length}


class Pattern(Text):
    """Text matching the regular expression `pattern` (whole), described as `words`."""

    def __init__(self, pattern: str, words: str, default: str = "", **kw: Any):
        super().__init__(200, default, **kw)
        self.pattern, self.words = re.compile(pattern), words

    def parse(self, text: str) -> str:
        if not self.pattern.fullmatch(super().parse(text)):
            raise ValueError(text)
        return text

    def accepts(self) -> str:
        return self.words

    def value_schema(self) -> dict[str, Any]:
        return {"type": "string", "pattern": f"^(?:{self.pattern.pattern})$"}


class Day(Param):
    """A calendar date, YYYY-MM-DD, from FIRST_DAY to LAST_DAY."""

    def parse(self, text: str) -> date:
        if not re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", text):
            raise ValueError(text)
        day = date.fromisoformat(text)
        if not FIRST_DAY <= day <= LAST_DAY:
            raise ValueError(text)
        return day

    def accepts(self) -> str:
        return f"a date (YYYY-MM-DD) from {FIRST_DAY} to {LAST_DAY}"

    def value_schema(self) -> dict[str, Any]:
        return {"type": "string", "format": "date"}


MOMENT = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}"
    r"(?:[T ][0-9]{2}:[0-9]{2}(?::[0-9]{2}(?:\.[0-9]{1,6})?)?(?:Z|[+-][0-9]{2}:?[0-9]{2})?)?"
)


class Moment(Param):
    """A moment in UTC: an ISO 8601 date-time (without a zone, UTC), or a date — its
    midnight, or with `end_of_day` the next midnight (so "until a day" includes it)."""

    def __init__(self, default: datetime | None = None, *, end_of_day: bool = False, **kw):
        super().__init__(default, **kw)
        self.end_of_day = end_of_day

    def parse(self, text: str) -> datetime:
        if not MOMENT.fullmatch(text):
            raise ValueError(text)
        if len(text) == 10:
            day = Day().parse(text)
            moment = datetime.combine(day, time(), tzinfo=UTC)
            return moment + timedelta(days=1) if self.end_of_day else moment
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
        moment = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
        if not FIRST_DAY <= moment.astimezone(UTC).date() <= LAST_DAY:
            raise ValueError(text)
        return moment

    def accepts(self) -> str:
        return f"a date (YYYY-MM-DD) or an ISO 8601 date-time, from {FIRST_DAY} to {LAST_DAY}"

    def value_schema(self) -> dict[str, Any]:
        return {"type": "string", "format": "date-time"}


class Flag(Param):
    """Yes or no: 1 or true, 0 or false (any case). Not sent: `default`."""

    YES, NO = ("1", "true"), ("0", "false")

    def __init__(self, default: bool = False, **kw: Any):
        super().__init__(default, **kw)

    def parse(self, text: str) -> bool:
        lowered = text.lower()
        if lowered not in self.YES + self.NO:
            raise ValueError(text)
        return lowered in self.YES

    def accepts(self) -> str:
        return "1 or 0 (or true, false)"

    def value_schema(self) -> dict[str, Any]:
        return {"type": "string", "enum": ["1", "0", "true", "false"]}


# --- declaring and reading them -------------------------------------------------------


def query(
    declared: Mapping[str, Param] | None = None, /, **more: Param
) -> Callable[[Callable], Callable]:
    """Declare a view's query parameters (a mapping for names Python cannot spell, such
    as `from`, and keywords); they are parsed before it runs and read with `args()`."""
    params = {**(declared or {}), **more}

    def decorate(view: Callable) -> Callable:
        @wraps(view)
        def parsed(*args: Any, **kwargs: Any) -> Any:
            read(params)
            return view(*args, **kwargs)

        parsed.query_params = params  # type: ignore[attr-defined]
        return parsed

    return decorate


def read(params: Mapping[str, Param]) -> dict[str, Any]:
    """`params` parsed from the query string (400 for the first that does not fit),
    kept for `args()`, `given()` and `query_string()`."""
    values: dict[str, Any] = {}
    for name, param in params.items():
        texts = [t.strip() for t in request.args.getlist(name)]
        texts = [t for t in texts if t] if param.many else texts[:1]
        if not texts or not texts[0]:
            if param.required:
                abort(400, f"?{name} is required: {param.accepts()}")
            values[name] = param.default
            continue
        try:
            parsed = tuple(param.parse(text) for text in texts)
        except ValueError:
            abort(400, f"?{name} must be {param.accepts()}")
        values[name] = parsed if param.many else parsed[0]
    sent: list[tuple[str, str]] = []  # as they came, each used value once
    for name, text in request.args.items(multi=True):
        if name in params and text.strip() and (params[name].many or name not in dict(sent)):
            sent.append((name, text.strip()))
    request.environ.setdefault(QUERY, {}).update(values)
    request.environ.setdefault(GIVEN, []).extend(sent)
    return values


def args() -> dict[str, Any]:
    """The parsed query parameters of the view's declaration, by name."""
    return request.environ.get(QUERY, {})


def given() -> dict[str, str]:
    """The declared parameters that were sent, as sent (the first of each): what a page
    puts back in its filter form, or in a link to itself."""
    found: dict[str, str] = {}
    for name, text in request.environ.get(GIVEN, []):
        found.setdefault(name, text)
    return found


def query_string() -> str:
    """The declared parameters that were sent, as a query string (with its '?'), or ''."""
    pairs = request.environ.get(GIVEN, [])
    return f"?{urlencode(pairs)}" if pairs else ""


def field(name: str, param: Param) -> Any:
    """A form field parsed as `param` (a whole number typed into a form, say): its value,
    its default when empty, else 400 naming the field and what it accepts."""
    text = request.form.get(name, "").strip()
    if not text:
        if param.required:
            abort(400, f"'{name}' is required: {param.accepts()}")
        return param.default
    try:
        return param.parse(text)
    except ValueError:
        abort(400, f"'{name}' must be {param.accepts()}")


def declared(app: Flask) -> dict[str, dict[str, Param]]:
    """Every endpoint of `app` and its declared query parameters (none: {})."""
    return {
        endpoint: dict(getattr(view, "query_params", {}))
        for endpoint, view in app.view_functions.items()
    }
