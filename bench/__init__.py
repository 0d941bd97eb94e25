"""Timing benchmarks of vlmr1 against their baselines (BENCHMARKS.md).

Run each from the repository root as a module, e.g. `python -m bench.bench_eval`;
`python -m bench.run_all` runs them all. The learning experiments live in `experiments/`.
"""
