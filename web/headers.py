"""The security headers on every answer: what the browser may load, run and frame.

- `Content-Security-Policy`: scripts only from this site's own files — no inline script, no
  `eval` — so an injected `<script>` or `onclick=` does not run; nothing loaded from another
  site (the front-end libraries are served from `web/static/vendor`); no site may frame a
  page (`frame-ancestors 'none'`, and `X-Frame-Options: DENY` for older browsers); forms
  post only here. Styles may be inline: bpmn-js and dmn-js set style attributes on the
  diagrams they draw.
- `X-Content-Type-Options: nosniff`: a download is never run as a script or a page.
- `Referrer-Policy: same-origin`: incident numbers and search words in a URL do not leave
  for other sites.
- `Strict-Transport-Security` when `DESKFLOW_HTTPS=1` (Deskflow is served over TLS).
- `Cache-Control: no-store` on everything but the static files (unless a view says
  otherwise): a page shows incidents, callers and notes, which must not stay in a shared
  computer's browser cache after the person logs out.
"""

from __future__ import annotations

import os

from flask import Flask, Response, request

CONTENT_SECURITY_POLICY = "; ".join(
    (
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self' 'unsafe-inline'",
        "img-src 'self' data: blob:",
        "font-src 'self' data:",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    )
)
HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Cross-Origin-Opener-Policy": "same-origin",
}
HSTS = "max-age=31536000; includeSubDomains"


def install(app: Flask) -> None:
    """Put the security headers on every answer of `app`."""
    headers = dict(HEADERS)
    if os.environ.get("DESKFLOW_HTTPS") == "1":
        headers["Strict-Transport-Security"] = HSTS

    @app.after_request
    def secure(response: Response) -> Response:
        for name, value in headers.items():
            response.headers.setdefault(name, value)
        if request.endpoint != "static":
            response.headers.setdefault("Cache-Control", "no-store")
        return response
