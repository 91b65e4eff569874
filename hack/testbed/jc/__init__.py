"""Simulated WebSAM JobCenter (runs inside a node)."""
