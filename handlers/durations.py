"""ISO 8601 durations (`PT30M`, `P1D`, `P1DT4H`, `P2W`) as the catalog and timers write them."""

from __future__ import annotations

import re
from datetime import timedelta

# Years and months have no fixed length, so SLA policies may not use them.
_DURATION = re.compile(
    r"^P(?!$)(?:(?P<weeks>\d+)W)?(?:(?P<days>\d+)D)?"
    r"(?:T(?=\d)(?:(?P<hours>\d+)H)?(?:(?P<minutes>\d+)M)?(?:(?P<seconds>\d+)S)?)?$"
)


def parse_duration(text: str) -> timedelta:
    """`"PT30M"` -> `timedelta(minutes=30)`; raises ValueError for anything else."""
    match = _DURATION.match(text) if isinstance(text, str) else None
    if match is None:
        raise ValueError(
            f"{text!r} is not an ISO 8601 duration of weeks, days, hours, minutes or "
            "seconds (e.g. PT30M, P1D, P1DT4H)"
        )
    parts = {unit: int(value) for unit, value in match.groupdict().items() if value}
    return timedelta(**parts)
