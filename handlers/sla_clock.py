"""An SLA clock, derived from its recorded events alone, so anyone can recompute it.

Events: `start` (with the target), `pause` (waiting on the user or a vendor), `resume`,
`target` (a priority change sets a new target; the time already used is kept), `stop`
(resolved, or first response). The clock counts working time of its calendar while it
runs. Its state at any moment: `running`, `paused`, `warned` (a warning threshold is
passed), `breached` (the target was reached while running), or, once stopped, `met` or
`breached`. `due` is when it will breach if it keeps running; there is none while paused, and none
once breached (a breach stays recorded even if a later priority change loosens the target).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from handlers.business_time import BusinessCalendar

KINDS = ("start", "pause", "resume", "target", "stop")


@dataclass(frozen=True)
class ClockEvent:
    at: datetime
    kind: str
    target: timedelta | None = None  # with `start` and `target`
    calendar: BusinessCalendar | None = None  # with `target`: count in this one from now

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown clock event {self.kind!r} (known: {', '.join(KINDS)})")
        if self.kind in ("start", "target") and (self.target is None or self.target <= timedelta()):
            raise ValueError(f"a {self.kind} event needs a positive target")


@dataclass(frozen=True)
class ClockState:
    state: str  # running | paused | warned | breached | met | not started
    used: timedelta
    target: timedelta | None
    due: datetime | None  # when it breaches if it keeps running
    breached_at: datetime | None

    def share_used(self) -> float:
        return self.used / self.target if self.target else 0.0


def clock_state(
    calendar: BusinessCalendar,
    events: list[ClockEvent],
    now: datetime,
    warn_at: tuple[float, ...] = (0.5, 0.75),
) -> ClockState:
    """The clock at `now`, from `events` (in the order they happened; later ones ignored).

    Refuses events that make no sense in order (a pause while paused, events after stop).
    """
    used = timedelta()
    target: timedelta | None = None
    running_since: datetime | None = None
    paused = stopped = False
    breached_at: datetime | None = None
    for event in events:
        if event.at > now:
            break
        if stopped:
            raise ValueError(f"clock event {event.kind} at {event.at} after the clock stopped")
        if event.kind == "start":
            if target is not None:
                raise ValueError("the clock was started twice")
            target, running_since = event.target, event.at
            continue
        if target is None:
            raise ValueError(f"clock event {event.kind} at {event.at} before the start")
        if running_since is not None:  # close the running stretch at this event
            breached_at = breached_at or _breach(calendar, running_since, event.at, used, target)
            used += calendar.elapsed(running_since, event.at)
            running_since = None
        if event.kind == "pause":
            if paused:
                raise ValueError(f"pause at {event.at} while already paused")
            paused = True
        elif event.kind == "resume":
            if not paused:
                raise ValueError(f"resume at {event.at} while not paused")
            paused, running_since = False, event.at
        elif event.kind == "target":
            target = event.target
            calendar = event.calendar or calendar
            assert target is not None
            if used >= target and breached_at is None:  # a tighter target, already used up
                breached_at = event.at
            running_since = None if paused else event.at
        else:  # stop
            stopped = True
    if target is None:
        return ClockState("not started", timedelta(), None, None, None)
    due = None
    if running_since is not None:
        breached_at = breached_at or _breach(calendar, running_since, now, used, target)
        used += calendar.elapsed(running_since, now)
        if used < target and breached_at is None:
            due = calendar.add(now, target - used)
    state = _state(stopped, running_since is not None, used, target, breached_at, warn_at)
    return ClockState(state, used, target, due, breached_at)


def _breach(calendar, since, until, used, target) -> datetime | None:
    """When the target was reached within the running stretch [since, until), if it was."""
    if used >= target:
        return None  # reached before this stretch; already recorded
    left = target - used
    if calendar.elapsed(since, until) < left:
        return None
    return calendar.add(since, left)


def _state(stopped, running, used, target, breached_at, warn_at) -> str:
    if breached_at is not None or used >= target:
        return "breached"
    if stopped:
        return "met"
    if not running:
        return "paused"
    if any(used >= target * share for share in warn_at):
        return "warned"
    return "running"
