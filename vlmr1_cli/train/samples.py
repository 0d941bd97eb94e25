"""Sample completions: what the policy wrote at a step, with each reward's score.

The reward wrappers record the rows they score (the process's own share of the step's
completions); at each logging step the main process appends the latest step's rows, up to a
limit, to `samples.jsonl` in the output folder: one JSON object per completion,
`{"step", "id", "task", "completion", "rewards": {name: score}}`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from transformers import TrainerCallback

SAMPLES_FILE = "samples.jsonl"
DEFAULT_LIMIT = 8  # completions per logging step (TRL's num_completions_to_print overrides)


class SampleLog:
    def __init__(self, limit: int = DEFAULT_LIMIT):
        self.limit = limit
        self.step = -1
        self.rows: list[dict] = []

    def record(
        self,
        step: int,
        ids: list | None,
        tasks: list | None,
        completions: list,
        name: str,
        scores: list,
    ) -> None:
        from vlmr1_cli.parsing import completion_text

        if step != self.step or len(self.rows) != len(completions):
            self.step = step
            self.rows = [
                {
                    "step": step,
                    "id": ids[i] if ids else None,
                    "task": tasks[i] if tasks else None,
                    "completion": completion_text(c),
                    "rewards": {},
                }
                for i, c in enumerate(completions)
            ]
        for row, score in zip(self.rows, scores, strict=True):
            if score is not None:
                row["rewards"][name] = float(score)

    def take(self, step: int) -> list[dict]:
        return self.rows[: self.limit] if self.step == step else []


class SampleLogCallback(TrainerCallback):
    def __init__(self, log: SampleLog, output_dir: Path):
        self.log = log
        self.path = Path(output_dir) / SAMPLES_FILE

    def on_log(self, args, state, control, logs=None, **kwargs: Any):
        if not state.is_world_process_zero:
            return
        rows = self.log.take(state.global_step)
        if rows:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with open(self.path, "a", encoding="utf-8") as fh:
                for row in rows:
                    fh.write(json.dumps(row, ensure_ascii=False) + "\n")
