"""Instance-specific strings in a template's stored text, swapped per clone.

A cloned incident must not share anything with its template that identifies the
instance: the engine's task UUIDs (the open task's id is `human_tasks.id`, the
workflow state holds every task by its UUID, history payloads name them), the incident
number, and the time stamps (a clone lives at another time). `Vocabulary` turns each
such text (the workflow state's JSON, a history payload's canonical JSON) into a
`str.format` pattern once; `Vocabulary.values` draws one clone's values, and
`pattern.format(*values)` is the clone's text: one C-level call per text.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from random import Random

_UUID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
_NUMBER = r"INC\d{7}"
_STAMP = r"\d{4}-\d\d-\d\d[T ]\d\d:\d\d:\d\d(?:\.\d{1,6})?(?:Z|[+-]\d\d:\d\d)?"
TOKEN = re.compile(f"(?P<uuid>{_UUID})|(?P<number>{_NUMBER})|(?P<stamp>{_STAMP})")

NUMBER_SLOT = 0  # every vocabulary's slot 0 is the incident number


@dataclass(frozen=True)
class Stamp:
    """A time stamp as the template wrote it, so the shifted one is written alike."""

    moment: datetime
    sep: str
    timespec: str

    @classmethod
    def parse(cls, text: str) -> Stamp:
        return cls(datetime.fromisoformat(text), text[10], "auto" if "." in text else "seconds")

    def shifted(self, delta: timedelta) -> str:
        return (self.moment + delta).isoformat(sep=self.sep, timespec=self.timespec)


class Vocabulary:
    """The instance-specific strings of one template instance, numbered as slots."""

    def __init__(self, number: str) -> None:
        self.number = number
        self.slots: dict[str, int] = {number: NUMBER_SLOT}
        self.uuid_slots: list[int] = []
        self.stamp_slots: list[tuple[int, Stamp]] = []

    def _slot(self, match: re.Match[str]) -> str:
        text = match.group()
        if match.lastgroup == "number" and text != self.number:
            return text  # another incident's number (none so far): left as it is
        slot = self.slots.get(text)
        if slot is None:
            slot = self.slots[text] = len(self.slots)
            if match.lastgroup == "uuid":
                self.uuid_slots.append(slot)
            elif match.lastgroup == "stamp":
                self.stamp_slots.append((slot, Stamp.parse(text)))
        return f"{{{slot}}}"

    def compile(self, text: str) -> str:
        """`text` as a format pattern: braces doubled, each instance string a `{slot}`."""
        pieces, last = [], 0
        for match in TOKEN.finditer(text):
            pieces.append(text[last : match.start()].replace("{", "{{").replace("}", "}}"))
            pieces.append(self._slot(match))
            last = match.end()
        pieces.append(text[last:].replace("{", "{{").replace("}", "}}"))
        return "".join(pieces)

    def values(self, number: str, delta: timedelta, rng: Random) -> list[str]:
        """One clone's strings: its number, fresh UUIDs, the time stamps moved by `delta`."""
        values = [""] * len(self.slots)
        values[NUMBER_SLOT] = number
        for slot in self.uuid_slots:
            values[slot] = str(uuid.UUID(int=rng.getrandbits(128), version=4))
        for slot, stamp in self.stamp_slots:
            values[slot] = stamp.shifted(delta)
        return values

    def renamed(self, old: str, values: list[str]) -> str:
        """What the clone calls the template's string `old` (a task UUID, say)."""
        return values[self.slots[old]]
