"""The one machine-readable line every benchmark prints last, read by bench/run_all.py."""

from __future__ import annotations

import json


def emit(name: str, baseline: str, ours: str, ratio: float, target: str, ok: bool, **extra) -> None:
    """`SUMMARY {...}`: what was compared, the figures, the ratio and whether the target held."""
    print(
        "SUMMARY "
        + json.dumps(
            {
                "benchmark": name,
                "baseline": baseline,
                "ours": ours,
                "ratio": round(float(ratio), 3),
                "target": target,
                "met": bool(ok),
                **extra,
            }
        ),
        flush=True,
    )
