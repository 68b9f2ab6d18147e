"""What an expression may use: the functions and methods it may call, the limits it runs
within, and the bounded operations (`*`, `**`, `<<`, `%`, `str.join`, `range`, `round`,
`sum`) that stop a result over a limit before it is built. `engine.process.expressions`
checks an expression against these lists and compiles it to call the bounded helpers;
`BUILTINS` and `GLOBALS` are all an evaluated expression sees besides the task data.
"""

from __future__ import annotations

import ast
import builtins
import math
from collections.abc import Callable, Iterable
from typing import Any

MAX_LENGTH = 1_000  # characters of source
MAX_NODES = 200  # syntax nodes (the bundled diagram's largest expression has 17)
MAX_DEPTH = 40  # nesting levels
MAX_ITEMS = 10_000  # items or characters an operation may build, numbers a range may hold
MAX_INT_BITS = 4_096  # size of an integer an operation may build
MAX_ROUND_DIGITS = 100


def _words(text: str) -> tuple[str, ...]:
    return tuple(text.split())


FUNCTIONS = frozenset(
    _words(
        "abs all any bool dict enumerate float int isinstance len list max min range "
        "reversed round set sorted str sum tuple zip"
    )
)
TYPES = frozenset(_words("bool dict float int list set str tuple"))  # isinstance(x, TYPE)
METHODS = frozenset(
    _words(
        "get keys values items "  # dict; then str
        "lower upper title capitalize casefold strip lstrip rstrip split rsplit splitlines "
        "join startswith endswith count index find isdigit isalpha isalnum isspace islower "
        "isupper"
    )
)
DENIED = _words(
    "open eval exec compile getattr setattr delattr hasattr globals locals vars dir type "
    "object super breakpoint input print help exit quit memoryview classmethod staticmethod "
    "property"
)


class ExpressionError(ValueError):
    """An expression that may not run (`ExpressionRefused`) or was stopped while running
    (`ExpressionStopped`)."""

    expression: str | None = None
    reason: str = ""


class ExpressionRefused(ExpressionError):
    """The expression breaks a rule; found when it is compiled (lint, or first use)."""

    def __init__(self, expression: str, reason: str, syntax: bool = False) -> None:
        self.expression = expression
        self.reason = reason
        self.syntax = syntax  # not valid Python at all (a DMN cell may still combine)
        super().__init__(f"expression {_short(expression)} is refused: {reason}")


class ExpressionStopped(ExpressionError):
    """An operation would build a value over a limit; raised before it is built."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)

    def __str__(self) -> str:
        if self.expression is None:
            return self.reason
        return f"expression {_short(self.expression)} was stopped: {self.reason}"


def _short(expression: str) -> str:
    text = repr(expression)
    return text if len(text) <= 90 else text[:80] + "…" + text[-8:]


# --- bounded operations (the only per-evaluation cost the checks add) -------------------

_NUMBERS = (int, float, complex)


def _size(value: Any, cap: int) -> int:
    """Items plus characters in `value`, counted up to a little over `cap`."""
    total, stack = 0, [value]
    while stack and total <= cap:
        item = stack.pop()
        if isinstance(item, str | bytes):
            total += max(len(item), 1)
        elif isinstance(item, list | tuple | set | frozenset):
            total += 1
            stack.extend(item)
        elif isinstance(item, dict):
            total += 1
            stack.extend(item.keys())
            stack.extend(item.values())
        else:
            total += 1
    return total


def _too_many(count: int) -> ExpressionStopped:
    return ExpressionStopped(
        f"the result would have {count:,} items or characters; the limit is {MAX_ITEMS:,}"
    )


def _too_big(bits: float) -> ExpressionStopped:
    size = f"about {int(bits):,}" if bits < 1e15 else "more than 10**15"
    return ExpressionStopped(
        f"the result would be an integer of {size} bits; the limit is {MAX_INT_BITS:,}"
    )


def _repeat_check(sequence: Any, times: int) -> None:
    if times <= 0:
        return
    if isinstance(sequence, str | bytes):
        unit = len(sequence)
    elif isinstance(sequence, list | tuple):
        unit = _size(sequence, MAX_ITEMS) - 1  # its items (and theirs), not itself
    else:
        return
    if unit * times > MAX_ITEMS:
        raise _too_many(max(unit, 1) * times)


def _mul(a: Any, b: Any) -> Any:
    if isinstance(a, int) and isinstance(b, int):
        if a.bit_length() + b.bit_length() > MAX_INT_BITS + 1:
            raise _too_big(a.bit_length() + b.bit_length())
    elif isinstance(b, int) and not isinstance(a, _NUMBERS):
        _repeat_check(a, b)
    elif isinstance(a, int) and not isinstance(b, _NUMBERS):
        _repeat_check(b, a)
    return a * b


def _pow(a: Any, b: Any) -> Any:
    if isinstance(a, int) and isinstance(b, int) and b > 1 and abs(a) > 1:
        if b > MAX_INT_BITS:  # |a| >= 2: at least b bits (and b may not fit a float)
            raise _too_big(b)
        bits = b * math.log2(abs(a))
        if bits > MAX_INT_BITS:
            raise _too_big(bits)
    return a**b


def _lshift(a: Any, b: Any) -> Any:
    if isinstance(a, int) and isinstance(b, int) and a and a.bit_length() + b > MAX_INT_BITS:
        raise _too_big(a.bit_length() + b)
    return a << b


def _mod(a: Any, b: Any) -> Any:
    if isinstance(a, str | bytes):
        raise ExpressionStopped("'%' formatting of strings is not allowed; use an f-string")
    return a % b


def _join(separator: Any, items: Iterable) -> Any:
    if isinstance(separator, str | bytes):
        items = list(items)
        total = len(separator) * max(len(items) - 1, 0)
        total += sum(len(i) for i in items if isinstance(i, str | bytes))
        if total > MAX_ITEMS:
            raise _too_many(total)
    return separator.join(items)


def _range(*args: int) -> range:
    numbers = range(*args)
    try:
        count = len(numbers)
    except OverflowError:
        count = MAX_ITEMS + 1
    if count > MAX_ITEMS:
        raise ExpressionStopped(f"range() of more than {MAX_ITEMS:,} numbers is not allowed")
    return numbers


def _round(number: Any, ndigits: int | None = None) -> Any:
    if isinstance(ndigits, int) and abs(ndigits) > MAX_ROUND_DIGITS:
        raise ExpressionStopped(f"round() to more than {MAX_ROUND_DIGITS} digits is not allowed")
    return round(number, ndigits)


def _sum(items: Iterable, start: Any = 0) -> Any:
    if not isinstance(start, _NUMBERS):
        raise ExpressionStopped("sum() adds numbers only")
    return sum(items, start)


_HELPERS: dict[str, Callable] = {
    "_df_mul": _mul,
    "_df_pow": _pow,
    "_df_lshift": _lshift,
    "_df_mod": _mod,
    "_df_join": _join,
}
BOUNDED_OPS = {
    ast.Mult: "_df_mul",
    ast.Pow: "_df_pow",
    ast.LShift: "_df_lshift",
    ast.Mod: "_df_mod",
}

BUILTINS: dict[str, Any] = {name: getattr(builtins, name) for name in FUNCTIONS}
BUILTINS.update(range=_range, round=_round, sum=_sum)
BUILTINS.update({"True": True, "False": False, "None": None})
BUILTINS.update(_HELPERS)  # unreachable by name from an expression: they start with "_"
GLOBALS: dict[str, Any] = {"__builtins__": BUILTINS}  # eval's globals; task data are locals
