"""Benchmarks: `python -m bench` (make bench) measures Huddle end to end against real
`huddle serve` processes, with the same machine's ceilings. See docs/benchmarks.md."""
