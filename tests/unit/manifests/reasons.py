"""The condition reasons the operator can write, collected from its source (for the README check).

Found by reading the package's modules (wherever they live after a refactor) with ``ast``: every
string given as the ``reason`` of a call, by keyword or by position. The position comes from the
callee's own definition in the package: a function with a ``reason`` parameter (``failure(reason,
message)``) or a class with a ``reason`` field (``Cond(status, reason, message)``). Also ``reason =
"..."`` in a class body (the domain errors) and ``something.reason = "..."``. Left out: plan
``Action`` reasons, also through helpers that return an Action (they go to ``status.plan``, not to a
condition), and ``kopf.event`` reasons (Events).
A reason given as a name (``REASON_X``, ``Reasons.X``) is looked up among the package's string constants.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import jobcenter_operator

CAMEL = re.compile(r"^[A-Z][A-Za-z0-9]*[a-z][A-Za-z0-9]*$")
_NOT_CONDITION_CALLS = {"Action", "event"}


def _name(node: ast.expr) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    return None


def _module_trees() -> list[ast.Module]:
    root = Path(jobcenter_operator.__file__).parent
    return [ast.parse(p.read_text(), filename=str(p)) for p in sorted(root.rglob("*.py"))]


def _assigned_names(stmt: ast.stmt) -> list[str]:
    if isinstance(stmt, ast.Assign):
        return [t.id for t in stmt.targets if isinstance(t, ast.Name)]
    if isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name):
        return [stmt.target.id]
    return []


def _string_constants(trees: list[ast.Module]) -> dict[str, set[str]]:
    """NAME -> values of module- or class-level ``NAME = "CamelCase"`` assignments."""
    out: dict[str, set[str]] = {}
    for tree in trees:
        bodies = [tree.body] + [n.body for n in ast.walk(tree) if isinstance(n, ast.ClassDef)]
        for stmt in (s for body in bodies for s in body):
            value = getattr(stmt, "value", None)
            if isinstance(value, ast.Constant) and isinstance(value.value, str):
                for name in _assigned_names(stmt):
                    out.setdefault(name, set()).add(value.value)
    return out


def _reason_positions(trees: list[ast.Module]) -> dict[str, int]:
    """Callee name -> the position of its ``reason`` argument, from its definition in the package."""
    out: dict[str, int] = {}
    for tree in trees:
        for node in ast.walk(tree):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                params = [a.arg for a in (*node.args.posonlyargs, *node.args.args)]
                builds_action = node.returns is not None and "Action" in ast.unparse(node.returns)
                if "reason" in params and not builds_action:
                    out.setdefault(node.name, params.index("reason"))
            elif isinstance(node, ast.ClassDef):
                init = next((s for s in node.body if isinstance(s, ast.FunctionDef) and s.name == "__init__"), None)
                if init is not None:
                    params = [a.arg for a in init.args.args][1:]  # without self
                else:  # a dataclass or model: positional order is the annotated fields' order
                    params = [s.target.id for s in node.body
                              if isinstance(s, ast.AnnAssign) and isinstance(s.target, ast.Name)]
                if "reason" in params:
                    out.setdefault(node.name, params.index("reason"))
    return out


def _values(node: ast.expr, constants: dict[str, set[str]]) -> set[str]:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return {node.value}
    if isinstance(node, ast.IfExp):
        return _values(node.body, constants) | _values(node.orelse, constants)
    name = _name(node)
    if name is not None and name != "reason":
        return constants.get(name, set())
    return set()  # a reason passed along (e.g. ``error.reason``): its origin is collected where it is set


def condition_reasons() -> set[str]:
    trees = _module_trees()
    constants = _string_constants(trees)
    positions = _reason_positions(trees)
    found: set[str] = set()
    for tree in trees:
        for node in ast.walk(tree):
            if isinstance(node, ast.Call):
                callee = _name(node.func) or ""
                if callee in _NOT_CONDITION_CALLS:
                    continue
                for kw in node.keywords:
                    if kw.arg == "reason":
                        found |= _values(kw.value, constants)
                index = positions.get(callee)
                if index is not None and index < len(node.args):
                    found |= _values(node.args[index], constants)
            elif isinstance(node, ast.ClassDef):
                for stmt in node.body:
                    value = getattr(stmt, "value", None)
                    if value is not None and "reason" in _assigned_names(stmt):
                        found |= _values(value, constants)
            elif isinstance(node, ast.Assign):
                if any(isinstance(t, ast.Attribute) and t.attr == "reason" for t in node.targets):
                    found |= _values(node.value, constants)
    return {r for r in found if CAMEL.match(r)}
