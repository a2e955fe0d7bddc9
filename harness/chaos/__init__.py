"""Chaos: faults (message, process, network), seeded schedules, experiments and the runner."""
