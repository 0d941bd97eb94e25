"""`--backend vllm` against a stand-in `vllm` package, so the backend's plumbing is tested where
vLLM cannot be installed (CPU-only CI): the stand-in implements the slice of vLLM's offline API
the backend calls (`LLM`, `SamplingParams`, `LoRARequest`) with transformers' greedy `generate`,
one prompt at a time, and records what it was given. The backend must then give the same
completions and metrics as the Hugging Face backend, hand over images that vLLM's own resize
leaves unchanged, and serve a LoRA adapter on its base."""

from __future__ import annotations

import json
import sys
import textwrap

import pytest

FAKE_VLLM = '''
"""Test stand-in for vLLM's offline API (tests/evaluate/test_vllm_backend.py)."""
import json
import os

CALLS = {"llm": [], "generate": [], "image_sizes": []}


class SamplingParams:
    def __init__(self, temperature=1.0, max_tokens=16, skip_special_tokens=True, **kw):
        self.temperature, self.max_tokens, self.skip_special_tokens = temperature, max_tokens, skip_special_tokens


class _Completion:
    def __init__(self, text):
        self.text = text


class _Output:
    def __init__(self, text):
        self.outputs = [_Completion(text)]


class LLM:
    def __init__(self, model, tokenizer=None, **kwargs):
        from transformers import AutoModelForImageTextToText

        from vlmr1_cli.models.loading import load_processor_for  # AutoProcessor without torchvision

        CALLS["llm"].append({"model": model, "tokenizer": tokenizer, **kwargs})
        self.model = AutoModelForImageTextToText.from_pretrained(model).eval()
        self.processor = load_processor_for(tokenizer or model)[0]
        self.mm = kwargs.get("mm_processor_kwargs") or {}
        self.adapters = {}

    def _model_for(self, lora):
        if lora is None:
            return self.model
        if lora.lora_path not in self.adapters:
            from peft import PeftModel
            from transformers import AutoModelForImageTextToText

            base = AutoModelForImageTextToText.from_pretrained(self.model.name_or_path)
            self.adapters[lora.lora_path] = PeftModel.from_pretrained(base, lora.lora_path).eval()
        return self.adapters[lora.lora_path]

    def generate(self, prompts, params, lora_request=None, use_tqdm=True):
        import torch
        from vlmr1_cli.geometry import smart_resize

        assert params.temperature == 0.0, "the backend must decode greedily"
        CALLS["generate"].append({"n": len(prompts), "lora": getattr(lora_request, "lora_path", None)})
        model = self._model_for(lora_request)
        outs = []
        for p in prompts:
            images = (p.get("multi_modal_data") or {}).get("image") or None
            for im in images or []:
                # What vLLM's Qwen processor would resize the image to, under the limits given.
                h, w = smart_resize(im.height, im.width, 28, self.mm["min_pixels"], self.mm["max_pixels"])
                CALLS["image_sizes"].append([im.width, im.height, w, h])
            inputs = self.processor(text=[p["prompt"]], images=images, return_tensors="pt")
            with torch.inference_mode():
                ids = model.generate(**inputs, do_sample=False, max_new_tokens=params.max_tokens,
                                     temperature=None, top_p=None, top_k=None)
            new = ids[0, inputs["input_ids"].shape[1]:]
            outs.append(_Output(self.processor.tokenizer.decode(new, skip_special_tokens=params.skip_special_tokens)))
        with open(os.environ["FAKE_VLLM_LOG"], "w") as f:
            json.dump(CALLS, f)
        return outs
'''

LORA_REQUEST = """
class LoRARequest:
    def __init__(self, lora_name, lora_int_id, lora_path):
        self.lora_name, self.lora_int_id, self.lora_path = lora_name, lora_int_id, lora_path
"""


@pytest.fixture
def fake_vllm(tmp_path, monkeypatch):
    root = tmp_path / "fake_site"
    (root / "vllm" / "lora").mkdir(parents=True)
    (root / "vllm" / "__init__.py").write_text(textwrap.dedent(FAKE_VLLM))
    (root / "vllm" / "lora" / "__init__.py").write_text("")
    (root / "vllm" / "lora" / "request.py").write_text(textwrap.dedent(LORA_REQUEST))
    log = tmp_path / "fake_vllm.json"
    monkeypatch.setenv("FAKE_VLLM_LOG", str(log))
    monkeypatch.syspath_prepend(str(root))
    for name in [m for m in sys.modules if m == "vllm" or m.startswith("vllm.")]:
        monkeypatch.delitem(sys.modules, name)
    yield log
    for name in [m for m in sys.modules if m == "vllm" or m.startswith("vllm.")]:
        sys.modules.pop(name, None)


def _predictions(out):
    return [json.loads(line) for line in (out / "predictions.jsonl").read_text().splitlines()]


@pytest.mark.parametrize("model", ["tiny_model", "lora_adapter"])
@pytest.mark.parametrize("task", ["rec", "coco"])
def test_vllm_backend_matches_hf_backend(model, task, fake_vllm, eval_data, tmp_path, request):
    from vlmr1_cli.evaluate.runner import EvalOptions, evaluate

    ref = request.getfixturevalue(model)
    base = dict(max_new_tokens=12)
    hf = evaluate(
        str(ref), eval_data[task], tmp_path / "hf", opts=EvalOptions(batch_size=1, **base)
    )
    vl = evaluate(
        str(ref),
        eval_data[task],
        tmp_path / "vllm",
        opts=EvalOptions(batch_size=4, backend="vllm", **base),
    )

    assert vl["backend"] == "vllm" and vl["n"] == hf["n"]
    skip = {"backend", "generation_s", "samples_per_s"}
    assert {k: v for k, v in vl.items() if k not in skip} == {
        k: v for k, v in hf.items() if k not in skip
    }
    assert _predictions(tmp_path / "vllm") == _predictions(tmp_path / "hf")

    calls = json.loads(fake_vllm.read_text())
    (llm,) = calls["llm"]
    limits = hf["pixel_limits"]
    assert llm["mm_processor_kwargs"] == {
        "min_pixels": limits["min_pixels"],
        "max_pixels": limits["max_pixels"],
    }
    assert llm["limit_mm_per_prompt"] == {"image": 1} and llm["trust_remote_code"] is False
    # Images arrive at their model-input size: vLLM's own resize leaves them as they are.
    assert calls["image_sizes"] and all(
        w == rw and h == rh for w, h, rw, rh in calls["image_sizes"]
    )
    assert sum(g["n"] for g in calls["generate"]) == hf["n"]
    if model == "lora_adapter":
        assert llm["enable_lora"] is True and llm["max_lora_rank"] in (8, 16, 32)
        assert {g["lora"] for g in calls["generate"]} == {str(ref)}
        assert llm["model"] != str(ref)  # the base's weights, with the adapter on top
    else:
        assert "enable_lora" not in llm and {g["lora"] for g in calls["generate"]} == {None}


def test_vllm_backend_names_the_fix_for_a_folder_without_video_config(
    fake_vllm, tiny_model, eval_data, tmp_path
):
    """Folders saved by an earlier vlmr1 without torchvision lack the config vLLM's processor
    needs: a UserError (one line, exit 1) naming the folder and the fix, before vLLM starts."""
    import shutil

    from vlmr1_cli.errors import UserError
    from vlmr1_cli.evaluate.runner import EvalOptions, evaluate
    from vlmr1_cli.export.exporter import export_checkpoint

    old = tmp_path / "old"
    shutil.copytree(tiny_model, old)
    cfg = json.loads((old / "processor_config.json").read_text())
    del cfg["video_processor"]
    (old / "processor_config.json").write_text(json.dumps(cfg))
    opts = EvalOptions(batch_size=4, backend="vllm", max_new_tokens=12)
    with pytest.raises(UserError, match=r"saved without a video-processor config") as err:
        evaluate(str(old), eval_data["rec"], tmp_path / "out", opts=opts)
    assert (
        str(old) in str(err.value)
        and "vlmr1 export" in str(err.value)
        and "\n" not in str(err.value)
    )
    import vllm  # the stand-in

    assert vllm.CALLS["llm"] == []  # vLLM was never started

    export_checkpoint(old, tmp_path / "fixed")  # the fix the message names
    m = evaluate(str(tmp_path / "fixed"), eval_data["rec"], tmp_path / "fixed-eval", opts=opts)
    assert m["backend"] == "vllm" and m["n"] > 0
