"""Fixtures shared by every test: a frozen clock, restored afterwards."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from engine import clock


@pytest.fixture
def frozen_clock():
    """A FrozenClock at Monday 2026-01-05 09:00 UTC, installed for the test."""
    frozen = clock.FrozenClock(datetime(2026, 1, 5, 9, 0, tzinfo=UTC))
    previous = clock.install(frozen)
    yield frozen
    clock.install(previous)
