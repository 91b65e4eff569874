"""Benchmarks of issue 15: the operator against the floor and Ansible on the same test bed (see README.md)."""
