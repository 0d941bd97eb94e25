"""Trainer callbacks: a JSONL log of every logged step, vlmr1's metadata in each checkpoint,
and a PNG of the training curves at the end."""

from __future__ import annotations

import json
from pathlib import Path

from transformers import TrainerCallback

CURVES = ("reward", "reward_std", "loss", "kl", "completions/mean_length", "clip_ratio/region_mean",
          "entropy", "ovd/pred_to_gt_boxes", "grad_norm", "mean_token_accuracy")


class RunFilesCallback(TrainerCallback):
    def __init__(self, output_dir: Path, write_files):
        self.output_dir = Path(output_dir)
        self.write_files = write_files  # callable(folder)
        self.log_path = self.output_dir / "train_log.jsonl"

    def on_log(self, args, state, control, logs=None, **kwargs):
        if state.is_world_process_zero and logs:
            self.output_dir.mkdir(parents=True, exist_ok=True)
            with open(self.log_path, "a", encoding="utf-8") as fh:
                fh.write(json.dumps({"step": state.global_step, **logs}) + "\n")

    def on_save(self, args, state, control, **kwargs):
        if state.is_world_process_zero:
            ckpt = self.output_dir / f"checkpoint-{state.global_step}"
            if ckpt.is_dir():
                self.write_files(ckpt)

    def on_train_end(self, args, state, control, **kwargs):
        if state.is_world_process_zero:
            plot_curves(state.log_history, self.output_dir / "training_curves.png")


def plot_curves(history: list[dict], path: Path) -> Path | None:
    series = {k: [(h["step"], h[k]) for h in history if k in h and "step" in h] for k in CURVES}
    series = {k: v for k, v in series.items() if v}
    if not series:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from vlmr1_cli.io import atomic_open

    n = len(series)
    cols = min(3, n)
    rows = (n + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 3 * rows), squeeze=False)
    for ax, (name, pts) in zip(axes.flat, series.items(), strict=False):
        ax.plot([p[0] for p in pts], [p[1] for p in pts], lw=1.2)
        ax.set_title(name, fontsize=9)
        ax.set_xlabel("step", fontsize=8)
        ax.tick_params(labelsize=7)
    for ax in list(axes.flat)[n:]:
        ax.axis("off")
    fig.tight_layout()
    with atomic_open(path, "wb") as fh:
        fig.savefig(fh, format="png", dpi=90)
    plt.close(fig)
    return path
