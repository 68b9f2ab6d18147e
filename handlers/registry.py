"""Operator name -> handler function: the one place service tasks are dispatched.

Handlers register with `@operator("name")`. The engine calls `call(name, params, incident,
knowledge=...)` with the parameters the diagram evaluated, the current incident record and
what the desk has learned; a handler gets `incident` / `knowledge` only if its signature
asks for it, and a diagram may never pass them.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

from handlers.errors import HandlerError, HandlerInputError, UnknownOperator

OPERATORS: dict[str, Callable[..., Any]] = {}

# Filled by the engine (the incident record; learned categorization), never by the diagram.
INCIDENT_PARAMETER = "incident"
KNOWLEDGE_PARAMETER = "knowledge"
ARTICLES_PARAMETER = "articles"
ENGINE_PARAMETERS = (INCIDENT_PARAMETER, KNOWLEDGE_PARAMETER, ARTICLES_PARAMETER)


def operator(name: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Register the decorated function as the handler for operator `name`."""

    def register(func: Callable[..., Any]) -> Callable[..., Any]:
        existing = OPERATORS.get(name)
        if existing is not None and _qualified(existing) != _qualified(func):
            raise HandlerError(
                f"operator {name!r} is already provided by {_qualified(existing)}; "
                f"{_qualified(func)} cannot claim it too"
            )
        OPERATORS[name] = func
        return func

    return register


def known() -> list[str]:
    """Sorted names of every registered operator."""
    return sorted(OPERATORS)


def call(
    name: str,
    params: dict[str, Any],
    incident: dict[str, Any] | None,
    knowledge: Callable[[], Any] | None = None,
    articles: Callable[[dict[str, Any]], Any] | None = None,
) -> Any:
    """Run the handler for operator `name` with the diagram's `params`.

    `incident` is passed only to handlers that declare an `incident` parameter;
    `knowledge()` is called, and its value passed, only for handlers that declare a
    `knowledge` parameter (so it is loaded only when a handler wants it); likewise
    `articles(params)`, the knowledge-base search for the handler's parameters. Raises
    `UnknownOperator` for a name no handler provides and `HandlerInputError` when a required
    parameter is missing or one the handler does not take is given. Returns whatever the
    handler returns (a JSON-serializable value).
    """
    func = OPERATORS.get(name)
    if func is None:
        raise UnknownOperator(name, known())
    signature = inspect.signature(func)
    kwargs = dict(params)
    _check_parameters(name, signature, kwargs)
    if INCIDENT_PARAMETER in signature.parameters:
        kwargs[INCIDENT_PARAMETER] = incident
    if KNOWLEDGE_PARAMETER in signature.parameters and knowledge is not None:
        kwargs[KNOWLEDGE_PARAMETER] = knowledge()
    if ARTICLES_PARAMETER in signature.parameters and articles is not None:
        kwargs[ARTICLES_PARAMETER] = articles(dict(params))
    return func(**kwargs)


def _check_parameters(name: str, signature: inspect.Signature, params: dict[str, Any]) -> None:
    accepted = {
        param_name: param
        for param_name, param in signature.parameters.items()
        if param_name not in ENGINE_PARAMETERS
        and param.kind in (param.POSITIONAL_OR_KEYWORD, param.KEYWORD_ONLY)
    }
    takes_any = any(p.kind is p.VAR_KEYWORD for p in signature.parameters.values())
    takes = ", ".join(accepted) or "no parameters"
    for engine_parameter in ENGINE_PARAMETERS:
        if engine_parameter in params:
            raise HandlerInputError(
                f"operator {name!r}: parameter {engine_parameter!r} is filled by the engine; "
                "the diagram must not pass it"
            )
    missing = [
        param_name
        for param_name, param in accepted.items()
        if param.default is param.empty and param_name not in params
    ]
    if missing:
        raise HandlerInputError(
            f"operator {name!r} needs parameter {_names(missing)} (takes: {takes})"
        )
    unexpected = [param_name for param_name in params if param_name not in accepted]
    if unexpected and not takes_any:
        raise HandlerInputError(
            f"operator {name!r} got unexpected parameter {_names(unexpected)} (takes: {takes})"
        )


def _names(names: list[str]) -> str:
    return ", ".join(repr(n) for n in names)


def _qualified(func: Callable[..., Any]) -> str:
    return f"{func.__module__}.{func.__qualname__}"
