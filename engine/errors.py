"""Errors a Deskflow user can meet, each with a message that says what to do."""

from __future__ import annotations

from dataclasses import dataclass


class DeskflowError(Exception):
    """Base of every error the engine raises on purpose."""


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a diagram: where it is and what is wrong."""

    file: str
    message: str
    line: int | None = None
    element: str | None = None

    def __str__(self) -> str:
        where = self.file
        if self.line is not None:
            where += f" line {self.line}"
        if self.element:
            where += f" ({self.element})"
        return f"{where}: {self.message}"


class DiagramInvalid(DeskflowError):
    """A BPMN or DMN file that cannot be deployed; `problems` lists every reason."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


class NotFound(DeskflowError):
    """An incident, task or definition that does not exist."""


class Conflict(DeskflowError):
    """The instance changed under the caller (stale version, task no longer open)."""


class FormInvalid(DeskflowError):
    """Form data that fails the schema its task names; `errors` maps field -> message."""

    def __init__(self, form: str, errors: dict[str, str]) -> None:
        self.form = form
        self.errors = errors
        detail = "; ".join(f"{field}: {msg}" for field, msg in errors.items())
        super().__init__(f"form '{form}' is not valid: {detail}")


class HandlerFailed(DeskflowError):
    """A service task's handler raised; the instance was left where it was."""

    def __init__(self, element: str, operator: str, reason: str) -> None:
        self.element = element
        self.operator = operator
        self.reason = reason
        super().__init__(
            f"service task '{element}' (operator '{operator}') failed: {reason}. "
            "The incident was left where it was; fix the cause and retry."
        )


class ProcessError(DeskflowError):
    """The engine could not advance the process (expression error, DMN gap, ...)."""

    def __init__(self, element: str | None, reason: str) -> None:
        self.element = element
        self.reason = reason
        where = f"at '{element}'" if element else "in the process"
        super().__init__(
            f"the process stopped {where}: {reason}. The incident was left where it was."
        )


def describe(err: BaseException) -> str:
    """An exception in one line: a DeskflowError's own message (written for the people
    who meet it), else the qualified type and the message."""
    if isinstance(err, DeskflowError):
        return str(err)
    kind = type(err)
    name = kind.__qualname__
    if kind.__module__ != "builtins":
        name = f"{kind.__module__}.{name}"
    return f"{name}: {err}"


class InstanceFailed(DeskflowError):
    """Something other than a handler or the process broke while the worker ran one
    instance (its stored state cannot be read, a bug): recorded on the incident, its due
    timers held back until `deskflow incident retry`."""

    def __init__(self, instance_id: int, cause: Exception) -> None:
        self.instance_id = instance_id
        super().__init__(
            f"instance {instance_id} failed: {describe(cause)}. Its due timers "
            "are held back; fix the cause, then `deskflow incident retry` it."
        )
