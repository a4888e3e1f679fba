"""Benchmarks, run by hand or by CI with small sizes (`--quick`); never timed assertions."""
