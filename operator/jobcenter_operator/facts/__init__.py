"""Facts: what a node reports, read in one SSH round trip and parsed into frozen models.

Pure package: each module holds sh sections (argv text) and parsers; no I/O happens here.
"""

from .gather import ProbeTarget, is_probe_argv, parse_probe, probe_argv
from .model import NodeFacts
from .sections import ProbeOutputError

__all__ = ["NodeFacts", "ProbeOutputError", "ProbeTarget", "is_probe_argv", "parse_probe", "probe_argv"]
