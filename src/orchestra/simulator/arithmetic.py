"""Simple arithmetic in a question, solved safely (an AST walk, never ``eval``)."""

from __future__ import annotations

import ast
import operator
import re

_OPS = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv,
    ast.Mod: operator.mod,
    ast.Pow: operator.pow,
}
_EXPR = re.compile(r"[-+]?\(?\d[\d\s.+\-*/%()x\u00d7\u00f7^]*\d\)?")


def _evaluate(node: ast.AST) -> float:
    if isinstance(node, ast.Constant) and isinstance(node.value, int | float):
        return float(node.value)
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        return -_evaluate(node.operand)
    if isinstance(node, ast.BinOp) and type(node.op) in _OPS:
        right = _evaluate(node.right)
        if isinstance(node.op, ast.Pow) and abs(right) > 12:
            raise ValueError("exponent too large")
        return float(_OPS[type(node.op)](_evaluate(node.left), right))
    raise ValueError("not arithmetic")


def solve_arithmetic(text: str) -> float | None:
    """The value of the first arithmetic expression in ``text``, if there is one."""
    for match in _EXPR.finditer(text):
        expr = match.group().replace("\u00d7", "*").replace("x", "*").replace("\u00f7", "/")
        expr = expr.replace("^", "**")
        if not any(op in expr for op in "+-*/%"):
            continue
        try:
            return _evaluate(ast.parse(expr.strip(), mode="eval").body)
        except (SyntaxError, ValueError, ZeroDivisionError, OverflowError):
            continue
    return None


def fmt(value: float) -> str:
    return str(int(value)) if value == int(value) else f"{value:.4g}"
