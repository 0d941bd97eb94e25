"""vlmr1: R1-style GRPO for vision-language grounding (REC and open-vocabulary detection)."""

__version__ = "0.1.0"
