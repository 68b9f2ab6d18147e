"""Record-change notices: received, assigned, reopened, closed."""

from __future__ import annotations

import pytest

from .desk import Desk


@pytest.fixture
def desk(runtime, frozen_clock) -> Desk:
    return Desk(runtime, frozen_clock)


def sent(desk: Desk, number: str) -> list[tuple[str, str]]:
    return [
        (n.template, n.recipient)
        for n in desk.notifications(number)
        if n.template in ("received", "assigned", "reopened", "closed")
    ]


def test_the_caller_hears_of_receipt_and_closure_and_the_specialist_of_the_work(desk):
    number = desk.report()
    assert sent(desk, number) == [("received", "alice")]
    desk.categorize(number)
    desk.escalate(number)  # assigned to ned, the least loaded in network-ops
    assert ("assigned", "ned") in sent(desk, number)
    desk.specialist_resolves(number)
    desk.say(number, "reopen", {"reason": "still broken"})
    assert ("reopened", "ned") in sent(desk, number) or any(
        template == "reopened" for template, _ in sent(desk, number)
    )
    desk.resolve_first_line(number)
    desk.say(number, "confirm")
    assert sent(desk, number)[-1] == ("closed", "alice")
    assert [t for t, _ in sent(desk, number)].count("received") == 1
