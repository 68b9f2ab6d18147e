"""Recording the resolution and closing the incident."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from engine import clock
from engine.clock import FrozenClock
from handlers.closure import CLOSE_REASONS, close_incident, record_resolution
from handlers.errors import HandlerInputError

NOW = datetime(2026, 1, 6, 14, 30, tzinfo=UTC)


@pytest.fixture(autouse=True)
def frozen():
    previous = clock.install(FrozenClock(NOW))
    yield
    clock.install(previous)


def test_resolution_is_stamped_with_the_clock():
    assert record_resolution("Solved (Permanently)", " Replaced the toner. ") == {
        "code": "Solved (Permanently)",
        "notes": "Replaced the toner.",
        "resolved_at": "2026-01-06T14:30:00+00:00",
    }


@pytest.mark.parametrize(
    ("code", "notes"),
    [(None, "notes"), ("", "notes"), ("Solved", None), ("Solved", "   "), (None, None)],
)
def test_resolution_needs_code_and_notes(code, notes):
    with pytest.raises(HandlerInputError, match="resolution needs a code and notes"):
        record_resolution(code, notes)


@pytest.mark.parametrize("reason", CLOSE_REASONS)
def test_close_for_each_known_reason(reason):
    assert close_incident(reason, "Solved (Work Around)", "Restarted the spooler") == {
        "reason": reason,
        "closed_at": "2026-01-06T14:30:00+00:00",
        "code": "Solved (Work Around)",
        "notes": "Restarted the spooler",
    }


def test_close_without_resolution():
    closure = close_incident("deflected")
    assert (closure["code"], closure["notes"]) == (None, None)


def test_known_close_reasons():
    assert CLOSE_REASONS == ("deflected", "fulfilled", "confirmed", "auto-closed", "reopen-limit")


def test_unknown_close_reason_is_refused():
    with pytest.raises(HandlerInputError, match="unknown reason 'done'.*deflected, fulfilled"):
        close_incident("done")
