"""The query parameters that choose incidents for the auditor's views of many of them —
the heatmap (`web.replay`) and the export (`web.audit_export`) — declared once for
`web.params`, and the `engine.audit.event_log.Filters` they make.

The two pages name the opening-time range differently (`from`/`to` and `since`/`until`);
everything else is the same: the process version, priorities, categories and groups (each
may be repeated: any of them), and whether an SLA target was breached.
"""

from __future__ import annotations

from typing import Any

from engine.audit.event_log import Filters
from web.params import INT32, Choice, Moment, Param, Text, Whole

BREACHED = {"yes": True, "no": False}


def declared(since: str, until: str) -> dict[str, Param]:
    """The parameters, with the names of the opening-time range's ends."""
    return {
        "version": Whole(1, INT32),
        since: Moment(),
        until: Moment(end_of_day=True),  # a date includes its day
        "priority": Whole(1, 5, many=True),
        "category": Text(100, many=True),
        "group": Text(100, many=True),
        "breached": Choice(tuple(BREACHED)),
    }


def filters(asked: dict[str, Any], since: str, until: str) -> Filters:
    """The filters of parameters parsed by `web.params` from `declared(since, until)`."""
    return Filters(
        version=asked["version"],
        since=asked[since],
        until=asked[until],
        priorities=asked["priority"],
        categories=asked["category"],
        groups=asked["group"],
        breached=BREACHED.get(asked["breached"] or ""),
    )
