"""The condition reasons the operator can write, collected from its source (for the README check).

Found by reading the package's modules (wherever they live after a refactor) with ``ast``:
- ``Cond(status, "Reason", ...)`` and any call named ``*Cond``/``*Condition`` (2nd argument or ``reason=``);
- ``reason=...`` keyword arguments (PreflightFailure, ProcessHealth, ...), except plan ``Action``\\ s (their
  reasons go to ``status.plan``, not to a condition) and ``kopf.event`` (Event reasons);
- ``reason = "..."`` in a class body (the domain errors) and ``something.reason = "..."`` assignments.
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


def _string_constants(trees: list[ast.Module]) -> dict[str, set[str]]:
    """NAME -> values of module- or class-level ``NAME = "CamelCase"`` assignments."""
    out: dict[str, set[str]] = {}
    for tree in trees:
        bodies = [tree.body] + [n.body for n in ast.walk(tree) if isinstance(n, ast.ClassDef)]
        for body in bodies:
            for stmt in body:
                if isinstance(stmt, ast.Assign | ast.AnnAssign) and isinstance(stmt.value, ast.Constant):
                    targets = stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target]
                    for t in targets:
                        if isinstance(t, ast.Name) and isinstance(stmt.value.value, str):
                            out.setdefault(t.id, set()).add(stmt.value.value)
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
                if callee.endswith(("Cond", "Condition")) and len(node.args) >= 2:
                    found |= _values(node.args[1], constants)
            elif isinstance(node, ast.ClassDef):
                for stmt in node.body:
                    if isinstance(stmt, ast.Assign | ast.AnnAssign) and stmt.value is not None:
                        targets = stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target]
                        if any(isinstance(t, ast.Name) and t.id == "reason" for t in targets):
                            found |= _values(stmt.value, constants)
            elif isinstance(node, ast.Assign):
                if any(isinstance(t, ast.Attribute) and t.attr == "reason" for t in node.targets):
                    found |= _values(node.value, constants)
    return {r for r in found if CAMEL.match(r)}
