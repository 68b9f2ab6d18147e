"""An incident's work notes: what the support teams wrote for each other, never shown to
the caller (the caller's side of the conversation is `web.timeline.customer_timeline`)."""

from __future__ import annotations

from typing import Any

# Internal text a command can carry, by where it sits in the recorded inputs.
INTERNAL_INPUTS = ("work_notes",)
REASONS = {"hold": "On hold", "resume": "Resumed", "reprioritize": "Priority changed"}


def work_notes(history: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """[{"at", "actor", "text"}] oldest first."""
    notes = []
    for event in history:
        text = _internal_text(event)
        if text:
            notes.append({"at": event["at"], "actor": event["actor"], "text": text})
    return notes


def _internal_text(event: dict[str, Any]) -> str | None:
    payload = event["payload"] or {}
    if event["kind"] == "escalation" and payload.get("kind") == "hierarchical":
        return f"Escalated to {payload.get('assignee')}: {payload.get('reason')}"
    if event["kind"] != "command":
        return None
    command, inputs = payload.get("command"), payload.get("inputs") or {}
    if command == "add_note" and payload.get("kind") == "work_note":
        return payload.get("text")
    if command == "complete_task" and inputs.get("work_notes"):
        return f"{payload.get('task')}: {inputs['work_notes']}"
    if command == "send_message" and payload.get("message") in REASONS:
        why = inputs.get("reason") or inputs.get("note") or ""
        return f"{REASONS[payload['message']]}. {why}".strip()
    if command == "add_escalation":
        return (
            f"Automated escalation: {payload.get('action')} {payload.get('target')} "
            f"if not resolved by {payload.get('due_at')}. {payload.get('note') or ''}"
        ).strip()
    return None
