"""Pure renderers: exec/monitor scripts, daemon.conf edits and clp.conf edits.

No I/O here: every function takes text (or a spec) and returns text or a frozen value, so the
planner can compare desired and observed state and the node layer only copies bytes.
"""
