"""Benchmarks: each module bench_<area>.py exposes run() -> list of result rows (see bench/__main__.py)."""
