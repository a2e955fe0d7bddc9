"""Chaos: faults injected into a run, recorded in its history."""
