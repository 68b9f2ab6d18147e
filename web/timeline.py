"""What a caller may see of an incident's history: what people did, in the caller's words.

Built from the recorded commands only. Internal work (work notes, categories, escalation
reasons, SLA events, priority changes) is never shown; the resolution notes and the
comments staff write to the caller are, since they are written for the caller.

The portal speaks to the caller ("You reported it."); the desk's page shows the same
entries about the caller, by name ("Alice Archer reported it.").
"""

from __future__ import annotations

from typing import Any


def customer_timeline(
    history: list[dict[str, Any]], caller: str, about: str | None = None
) -> list[dict[str, Any]]:
    """[{"at", "text"}] oldest first, for the incident's caller — or, with `about` (the
    caller's name), what the caller sees told to staff."""
    entries = []
    you = (about, about) if about else ("You", "you")
    for event in history:
        if event["kind"] != "command":
            continue
        text = _say(event["payload"], event["actor"], caller, you)
        if text:
            entries.append({"at": event["at"], "text": text})
    return entries


def _say(
    payload: dict[str, Any], actor: str | None, caller: str, you: tuple[str, str]
) -> str | None:
    command, inputs = payload.get("command"), payload.get("inputs") or {}
    subject, object_ = you
    if command == "start_incident":
        return f"{subject} reported it." if actor == caller else f"{actor} logged it for {object_}."
    if command == "complete_task":
        return _task_done(payload.get("task"), inputs)
    if command == "send_message":
        return _message(payload.get("message"), inputs, subject)
    if command == "add_note" and payload.get("kind") == "comment":  # never a work note
        return f"{actor} wrote to {object_}: {payload.get('text', '')}"
    return None


def _task_done(task: str | None, inputs: dict[str, Any]) -> str | None:
    notes = inputs.get("resolution_notes")
    if task == "try_self_help":
        return "An article solved it." if inputs.get("solved") else "Passed to the service desk."
    if task == "categorize_incident":
        return "The service desk took it on."
    if task == "diagnose":
        if inputs.get("resolved"):
            return f"Solved by the service desk: {notes}"
        return "Passed to a specialist team."
    if task == "investigate_and_resolve":
        return f"Solved by the specialists: {notes}"
    if task == "fulfil_request":
        return f"Done: {notes}"
    return None


def _message(message: str | None, inputs: dict[str, Any], subject: str) -> str | None:
    if message == "user_reply":
        return f"{subject} wrote: {inputs.get('message', '')}"
    if message == "reopen":
        return f"{subject} said it is not fixed: {inputs.get('reason', '')}"
    if message == "confirm":
        return f"{subject} confirmed the fix."
    if message == "hold":
        return "On hold, waiting for an answer."
    if message == "resume":
        return "Work resumed."
    return None
