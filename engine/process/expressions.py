"""The one evaluator for every expression a diagram carries.

A deployed diagram is code: gateway conditions, timer expressions, service-task parameter
values, the `group` property and DMN cells are Python expressions over task data, and
SpiffWorkflow hands each one to `engine.spiff._Environment.evaluate`, which evaluates it
here. Scripts (script tasks, pre- and post-scripts) are not expressions and never run:
lint refuses them at deploy and the script engine refuses them at run time.

An expression is parsed with `ast` (mode "eval") and checked against a whitelist once,
when it is first compiled (`compiled` keeps the code in an LRU cache, so evaluating it
again costs one `eval` of ready code):

- nodes: literals, names, subscripts, comparisons, boolean, unary and arithmetic
  operators, `a if c else b`, f-strings (format specs only short literals), calls;
- calls only to the functions in `FUNCTIONS` (`range`, `round` and `sum` bounded) and to
  the methods in `METHODS`; a function may be called but not passed as a value (no
  `key=len`, no `map(str, x)`: nothing can call a function once per item);
- no name or attribute starting with "_" (`__class__`, `__subclasses__`, `__globals__`,
  `__builtins__`, `__import__`), no other attribute than a method call, no `open`, `eval`,
  `exec`, `compile`, `getattr`, `setattr`, `globals`, `vars`, `type`, `object`, ...;
- no lambda, no walrus, no `*`/`**` unpacking, no comprehensions, no statements.

Every evaluation ends: an expression has no loops (statements are refused, comprehensions
are refused, functions cannot be handed to other functions), so "loop forever" is refused
when the expression is compiled. Every evaluation is bounded: `*`, `**`, `<<` and `%` go
through helpers that stop a result over `MAX_ITEMS` items or characters or an integer over
`MAX_INT_BITS` bits (`str.join` and `range` likewise), before it is built; an expression
is at most `MAX_LENGTH` characters, `MAX_NODES` syntax nodes and `MAX_DEPTH` levels deep.
Constant parts (`'x' * 10**10`) are computed at compile time, so such a bound is met at
validate time; the rest is met at run time (`ExpressionStopped`).

The evaluated expression sees task data as its local names and only `BUILTINS` besides.
"""

from __future__ import annotations

import ast
import copy
import functools
import re
from collections.abc import Iterable, Mapping
from types import CodeType
from typing import Any

from engine.process.whitelist import (
    BOUNDED_OPS,
    DENIED,
    FUNCTIONS,
    GLOBALS,
    MAX_DEPTH,
    MAX_LENGTH,
    MAX_NODES,
    METHODS,
    TYPES,
    ExpressionRefused,
    ExpressionStopped,
)

# --- the check at compile time ----------------------------------------------------------

_ALLOWED = (
    ast.Expression,
    ast.Constant,
    ast.Name,
    ast.Load,
    ast.Attribute,
    ast.Subscript,
    ast.Slice,
    ast.Tuple,
    ast.List,
    ast.Set,
    ast.Dict,
    ast.BoolOp,
    ast.And,
    ast.Or,
    ast.UnaryOp,
    ast.Not,
    ast.USub,
    ast.UAdd,
    ast.Invert,
    ast.BinOp,
    ast.Add,
    ast.Sub,
    ast.Mult,
    ast.Div,
    ast.FloorDiv,
    ast.Mod,
    ast.Pow,
    ast.LShift,
    ast.RShift,
    ast.BitOr,
    ast.BitXor,
    ast.BitAnd,
    ast.Compare,
    ast.Eq,
    ast.NotEq,
    ast.Lt,
    ast.LtE,
    ast.Gt,
    ast.GtE,
    ast.Is,
    ast.IsNot,
    ast.In,
    ast.NotIn,
    ast.IfExp,
    ast.Call,
    ast.keyword,
    ast.JoinedStr,
    ast.FormattedValue,
)
_REFUSED_NODES = {
    ast.Lambda: "lambda is not allowed: an expression cannot define functions",
    ast.NamedExpr: "':=' is not allowed: an expression cannot assign",
    ast.ListComp: "comprehensions are not allowed: an expression cannot loop",
    ast.SetComp: "comprehensions are not allowed: an expression cannot loop",
    ast.DictComp: "comprehensions are not allowed: an expression cannot loop",
    ast.GeneratorExp: "generator expressions are not allowed: an expression cannot loop",
    ast.Starred: "'*' unpacking is not allowed in expressions",
    ast.Await: "await is not allowed in expressions",
    ast.Yield: "yield is not allowed in expressions",
    ast.YieldFrom: "yield is not allowed in expressions",
    ast.MatMult: "'@' is not allowed in expressions",
}
_STATEMENTS = {
    ast.Import: "an import",
    ast.ImportFrom: "an import",
    ast.While: "a loop",
    ast.For: "a loop",
    ast.AsyncFor: "a loop",
    ast.Assign: "an assignment",
    ast.AugAssign: "an assignment",
    ast.AnnAssign: "an assignment",
    ast.FunctionDef: "a function definition",
    ast.AsyncFunctionDef: "a function definition",
    ast.ClassDef: "a class definition",
    ast.Delete: "a del statement",
    ast.Global: "a global statement",
    ast.Nonlocal: "a nonlocal statement",
    ast.Raise: "a raise statement",
    ast.Try: "a try statement",
    ast.With: "a with statement",
    ast.If: "an if statement (write `a if condition else b`)",
}
_CONSTANT_ONLY = (
    ast.Constant,
    ast.BinOp,
    ast.UnaryOp,
    ast.BoolOp,
    ast.Compare,
    ast.IfExp,
    ast.Tuple,
    ast.List,
    ast.Set,
    ast.Dict,
    ast.Load,
    ast.operator,
    ast.unaryop,
    ast.boolop,
    ast.cmpop,
)
_FORMAT_SPEC = re.compile(r"[^{}\d]*(?:\d{1,3}(?!\d)[^{}\d]*){0,2}")  # widths up to 999
_PRIVATE = "names and attributes starting with '_' are private"


def _list(names: Iterable[str]) -> str:
    return ", ".join(sorted(names))


def check(expression: str) -> None:
    """Raise ExpressionRefused if `expression` may not run (lint's entry point)."""
    compiled(expression)


def refusal(expression: str) -> ExpressionRefused | None:
    """The reason `expression` may not run, or None."""
    try:
        compiled(expression)
    except ExpressionRefused as err:
        return err
    return None


@functools.lru_cache(maxsize=4096)
def compiled(expression: str) -> CodeType:
    """Check `expression` and compile it with its operations bounded; cached."""
    if not isinstance(expression, str):
        raise ExpressionRefused(repr(expression), "an expression must be text")
    text = expression.strip()
    if len(text) > MAX_LENGTH:
        raise ExpressionRefused(
            expression, f"it is {len(text):,} characters long; the limit is {MAX_LENGTH:,}"
        )
    if not text:
        raise ExpressionRefused(expression, "it is empty", syntax=True)
    tree = _parse(expression, text)
    nodes = list(ast.walk(tree))
    if len(nodes) > MAX_NODES:
        raise ExpressionRefused(
            expression, f"it has {len(nodes)} syntax nodes; the limit is {MAX_NODES}"
        )
    depth = _depth(tree)
    if depth > MAX_DEPTH:
        raise ExpressionRefused(
            expression, f"it nests {depth} levels deep; the limit is {MAX_DEPTH}"
        )
    problems = _problems(nodes)
    if problems:
        raise ExpressionRefused(expression, min(problems)[1])
    safe = _fold_constants(expression, tree)
    bounded = ast.fix_missing_locations(_Bound(safe).visit(tree))
    return compile(bounded, "<expression>", "eval")


def evaluate(expression: str, names: Mapping[str, Any]) -> Any:
    """Evaluate `expression` with `names` (task data) as its variables."""
    code = compiled(expression)
    try:
        return eval(code, GLOBALS, names)  # noqa: S307 - checked and bounded above
    except ExpressionStopped as err:
        err.expression = expression
        raise


def _parse(expression: str, text: str) -> ast.Expression:
    try:
        return ast.parse(text, mode="eval")
    except (SyntaxError, ValueError, RecursionError, MemoryError) as err:
        first = err
    try:
        module = ast.parse(text, mode="exec")
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        module = None
    if module is not None and module.body:
        statement = next((s for s in module.body if not isinstance(s, ast.Expr)), module.body[0])
        kind = _STATEMENTS.get(type(statement), "a statement")
        if isinstance(statement, ast.Expr):
            kind = "more than one expression"
        raise ExpressionRefused(
            expression,
            f"{kind} is not allowed: a diagram expression is one Python expression, "
            "not a script (no imports, loops, assignments or other statements)",
        )
    detail = getattr(first, "msg", None) or str(first) or type(first).__name__
    raise ExpressionRefused(expression, f"not a valid Python expression: {detail}", syntax=True)


def _depth(tree: ast.AST) -> int:
    deepest, stack = 0, [(tree, 1)]
    while stack:
        node, level = stack.pop()
        deepest = max(deepest, level)
        if level <= MAX_DEPTH:  # deeper is refused anyway: stop counting there
            stack.extend((child, level + 1) for child in ast.iter_child_nodes(node))
    return deepest


def _position(node: ast.AST) -> tuple[int, int, int, int]:
    if not hasattr(node, "lineno"):  # contexts, operators, lambda arguments: after the rest
        return (1 << 30, 0, 0, 0)
    return (
        getattr(node, "lineno", 0),
        getattr(node, "col_offset", 0),
        getattr(node, "end_lineno", 0) or 0,
        getattr(node, "end_col_offset", 0) or 0,
    )


def _problems(nodes: list[ast.AST]) -> list[tuple[tuple[int, ...], str]]:
    """Every rule broken, with its rank and position: the reported one is the first
    private name or denied function in reading order, else the first rule broken."""
    called: set[int] = set()  # Name and Attribute nodes in call position
    type_args: set[int] = set()  # names in isinstance's second argument
    for node in nodes:
        if isinstance(node, ast.Call):
            called.add(id(node.func))
            func = node.func
            if isinstance(func, ast.Name) and func.id == "isinstance" and len(node.args) == 2:
                kinds = node.args[1]
                elements = kinds.elts if isinstance(kinds, ast.Tuple) else [kinds]
                type_args.update(id(e) for e in elements if isinstance(e, ast.Name))
    found: list[tuple[tuple[int, ...], str]] = []
    for node in nodes:
        reason = _rule_broken(node, called, type_args)
        if reason:  # private names and denied functions first: they say what was tried
            serious = _PRIVATE in reason or "cannot reach files" in reason
            found.append(((0 if serious else 1, *_position(node)), reason))
    return found


def _rule_broken(node: ast.AST, called: set[int], type_args: set[int]) -> str | None:
    if not isinstance(node, _ALLOWED):
        return _REFUSED_NODES.get(
            type(node), f"{type(node).__name__} is not allowed in expressions"
        )
    if isinstance(node, ast.Name):
        name = node.id
        if name.startswith("_"):
            return f"'{name}' is not allowed: {_PRIVATE}"
        if name in DENIED:
            return (
                f"'{name}' is not allowed: expressions cannot reach files, code or the "
                f"interpreter ({', '.join(DENIED[:10])}, ...)"
            )
        if name in FUNCTIONS and id(node) not in called:
            if id(node) in type_args and name in TYPES:
                return None
            return (
                f"'{name}' may only be called: an expression cannot pass a function "
                "around (no key=, no map)"
            )
    elif isinstance(node, ast.Attribute):
        if node.attr.startswith("_"):
            return f"'{node.attr}' is not allowed: {_PRIVATE}"
        if id(node) not in called:
            return (
                f"attribute '.{node.attr}' is not allowed: read data with "
                f'x["{node.attr}"]; only these methods may be called: {_list(METHODS)}'
            )
        if node.attr not in METHODS:
            return (
                f"method '.{node.attr}()' is not allowed: expressions may call only the "
                f"methods {_list(METHODS)}"
            )
    elif isinstance(node, ast.Call):
        func = node.func
        if isinstance(func, ast.Name):
            if func.id not in FUNCTIONS and not func.id.startswith("_") and func.id not in DENIED:
                return (
                    f"calling '{func.id}' is not allowed: expressions may call only "
                    f"{_list(FUNCTIONS)}"
                )
        elif not isinstance(func, ast.Attribute):
            return "only named functions and methods may be called"
    elif (
        isinstance(node, ast.BinOp)
        and isinstance(node.op, ast.Mod)
        and (
            isinstance(node.left, ast.JoinedStr)
            or (isinstance(node.left, ast.Constant) and isinstance(node.left.value, str | bytes))
        )
    ):
        return "'%' formatting of strings is not allowed; use an f-string"
    elif isinstance(node, ast.Dict) and any(key is None for key in node.keys):
        return "'**' unpacking is not allowed in expressions"
    elif isinstance(node, ast.keyword):
        if node.arg is None:
            return "'**' unpacking is not allowed in expressions"
        if node.arg.startswith("_"):
            return f"'{node.arg}' is not allowed: {_PRIVATE}"
    elif isinstance(node, ast.FormattedValue) and node.format_spec is not None:
        spec = node.format_spec
        parts = spec.values if isinstance(spec, ast.JoinedStr) else [spec]
        if not all(isinstance(p, ast.Constant) and isinstance(p.value, str) for p in parts):
            return "f-string format specs must be literal"
        literal = "".join(p.value for p in parts)  # type: ignore[attr-defined]
        if len(literal) > 12 or not _FORMAT_SPEC.fullmatch(literal):
            return f"f-string format spec {literal!r} is not allowed (widths up to 999)"
    return None


def _fold_constants(expression: str, tree: ast.Expression) -> set[int]:
    """Compute the constant operations that have a bound (`'x' * 10**10`) now.

    An operation over the bound refuses the expression at compile time (validate time for
    a diagram); one that is within it is left a plain operation (its ids are returned).
    """
    safe: set[int] = set()
    done: set[int] = set()
    for node in ast.walk(tree):
        if id(node) in done or not isinstance(node, ast.BinOp):
            continue
        if type(node.op) not in BOUNDED_OPS:
            continue
        inner = list(ast.walk(node))
        if not all(isinstance(n, _CONSTANT_ONLY) for n in inner):
            continue
        done.update(id(n) for n in inner)
        body = _Bound(set()).visit(copy.deepcopy(node))
        code = compile(ast.fix_missing_locations(ast.Expression(body)), "<constant>", "eval")
        try:
            eval(code, GLOBALS, {})  # noqa: S307 - constants through the bounded helpers
        except ExpressionStopped as err:
            raise ExpressionRefused(expression, err.reason) from None
        except Exception:  # noqa: BLE001 - e.g. 1 % 0: fails at run time as it would anyway
            continue
        safe.update(id(n) for n in inner if isinstance(n, ast.BinOp))
    return safe


class _Bound(ast.NodeTransformer):
    """Routes `*`, `**`, `<<`, `%` and `str.join` through the bounded helpers."""

    def __init__(self, safe: set[int]) -> None:
        self.safe = safe

    def visit_BinOp(self, node: ast.BinOp) -> ast.AST:
        helper = None if id(node) in self.safe else BOUNDED_OPS.get(type(node.op))
        self.generic_visit(node)
        if helper is None:
            return node
        call = ast.Call(ast.Name(helper, ast.Load()), [node.left, node.right], [])
        return ast.copy_location(call, node)

    def visit_Call(self, node: ast.Call) -> ast.AST:
        self.generic_visit(node)
        func = node.func
        if (
            isinstance(func, ast.Attribute)
            and func.attr == "join"
            and len(node.args) == 1
            and not node.keywords
        ):
            call = ast.Call(ast.Name("_df_join", ast.Load()), [func.value, node.args[0]], [])
            return ast.copy_location(call, node)
        return node
