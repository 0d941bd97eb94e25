"""The model card: Hub metadata, the sections, and the usage block that push rewrites."""

from __future__ import annotations

from pathlib import Path

from vlmr1_cli.export import card
from vlmr1_cli.export.source import MetricsFile


def _info(**over) -> card.CardInfo:
    base = dict(
        name="my-model",
        model_id="./my-model",
        base_model="Qwen/Qwen2.5-VL-3B-Instruct",
        datasets=["omlab/OVDEval", "data/refcoco/train.jsonl", "/home/me/secret/data.jsonl"],
        family="qwen2_5_vl",
        task="rec",
        method="grpo",
        weights="full model",
        dtype="bfloat16",
        source="`checkpoint-500` of training run `r1`",
        frame="qwen25_abs",
        prompt={"templates": {"rec": "Locate {problem}."}},
        recipe_name="vlmr1_recipe.yaml",
        recipe_text="method: grpo\n",
        metrics=[
            MetricsFile(
                Path("/x/eval-a/metrics.json"),
                "eval-a/metrics.json",
                "rec",
                "data/eval.jsonl",
                {"acc": 0.71, "mean_iou": 0.6, "n": 200},
            )
        ],
    )
    base.update(over)
    return card.CardInfo(**base)


def test_card_metadata_and_sections():
    from huggingface_hub import ModelCard

    text = card.render(_info())
    parsed = ModelCard(text)
    assert parsed.data.base_model == "Qwen/Qwen2.5-VL-3B-Instruct"
    assert parsed.data.datasets == ["omlab/OVDEval"]  # local files are not Hub datasets
    assert parsed.data.library_name == "transformers"
    assert "vlmr1" in parsed.data.tags and "grpo" in parsed.data.tags
    assert "From `eval-a/metrics.json` (task `rec`" in text
    assert "| acc | 0.7100 |" in text and "| n | 200 |" in text
    assert "```yaml\nmethod: grpo\n```" in text
    assert "Locate {problem}." in text
    assert "/home/me" not in text  # absolute local paths are shown by name only
    assert '"./my-model"' in text


def test_card_without_metrics_or_recipe_says_so():
    text = card.render(
        _info(metrics=[], recipe_name=None, recipe_text=None, base_model="/local/base")
    )
    assert "No `metrics.json` was found" in text
    assert "No recipe file" in text
    from huggingface_hub import ModelCard

    assert ModelCard(text).data.base_model is None  # a local path is no Hub base model


def test_adapter_card_shows_peft_usage():
    text = card.render(_info(weights="LoRA adapter", adapter_base="Qwen/Qwen2.5-VL-3B-Instruct"))
    assert "PeftModel.from_pretrained(base" in text
    assert "library_name: peft" in text


def test_with_model_id_rewrites_only_the_usage_block():
    text = card.render(_info())
    out = card.with_model_id(text, "org/name", None)
    assert '"org/name"' in out and '"./my-model"' not in out
    assert "hf download org/name" in out
    head, tail = text.split(card.USAGE_START)
    assert out.startswith(head)
    assert card.with_model_id(out, "org/name", None) == out
    assert card.with_model_id("no markers", "org/name", None) == "no markers"


def test_hub_id_detection(tmp_path):
    assert card.looks_like_hub_id("Qwen/Qwen2.5-VL-3B-Instruct")
    assert not card.looks_like_hub_id("tiny-qwen2.5-vl")
    assert not card.looks_like_hub_id("data/train.jsonl")
    (tmp_path / "org").mkdir()
    (tmp_path / "org" / "name").mkdir()
    assert not card.looks_like_hub_id(str(tmp_path / "org" / "name"))


def test_dataset_names_accepts_strings_and_objects():
    assert card.dataset_names(["a.jsonl", {"path": "b.jsonl"}, {"x": 1}, 3]) == [
        "a.jsonl",
        "b.jsonl",
        '{"x": 1}',
    ]
    assert card.dataset_names(None) == []
