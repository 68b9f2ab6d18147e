"""What the process suggested for an incident, for the form a person fills in next: the
category and subcategory the `categorize` handler found in the report, with its confidence
(`handlers.categorize`). Read from the incident's history, which the task page has at hand
already, where the handler's call and result are recorded (`engine.instances.history`):
exactly what the process saw.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

OPERATOR = "categorize"


@dataclass(frozen=True)
class CategorySuggestion:
    category: str
    subcategory: str | None
    confidence: float  # 0 to 1

    @property
    def percent(self) -> int:
        return round(self.confidence * 100)


def category(history: list[dict[str, Any]]) -> CategorySuggestion | None:
    """The latest category suggestion in an incident's history (the event dicts of
    `engine.desk.queries.history_of`, oldest first); None when there is none or the
    handler found no category."""
    for event in reversed(history):
        payload = event["payload"] or {}
        if event["kind"] != "handler" or payload.get("operator") != OPERATOR:
            continue
        result = payload.get("result") or {}
        if not isinstance(result, dict) or not result.get("category"):
            return None
        return CategorySuggestion(
            category=str(result["category"]),
            subcategory=str(result["subcategory"]) if result.get("subcategory") else None,
            confidence=float(result.get("confidence") or 0.0),
        )
    return None
