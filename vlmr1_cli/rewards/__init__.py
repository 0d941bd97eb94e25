"""Rule-based rewards with TRL's signature: `get_reward(name)` and the built-in names.

The training layer applies per-reward weights; this package provides the registry.
"""

from vlmr1_cli.rewards.registry import REWARD_NAMES, get_reward

__all__ = ["REWARD_NAMES", "get_reward"]
