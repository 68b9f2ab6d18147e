"""Resolution and closure: what was done, and why the incident ended."""

from __future__ import annotations

from typing import Any

from engine import clock
from handlers.errors import HandlerInputError
from handlers.registry import operator

# deflected: self-help solved it; fulfilled: it was a request; confirmed: the caller
# accepted the fix; auto-closed: no answer in time; reopen-limit: reopened too often.
CLOSE_REASONS = ("deflected", "fulfilled", "confirmed", "auto-closed", "reopen-limit")


@operator("record_resolution")
def record_resolution(resolution_code: str | None, resolution_notes: str | None) -> dict[str, Any]:
    """Resolution code and notes -> `{"code", "notes", "resolved_at"}` (now, ISO 8601 UTC).

    Both are required: ITIL does not let an incident be resolved without saying how.
    """
    code = (resolution_code or "").strip()
    notes = (resolution_notes or "").strip()
    if not code or not notes:
        raise HandlerInputError(
            "record_resolution: resolution needs a code and notes "
            f"(got code {resolution_code!r}, notes {resolution_notes!r})"
        )
    return {"code": code, "notes": notes, "resolved_at": clock.now().isoformat()}


@operator("close_incident")
def close_incident(
    reason: str, resolution_code: str | None = None, resolution_notes: str | None = None
) -> dict[str, Any]:
    """Closure reason (and resolution, if any) -> `{"reason", "closed_at", "code", "notes"}`."""
    if reason not in CLOSE_REASONS:
        raise HandlerInputError(
            f"close_incident: unknown reason {reason!r} (known: {', '.join(CLOSE_REASONS)})"
        )
    return {
        "reason": reason,
        "closed_at": clock.now().isoformat(),
        "code": resolution_code,
        "notes": resolution_notes,
    }
