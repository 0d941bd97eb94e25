"""The model card (README.md) written beside exported weights.

Built with huggingface_hub's `ModelCard`/`ModelCardData`: Hub metadata in the YAML header
(base model, datasets, tags), then what the model is, where it came from, the recipe, the
prompt, the evaluation numbers found for the checkpoint (naming their file) and how to
load it. The usage block sits between markers so `push` can name the Hub repo in it.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

from vlmr1_cli.export.source import MetricsFile

USAGE_START = "<!-- vlmr1:usage -->"
USAGE_END = "<!-- /vlmr1:usage -->"
MAX_RECIPE_LINES = 300  # longer recipes are cited, not inlined
_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")
_DATA_SUFFIXES = (".json", ".jsonl", ".parquet", ".csv", ".arrow", ".yaml", ".yml", ".txt")


@dataclass
class CardInfo:
    name: str  # the export folder's name
    model_id: str  # how the usage snippet refers to the model (folder path or Hub id)
    base_model: str | None
    datasets: list[str]
    family: str | None
    task: str | None
    method: str | None  # "grpo", "sft", ... (vlmr1.json "method")
    weights: str  # "full model", "LoRA adapter merged into the base", "LoRA adapter"
    dtype: str | None
    source: str  # e.g. "checkpoint-500 of training run `grpo-rec`"
    adapter_base: str | None = None  # for adapter exports: what PEFT loads as the base
    frame: str | None = None
    prompt: object = None
    recipe_name: str | None = None
    recipe_text: str | None = None
    metrics: list[MetricsFile] = field(default_factory=list)
    merge_checks: list[str] = field(default_factory=list)


def looks_like_hub_id(value: str) -> bool:
    """'org/name' that is not a local path or a data file."""
    return (
        bool(_HUB_ID.match(value))
        and not value.lower().endswith(_DATA_SUFFIXES)
        and not Path(value).exists()
    )


def display_name(value: str) -> str:
    """Hub ids and relative paths as given; absolute local paths by their last component."""
    if looks_like_hub_id(value):
        return f"[{value}](https://huggingface.co/{value})"
    p = Path(value)
    return f"`{p.name}` (local)" if p.is_absolute() else f"`{value}`"


def dataset_names(entries: object) -> list[str]:
    """vlmr1.json "datasets": strings, or objects with a name/path/id."""
    if not isinstance(entries, list):
        return []
    out = []
    for e in entries:
        if isinstance(e, str):
            out.append(e)
        elif isinstance(e, dict):
            v = next(
                (e[k] for k in ("name", "id", "path", "data") if isinstance(e.get(k), str)), None
            )
            out.append(v if v is not None else json.dumps(e, sort_keys=True))
    return out


def usage_block(model_id: str, adapter_base: str | None) -> str:
    if adapter_base:
        load = (
            "from peft import PeftModel\n"
            "from transformers import AutoModelForImageTextToText, AutoProcessor\n\n"
            f'base = AutoModelForImageTextToText.from_pretrained("{adapter_base}")\n'
            f'model = PeftModel.from_pretrained(base, "{model_id}")\n'
            f'processor = AutoProcessor.from_pretrained("{model_id}")\n'
        )
    else:
        load = (
            "from transformers import AutoModelForImageTextToText, AutoProcessor\n\n"
            f'model = AutoModelForImageTextToText.from_pretrained("{model_id}")\n'
            f'processor = AutoProcessor.from_pretrained("{model_id}")\n'
        )
    fetch = ""
    if looks_like_hub_id(model_id):
        fetch = f"hf download {model_id}  # optional: vlmr1 also downloads it on first use\n"
    return (
        f"{USAGE_START}\n## Usage\n\n```python\n{load}```\n\n"
        "Score it on a JSONL evaluation set (schema v1) with vlmr1; the prompt template and "
        "coordinate frame come from `vlmr1.json`:\n\n"
        f"```bash\n{fetch}vlmr1 evaluate --model {model_id} --data eval.jsonl --output results/\n```\n"
        f"{USAGE_END}"
    )


def with_model_id(card_text: str, model_id: str, adapter_base: str | None) -> str:
    """The card with its usage block re-rendered for `model_id` (unchanged if no block)."""
    start, end = card_text.find(USAGE_START), card_text.find(USAGE_END)
    if start < 0 or end < start:
        return card_text
    return (
        card_text[:start] + usage_block(model_id, adapter_base) + card_text[end + len(USAGE_END) :]
    )


def _fmt(v: float) -> str:
    return str(v) if isinstance(v, int) else f"{v:.4f}"


def _metrics_section(files: list[MetricsFile]) -> str:
    if not files:
        return (
            "## Evaluation\n\nNo `metrics.json` was found for this checkpoint. Score it with "
            "`vlmr1 evaluate` (see Usage).\n"
        )
    parts = ["## Evaluation\n"]
    for mf in files:
        about = [f"task `{mf.task}`"] if mf.task else []
        if mf.data:
            about.append(f"data {display_name(mf.data)}")
        task = f" ({', '.join(about)})" if about else ""
        parts.append(f"From `{mf.label}`{task}:\n\n| metric | value |\n|---|---|")
        parts.extend(f"| {k} | {_fmt(v)} |" for k, v in mf.values.items())
        parts.append("")
    return "\n".join(parts)


def card_data(info: CardInfo):
    from huggingface_hub import ModelCardData

    tags = ["vlmr1", "vision-language", "grounding"]
    if info.method:
        tags.append(info.method)
    if info.task:
        tags.extend(t.strip() for t in info.task.split(","))
    if info.family:
        tags.append(info.family)
    if info.adapter_base:
        tags += ["lora", "peft"]
    hub_datasets = [d for d in info.datasets if looks_like_hub_id(d)]
    base = info.base_model if info.base_model and looks_like_hub_id(info.base_model) else None
    return ModelCardData(
        base_model=base,
        datasets=hub_datasets or None,
        library_name="peft" if info.adapter_base else "transformers",
        pipeline_tag="image-text-to-text",
        tags=tags,
        model_name=info.name,
    )


def render(info: CardInfo) -> str:
    """The README.md text."""
    from huggingface_hub import ModelCard

    base = display_name(info.base_model) if info.base_model else "an unrecorded base model"
    rows = [("Base model", base), ("Weights", info.weights), ("Exported from", info.source)]
    if info.dtype:
        rows.append(("dtype", f"`{info.dtype}`"))
    if info.family:
        rows.append(("Model family", f"`{info.family}`"))
    if info.method:
        rows.append(("Training method", f"`{info.method}`"))
    if info.task:
        rows.append(("Task", f"`{info.task}`"))
    if info.frame:
        rows.append(("Box coordinate frame", f"`{info.frame}`"))
    details = "\n".join(["| | |", "|---|---|", *(f"| {k} | {v} |" for k, v in rows)])

    data = (
        "\n".join(f"- {display_name(d)}" for d in info.datasets)
        if info.datasets
        else "Not recorded in `vlmr1.json`."
    )

    if info.recipe_name and info.recipe_text is not None:
        from vlmr1_cli.secrets import redact_recipe_text

        recipe = f"The resolved training recipe is included as `{info.recipe_name}`."
        recipe_text = redact_recipe_text(info.recipe_text)  # the card is public on the Hub
        if recipe_text.count("\n") <= MAX_RECIPE_LINES:
            recipe += (
                f"\n\n<details><summary>{info.recipe_name}</summary>\n\n```yaml\n"
                f"{recipe_text.rstrip()}\n```\n\n</details>"
            )
    else:
        recipe = "No recipe file was found in the training output."

    sections = [
        f"# {info.name}\n",
        f"A vision-language grounding model fine-tuned from {base} with vlmr1"
        + (f" ({info.method.upper()})" if info.method else "")
        + ".\n",
        f"## Model details\n\n{details}\n",
        f"## Training data\n\n{data}\n",
        f"## Training recipe\n\n{recipe}\n",
    ]
    if info.prompt:
        prompt = (
            info.prompt
            if isinstance(info.prompt, str)
            else json.dumps(info.prompt, indent=2, ensure_ascii=False)
        )
        sections.append(
            "## Prompt\n\nThe prompt used in training and evaluation (from `vlmr1.json`):"
            f"\n\n```\n{prompt}\n```\n"
        )
    sections.append(_metrics_section(info.metrics))
    if info.merge_checks:
        sections.append(
            "## Merge check\n\nThe LoRA merge was verified against the adapter model "
            "on a sample image and prompt:\n\n"
            + "\n".join(f"- {c}" for c in info.merge_checks)
            + "\n"
        )
    sections.append(usage_block(info.model_id, info.adapter_base) + "\n")

    header = card_data(info).to_yaml()
    return str(ModelCard(f"---\n{header}\n---\n\n" + "\n".join(sections)))
