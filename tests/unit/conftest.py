"""The fast tier: no root, no network. This directory is on sys.path (pytest puts a conftest's
directory there), so every unit test imports the shared builders: ``plan_factory`` (NodeFacts of
a two-node cluster) and ``fake_nodes`` (a scripted Runner answering like those nodes)."""
