"""OVDEval: its 8 subsets and VLM-R1's 5-group "Overall NMS-AP" (docs/metrics.md §4)."""

from __future__ import annotations

from collections.abc import Mapping

from vlmr1_cli.errors import UserError

OVDEVAL_SUBSETS = (
    "celebrity",
    "logo",
    "landmark",
    "color",
    "material",
    "position",
    "relationship",
    "negation",
)
OVDEVAL_GROUPS = (
    ("celebrity", "logo", "landmark"),
    ("color", "material"),
    ("position",),
    ("relationship",),
    ("negation",),
)


def _normalised(per_subset: Mapping[str, float]) -> dict[str, float]:
    values = {str(k).strip().lower(): float(v) for k, v in per_subset.items()}
    missing = [s for s in OVDEVAL_SUBSETS if s not in values]
    if missing:
        raise UserError(f"OVDEval average needs all 8 subsets; missing: {', '.join(missing)}")
    return values


def ovdeval_average(per_subset: Mapping[str, float]) -> float:
    """VLM-R1's overall NMS-AP: the mean of 5 aspect groups, not of the 8 subsets.

    `(mean(celebrity, logo, landmark) + mean(color, material) + position + relationship
    + negation) / 5`; keys are subset names (case-insensitive), other keys are ignored.
    """
    v = _normalised(per_subset)
    groups = [sum(v[s] for s in group) / len(group) for group in OVDEVAL_GROUPS]
    return sum(groups) / len(groups)


def ovdeval_mean8(per_subset: Mapping[str, float]) -> float:
    """The plain mean of the 8 subsets (for comparison; not the paper's headline)."""
    v = _normalised(per_subset)
    return sum(v[s] for s in OVDEVAL_SUBSETS) / len(OVDEVAL_SUBSETS)
