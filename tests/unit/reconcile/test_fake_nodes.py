"""The fake nodes answer the facts probe exactly as the probe's parsers read a real node."""

from __future__ import annotations

import pytest
from fake_nodes import probe_stdout
from plan_factory import AGENT, CLASSIC, MANAGER, NODES, apply, cluster

from jobcenter_operator.api.site import JobCenterSiteSpec
from jobcenter_operator.facts import parse_probe
from jobcenter_operator.plan import plan_site


@pytest.mark.parametrize("spec", [CLASSIC, MANAGER, AGENT], ids=["classic", "manager", "agent"])
def test_probe_stdout_is_read_back_as_the_same_facts(spec: JobCenterSiteSpec) -> None:
    fresh = cluster(spec=spec)
    converged = apply(spec, fresh, plan_site(spec, NODES, fresh).actions)
    for facts in (fresh, converged):
        for name, f in facts.items():
            parsed = parse_probe(name, probe_stdout(f, "n0nce"), "n0nce")
            assert parsed.clp_conf.text == f.clp_conf.text and parsed.clp_conf.sha256
            assert parsed.model_copy(update={"clp_conf": f.clp_conf}) == f
