"""Where a redirect may send the browser: only to a path on this site.

A target that came from the request (the log-in page's `next=`, a form's `back`) is parsed
and normalised before it is checked, and refused — the caller falls back to a page of its
own — when it could lead anywhere else or break the response:

- whitespace, or a control character as it is or percent-encoded: browsers drop tabs
  and line breaks from a URL, so `/\\t/evil.example` would arrive as `//evil.example`,
  and a line break in a `Location` header is a server error (or a header injection);
- a backslash, which browsers read as `/`;
- a scheme or a host (`https://evil.example`, `//evil.example`), or a path that does not
  start with a single `/` — before and after percent-decoding;
- more than `MAX_LENGTH` characters.

`.` and `..` segments are resolved first, as the browser will, so `under` is checked on
the path the browser will really ask for.
"""

from __future__ import annotations

import unicodedata
from urllib.parse import quote, unquote, urlsplit, urlunsplit

MAX_LENGTH = 2000
_PATH_SAFE = "/%:@!$&'()*+,;=-._~"
_QUERY_SAFE = _PATH_SAFE + "?"


def same_site(target: str | None, under: str = "/") -> str | None:
    """`target` as a normalised path (with its query) on this site under `under`, or None
    when it is not one."""
    if not target or len(target) > MAX_LENGTH or "\\" in target:
        return None
    if any(_invisible(ch) for ch in target) or any(_control(ch) for ch in unquote(target)):
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc:
        return None
    for path in (parts.path, unquote(parts.path)):
        if not path.startswith("/") or path.startswith("//") or "\\" in path:
            return None
    path = _without_dot_segments(parts.path)
    if path.startswith("//") or not unquote(path).startswith(under):
        return None
    path = quote(path, safe=_PATH_SAFE)
    query = quote(parts.query, safe=_QUERY_SAFE)
    return urlunsplit(("", "", path, query, ""))


def _control(ch: str) -> bool:
    return unicodedata.category(ch) in ("Cc", "Cf")


def _invisible(ch: str) -> bool:
    return ch.isspace() or _control(ch)


def _without_dot_segments(path: str) -> str:
    """`path` with `.` and `..` resolved as a browser would (RFC 3986, 5.2.4)."""
    kept: list[str] = []
    segments = path.split("/")[1:]
    for segment in segments:
        if segment in (".", "%2e", "%2E"):
            continue
        if segment in ("..", "%2e%2e", "%2E%2E", ".%2e", ".%2E", "%2e.", "%2E."):
            if kept:
                kept.pop()
            continue
        kept.append(segment)
    trailing = segments[-1] in (".", "..") if segments else False
    return "/" + "/".join(kept) + ("/" if trailing and kept else "")
