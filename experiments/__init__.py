"""Research experiments: does GRPO learn, and how much could it gain (BENCHMARKS.md, "Learning").

Run each from the repository root as a module: `python -m experiments.learning`,
`python -m experiments.headroom`. The timing benchmarks live in `bench/`.
"""
