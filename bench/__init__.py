"""Benchmarks: `make bench` runs `python -m bench.device_api` (see its docstring)."""
