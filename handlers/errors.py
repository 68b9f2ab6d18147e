"""The errors a handler can raise; the engine turns them into a failed command."""

from __future__ import annotations


class HandlerError(Exception):
    """Base class: something a handler could not do."""


class HandlerInputError(HandlerError):
    """A handler was called with parameters it cannot work with."""


class UnknownOperator(HandlerError):
    """A service task names an operator that no handler provides."""

    def __init__(self, name: str, known: list[str]) -> None:
        self.name = name
        self.known = list(known)
        listed = ", ".join(self.known) or "none registered"
        super().__init__(f"no handler provides operator {name!r} (known: {listed})")


class CatalogInvalid(HandlerError):
    """The service catalog file is malformed; the message names the key and the reason."""
