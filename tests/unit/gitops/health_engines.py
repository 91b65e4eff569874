"""The two GitOps health engines, run on our own artifacts the way the tools run them.

* Argo CD: the Lua from ``manifests/gitops/argocd/argocd-cm-health.yaml`` on Lua 5.1 (lupa's ``lua51``,
  the language version of the gopher-lua Argo CD embeds), with the object as the global ``obj``, JSON
  arrays as 1-based tables and nulls as nil, as Argo CD converts it, and only the libraries Argo CD opens
  for health scripts (base, table, package and a safe os: no string, math, io or debug library).
* Flux: ``healthCheckExprs`` from ``manifests/gitops/flux-kustomization.yaml`` as fluxcd/pkg's
  ``runtime/cel.StatusEvaluator`` does it: status.observedGeneration != metadata.generation is
  InProgress before any expression; then inProgress, failed, current, the first true one decides; none
  true is InProgress; an evaluation error is an error (Flux reports the resource Unknown). The object's
  top-level fields are the CEL variables. cel-go refuses a reference to an absent top-level field (even
  inside ``has()``: "no such attribute(s)"), where celpy would answer false, so such a reference is an
  error here too.
"""

from __future__ import annotations

import pathlib
import re
from collections.abc import Mapping
from typing import Any

import celpy
import lupa.lua51 as lua51
import yaml

REPO = pathlib.Path(__file__).resolve().parents[3]
ARGOCD_CM = REPO / 'manifests' / 'gitops' / 'argocd' / 'argocd-cm-health.yaml'
FLUX_KUSTOMIZATION = REPO / 'manifests' / 'gitops' / 'flux-kustomization.yaml'
GROUP = 'jobcenter.clusterpro.io'
ARGO_STATUSES = {'Healthy', 'Progressing', 'Suspended', 'Degraded', 'Missing', 'Unknown'}


class EngineError(Exception):
    """The engine could not decide (Argo CD: a Lua error; Flux: a CEL evaluation error)."""


def argo_lua(kind: str) -> str:
    data = yaml.safe_load(ARGOCD_CM.read_text())['data']
    lua: str = data[f'resource.customizations.health.{GROUP}_{kind}']
    return lua


def flux_exprs(kind: str) -> dict[str, str]:
    checks = yaml.safe_load(FLUX_KUSTOMIZATION.read_text())['spec']['healthCheckExprs']
    found = [c for c in checks if c['kind'] == kind and c['apiVersion'].startswith(f'{GROUP}/')]
    assert len(found) == 1, f'one healthCheckExprs entry for {kind}'
    return {k: found[0][k] for k in ('inProgress', 'failed', 'current') if k in found[0]}


# util/lua (runLua) opens package, base, table and a safe os (time, date, clock, difftime) only; string
# methods ("x":upper()) do not exist there either, so the string metatable loses its __index too.
_ARGO_SANDBOX = """
local safe_os = {time = os.time, date = os.date, clock = os.clock, difftime = os.difftime}
debug.getmetatable("").__index = nil
string, math, io, debug, coroutine, os = nil, nil, nil, nil, nil, safe_os
"""


def _to_lua(runtime: Any, value: Any) -> Any:
    if isinstance(value, Mapping):
        table = runtime.table()
        for key, item in value.items():
            if item is not None:  # a JSON null is nil in Argo CD's conversion
                table[key] = _to_lua(runtime, item)
        return table
    if isinstance(value, list):
        table = runtime.table()
        for index, item in enumerate(value, start=1):
            table[index] = _to_lua(runtime, item)
        return table
    return value


def argo_health(obj: Mapping[str, Any], lua: str) -> tuple[str, str]:
    """(status, message) as Argo CD's custom health check computes it."""
    runtime = lua51.LuaRuntime(register_eval=False, unpack_returned_tuples=False)
    assert runtime.eval('_VERSION') == 'Lua 5.1'
    runtime.execute(_ARGO_SANDBOX)
    runtime.globals().obj = _to_lua(runtime, obj)
    try:
        result = runtime.execute(lua)
    except lua51.LuaError as exc:
        raise EngineError(f'Lua: {exc}') from exc
    status = result['status'] if result is not None else None
    if status not in ARGO_STATUSES:
        raise EngineError(f'Lua returned an invalid health status {status!r}')
    return str(status), str(result['message'] or '')


_ENV = celpy.Environment()
_STRINGS = re.compile(r"'[^']*'|\"[^\"]*\"")
_BOUND = re.compile(r'\b(?:all|exists|exists_one|filter|map)\(\s*([A-Za-z_]\w*)\s*,')
_TOP_LEVEL = re.compile(r'(?<![.\w])([A-Za-z_]\w*)\s*(?=\.)')


def top_level_references(expression: str) -> set[str]:
    """Free identifiers that are selected from (``status`` in ``has(status.x)``), not macro variables."""
    code = _STRINGS.sub("''", expression)
    return set(_TOP_LEVEL.findall(code)) - set(_BOUND.findall(code))


def _evaluate(expression: str, obj: Mapping[str, Any]) -> bool:
    for name in sorted(top_level_references(expression)):
        if name not in obj:  # cel-go: no such attribute(s), whatever has() or && around it
            raise EngineError(f"failed to evaluate the CEL expression '{expression}': no such attribute(s): {name}")
    activation = {key: celpy.json_to_cel(value) for key, value in obj.items()}
    try:
        result = _ENV.program(_ENV.compile(expression)).evaluate(activation)
    except Exception as exc:  # celpy's parse and evaluation errors have no common base
        raise EngineError(f"failed to evaluate the CEL expression '{expression}': {exc}") from exc
    if not isinstance(result, celpy.celtypes.BoolType):
        raise EngineError(f"failed to evaluate CEL expression as boolean: '{expression}'")
    return bool(result)


def flux_health(obj: Mapping[str, Any], exprs: Mapping[str, str]) -> str:
    """Flux's verdict (kstatus vocabulary) from healthCheckExprs."""
    observed = (obj.get('status') or {}).get('observedGeneration')
    generation = (obj.get('metadata') or {}).get('generation')
    if observed is not None and generation is not None and observed != generation:
        return 'InProgress'
    for key, verdict in (('inProgress', 'InProgress'), ('failed', 'Failed'), ('current', 'Current')):
        if key in exprs and _evaluate(exprs[key], obj):
            return verdict
    return 'InProgress'
