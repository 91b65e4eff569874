"""Node-side test bed: simulated CLUSTERPRO X + WebSAM JobCenter clusters in Linux namespaces.

Entry points: ``python -m hack.testbed`` (CLI), :mod:`hack.testbed.api` (Python API) and
:mod:`hack.testbed.pytest_fixtures` (pytest fixture factory).
"""
