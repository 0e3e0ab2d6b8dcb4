"""Benchmarks (``python -m benchmarks`` / ``make bench``): numbers go to ``outputs/bench/``.

Speed is measured here, never asserted in tests. Synthetic data are not needed: the benchmarks run the
real notebooks on the embedded data.
"""
