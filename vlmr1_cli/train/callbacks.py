"""Trainer callbacks: a JSONL log of every logged step, vlmr1's metadata in each checkpoint,
and a PNG of the training curves at the end."""

from __future__ import annotations

import json
from pathlib import Path

from transformers import TrainerCallback

LOG_FILE = "train_log.jsonl"
CURVES_FILE = "training_curves.png"
# Plotted when logged, in this order; every `rewards/<name>/mean` is added after `reward`.
CURVES = (
    "reward",
    "reward_std",
    "loss",
    "kl",
    "completions/mean_length",
    "completions/clipped_ratio",
    "clip_ratio/region_mean",
    "entropy",
    "ovd/pred_to_gt_boxes",
    "grad_norm",
    "mean_token_accuracy",
)


def trim_jsonl(path: Path, max_step: int | None) -> None:
    """Keep the lines of a per-step JSONL log up to `max_step` (all removed when None): a
    resumed run re-logs the steps after its checkpoint, a fresh run starts a new log."""
    if not path.is_file():
        return
    if max_step is None:
        path.unlink()
        return
    kept = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            if int(json.loads(line).get("step", 0)) <= max_step:
                kept.append(line)
        except (ValueError, AttributeError):
            continue
    from vlmr1_cli.io import atomic_open

    with atomic_open(path) as fh:  # a kill here leaves the old log, never half of it
        fh.write("".join(k + "\n" for k in kept))


class RunFilesCallback(TrainerCallback):
    def __init__(self, output_dir: Path, write_files):
        self.output_dir = Path(output_dir)
        self.write_files = write_files  # callable(folder)
        self.log_path = self.output_dir / LOG_FILE

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
            plot_curves(state.log_history, self.output_dir / CURVES_FILE)


def curve_names(history: list[dict]) -> list[str]:
    keys = {k for h in history for k, v in h.items() if isinstance(v, (int, float))}
    rewards = sorted(k for k in keys if k.startswith("rewards/") and k.endswith("/mean"))
    names = []
    for k in CURVES:
        if k in keys:
            names.append(k)
        if k == "reward":
            names.extend(rewards)
    return names


def plot_curves(history: list[dict], path: Path) -> Path | None:
    series = {
        k: [
            (h["step"], h[k]) for h in history if isinstance(h.get(k), (int, float)) and "step" in h
        ]
        for k in curve_names(history)
    }
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
        ax.plot(
            [p[0] for p in pts], [p[1] for p in pts], lw=1.2, marker="." if len(pts) < 30 else None
        )
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
