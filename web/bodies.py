"""Request bodies, bounded and checked before a view uses them.

- **Size.** A body is at most the app's `MAX_CONTENT_LENGTH` (a blueprint may raise it
  for its requests, as /process/api/ does for drafts): larger is 413, whether it says its
  length or comes in chunks (`Transfer-Encoding: chunked`, no Content-Length). Werkzeug's
  own stream stops reading a chunked body at the limit and hands over what it read, so a
  body over the limit looked like a cut one (400, or a form missing its end); here
  reading past the limit is a 413 (`install` puts `BoundedRequest` on the app).
- **JSON** (`json_body`): only JSON (415 otherwise), nested at most `MAX_DEPTH` levels,
  no NaN or Infinity, no NUL character in a string, no integer beyond 64 bits: 400 naming
  the problem and where it is. Such values would crash the parser or the database.
- **Forms**: a field holding a NUL character is refused (400 naming the field) before
  any view runs: PostgreSQL cannot store one in text.
"""

from __future__ import annotations

import json
import math
from typing import Any

from flask import Flask, Request, abort, request
from werkzeug.exceptions import RequestEntityTooLarge
from werkzeug.utils import cached_property
from werkzeug.wsgi import LimitedStream

MAX_DEPTH = 32  # levels of objects and arrays in a JSON body
BIGINT = 2**63 - 1
DRAIN_MAX = 8 * 1024 * 1024  # read and dropped past the limit, so the client sees the 413
FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")
TOO_DEEP = f"is nested too deeply: at most {MAX_DEPTH} levels of objects and arrays"


def install(app: Flask) -> None:
    """Bounded bodies and the form check, on `app`."""
    app.request_class = BoundedRequest
    app.before_request(refuse_nul_in_forms)


# --- size -------------------------------------------------------------------------------


class HeldToLimit(LimitedStream):
    """A body of unknown length (chunked), read up to `limit`: a byte more is a 413."""

    def on_exhausted(self) -> None:
        if self._stream.read(1):
            drained = 0
            while drained < DRAIN_MAX and (chunk := self._stream.read(64 * 1024)):
                drained += len(chunk)
            raise RequestEntityTooLarge()

    def readall(self) -> bytes:
        data = super().readall()
        if self.is_exhausted:
            self.on_exhausted()
        return data


class BoundedRequest(Request):
    """Flask's request, whose body stream holds a chunked body to the size limit too."""

    @cached_property
    def stream(self) -> Any:
        limit = self.max_content_length
        terminated = "wsgi.input_terminated" in self.environ  # the server ends chunked bodies
        if self.shallow or self.content_length is not None or not terminated or limit is None:
            return super().stream
        return HeldToLimit(self.environ["wsgi.input"], limit, is_max=True)


# --- forms ------------------------------------------------------------------------------


def refuse_nul_in_forms() -> None:
    if request.mimetype not in FORM_TYPES:
        return
    for name, value in request.form.items(multi=True):
        if "\x00" in name or "\x00" in value:
            shown = name.replace("\x00", "?")[:40]
            abort(400, f"the form field '{shown}' holds a NUL character; send plain text")


# --- JSON -------------------------------------------------------------------------------


def json_body() -> Any:
    """The JSON the request carries, checked (see the module): 415 unless it says it is
    JSON, 400 for text that is not JSON or for values no part of Deskflow can hold."""
    if not request.is_json:
        abort(415, "send JSON, with Content-Type: application/json")
    data = request.get_data(cache=True)
    if not data.strip():
        abort(400, "the body is empty: send a JSON object")
    try:
        value = json.loads(data, parse_constant=_no_constant)
    except RecursionError:
        abort(400, f"the body {TOO_DEEP}")
    except ValueError as err:
        abort(400, f"the body is not valid JSON: {_reason(err)}")
    if problem := json_problem(value):
        abort(400, f"the body {problem}")
    return value


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _reason(err: ValueError) -> str:
    if isinstance(err, json.JSONDecodeError):
        return f"{err.msg} (line {err.lineno}, column {err.colno})"
    return str(err)[:200]


def json_problem(value: Any) -> str | None:
    """What in `value` (parsed JSON) Deskflow cannot hold, in words, or None."""
    stack: list[tuple[Any, str, int]] = [(value, "", 0)]
    while stack:
        item, where, depth = stack.pop()
        at = f" at {where or 'the top'}"
        if isinstance(item, dict | list):
            if depth >= MAX_DEPTH:
                return f"{TOO_DEEP} (deeper{at})"
            pairs = item.items() if isinstance(item, dict) else enumerate(item)
            for key, inner in pairs:
                if isinstance(key, str) and "\x00" in key:
                    return f"holds a NUL character in a name{at}; send plain text"
                path = f"{where}[{key}]" if isinstance(key, int) else f"{where}.{key}".lstrip(".")
                stack.append((inner, path[:200], depth + 1))
        elif isinstance(item, str) and "\x00" in item:
            return f"holds a NUL character{at}; send plain text"
        elif isinstance(item, int) and not isinstance(item, bool) and abs(item) > BIGINT:
            return f"holds a whole number beyond 64 bits{at}"
        elif isinstance(item, float) and not math.isfinite(item):
            return f"holds a number too large to store{at}"
    return None
