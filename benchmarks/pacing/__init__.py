"""DialBench: the pacing simulator and benchmark (see benchmarks/pacing/README.md)."""
