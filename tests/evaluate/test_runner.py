"""The real generation path on the tiny model: every task end to end, LoRA adapters, the
checkpoint's prompt, resuming, pictures, and models found in the local Hub cache."""

from __future__ import annotations

import json
import shutil

import pytest

from vlmr1_cli.errors import UserError
from vlmr1_cli.evaluate.runner import EvalOptions, evaluate
from vlmr1_cli.io import iter_jsonl


def _preds(folder):
    return {p["id"]: p for _, p in iter_jsonl(folder / "predictions.jsonl")}


def _opts(**kw):
    base = {"batch_size": 4, "max_new_tokens": 6}
    base.update(kw)
    return EvalOptions(**base)


@pytest.mark.parametrize("model", ["tiny_model", "lora_adapter"])
@pytest.mark.parametrize("task", ["rec", "coco", "ovdeval", "d3"])
def test_every_task_end_to_end(request, eval_data, tmp_path, task, model):
    """From the tiny checkpoint and from a LoRA adapter on it."""
    out = tmp_path / task
    m = evaluate(str(request.getfixturevalue(model)), eval_data[task], out, opts=_opts(visualize=2))
    records = [r for _, r in iter_jsonl(eval_data[task])]
    preds = _preds(out)
    assert set(preds) == {r["id"] for r in records} and m["n"] == len(records)
    assert all(
        isinstance(p["completion"], str) and isinstance(p["parsed"], bool) for p in preds.values()
    )
    assert m["task"] == task and m["generated_now"] == len(records) and m["resumed"] == 0
    assert (
        m["frame"] == "qwen25_abs"
        and m["backend"] == "hf"
        and m["is_adapter"] == (model == "lora_adapter")
    )
    # the adapter's recipe sets only a REC template; OVD prompts fall back to the paper's
    assert m["prompt_source"] == (
        "checkpoint recipe" if model == "lora_adapter" else "default (paper)"
    )
    assert json.loads((out / "metrics.json").read_text())["primary"] == m["primary"]
    assert len(m["pictures"]) == 2 and all(p.endswith(".png") for p in m["pictures"])


def test_lora_adapter_loads_on_its_base_with_its_recipe_prompt(
    tiny_model, lora_adapter, eval_data, tmp_path
):
    m = evaluate(str(lora_adapter), eval_data["rec"], tmp_path / "lora", opts=_opts())
    assert m["is_adapter"] is True and m["prompt_source"] == "checkpoint recipe"
    base = evaluate(
        str(tiny_model), eval_data["rec"], tmp_path / "base", opts=_opts(template="Find: {problem}")
    )
    lora, plain = _preds(tmp_path / "lora"), _preds(tmp_path / "base")
    # same prompt; the adapter's weights change what the model says
    assert any(lora[k]["completion"] != plain[k]["completion"] for k in lora)
    assert base["prompt_source"] == "--template"


def test_checkpoint_folder_takes_the_prompt_of_its_run(tiny_model, eval_data, tmp_path, scripted):
    run = tmp_path / "run"
    shutil.copytree(tiny_model, run / "checkpoint-4")
    (run / "vlmr1.json").write_text(
        json.dumps({"prompt": {"templates": {"rec": "RUN PROMPT {problem}"}}})
    )
    gen = scripted(lambda row: "x")
    texts = {}
    orig = gen.generate
    gen.generate = lambda rows: (texts.update({r["id"]: r["text"] for r in rows}), orig(rows))[1]
    m = evaluate(str(run / "checkpoint-4"), eval_data["rec"], tmp_path / "o", opts=_opts())
    assert m["prompt_source"] == "checkpoint recipe" and "RUN PROMPT the red box 0" in texts["r0"]


def test_resume_generates_only_missing_and_gives_the_same_metrics(
    tiny_model, eval_data, tmp_path, scripted
):
    from .conftest import oracle_answer

    full = evaluate(str(tiny_model), eval_data["coco"], tmp_path / "full", opts=_opts(batch_size=1))
    # simulate a crash after the first batch: keep one line, tear the next one
    out = tmp_path / "cut"
    out.mkdir()
    lines = (tmp_path / "full" / "predictions.jsonl").read_text().splitlines(keepends=True)
    (out / "predictions.jsonl").write_text(lines[0] + lines[1][:10])
    shutil.copy(tmp_path / "full" / "run.json", out / "run.json")
    resumed = evaluate(str(tiny_model), eval_data["coco"], out, opts=_opts(batch_size=1))
    assert resumed["resumed"] == 1 and resumed["generated_now"] == 2
    assert _preds(out) == _preds(tmp_path / "full")
    skip = {"generated_now", "resumed", "generation_s", "samples_per_s"}
    assert {k: v for k, v in resumed.items() if k not in skip} == {
        k: v for k, v in full.items() if k not in skip
    }
    # a finished run reruns without generating anything
    gen = scripted(oracle_answer)
    again = evaluate(str(tiny_model), eval_data["coco"], out, opts=_opts(batch_size=1))
    assert gen.calls == [] and again["resumed"] == 3 and again["AP"] == full["AP"]


def test_other_settings_refuse_to_mix_with_earlier_predictions(
    tiny_model, eval_data, tmp_path, scripted
):
    scripted(lambda row: "x")
    evaluate(str(tiny_model), eval_data["rec"], tmp_path, opts=_opts())
    with pytest.raises(
        UserError, match=r"holds predictions made with another 'max_new_tokens' \(6\).*--overwrite"
    ):
        evaluate(str(tiny_model), eval_data["rec"], tmp_path, opts=_opts(max_new_tokens=9))
    m = evaluate(
        str(tiny_model), eval_data["rec"], tmp_path, opts=_opts(max_new_tokens=9, overwrite=True)
    )
    assert m["generated_now"] == 6


def test_retrained_weights_make_earlier_predictions_stale(
    tiny_model, eval_data, tmp_path, scripted
):
    import os

    model = tmp_path / "model"
    shutil.copytree(tiny_model, model)
    scripted(lambda row: "x")
    evaluate(str(model), eval_data["rec"], tmp_path / "o", opts=_opts())
    weights = model / "model.safetensors"
    st = weights.stat()
    os.utime(weights, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))  # retrained in place
    m = evaluate(str(model), eval_data["rec"], tmp_path / "o", opts=_opts())
    assert m["generated_now"] == 6 and m["resumed"] == 0
    assert m["discarded_earlier_predictions"] == "the model's weights changed since they were made"
    assert json.loads((tmp_path / "o" / "metrics.json").read_text())[
        "discarded_earlier_predictions"
    ]
    assert len(_preds(tmp_path / "o")) == 6


def test_pictures_show_ground_truth_and_prediction(tiny_model, eval_data, tmp_path, scripted):
    from PIL import Image

    def shifted(row):  # a prediction beside each GT box, so both stay visible
        sol = [
            {**o, "bbox_2d": [v + 3 for v in o["bbox_2d"]]}
            for o in json.loads(row["solution_json"])
        ]
        return "<answer>```json\n" + json.dumps(sol) + "\n```</answer>"

    scripted(shifted)
    m = evaluate(str(tiny_model), eval_data["coco"], tmp_path, opts=_opts(visualize=5))
    assert len(m["pictures"]) == 3  # fewer records than asked for
    with Image.open(m["pictures"][0]) as im:
        img = im.convert("RGB")
    assert img.width >= 480  # small images are upscaled
    colors = {color for _, color in img.getcolors(maxcolors=img.width * img.height)}
    assert (0, 170, 0) in colors and (225, 0, 0) in colors  # GT green, prediction red


def test_sample_protocol_and_max_samples(tiny_model, eval_data, tmp_path, scripted):
    import random

    scripted(lambda row: "x")
    m = evaluate(str(tiny_model), eval_data["rec"], tmp_path / "s", opts=_opts(sample=3, seed=42))
    ids = [f"r{i}" for i in range(6)]
    random.seed(42)
    random.shuffle(ids)  # VLM-R1: random.seed(42); random.shuffle(data); data[:N]
    assert set(_preds(tmp_path / "s")) == set(ids[:3]) and m["sample"] == {"n": 3, "seed": 42}
    evaluate(str(tiny_model), eval_data["rec"], tmp_path / "m", opts=_opts(max_samples=2))
    assert set(_preds(tmp_path / "m")) == {"r0", "r1"}
    with pytest.raises(UserError, match="exclude each other"):
        evaluate(
            str(tiny_model), eval_data["rec"], tmp_path / "x", opts=_opts(max_samples=2, sample=3)
        )


def test_hub_id_from_the_local_cache(tiny_model, eval_data, tmp_path, monkeypatch, scripted):
    from huggingface_hub import constants

    snap = tmp_path / "hub" / "models--someone--tiny-vl" / "snapshots" / "0123abcd"
    shutil.copytree(tiny_model, snap)
    (snap.parent.parent / "refs").mkdir()
    (snap.parent.parent / "refs" / "main").write_text("0123abcd")
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    scripted(lambda row: "x")
    m = evaluate("someone/tiny-vl", eval_data["rec"], tmp_path / "o", opts=_opts())
    assert m["model"] == "someone/tiny-vl" and m["n"] == 6
    with pytest.raises(
        UserError, match=r"model 'someone/absent': not in the local cache and HF_HUB_OFFLINE=1"
    ):
        evaluate("someone/absent", eval_data["rec"], tmp_path / "o2", opts=_opts())
