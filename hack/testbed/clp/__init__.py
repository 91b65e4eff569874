"""Simulated CLUSTERPRO X for Linux: clp.conf model, cluster daemon and node-side clp* tools."""
