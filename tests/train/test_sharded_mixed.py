"""Text-only batches beside image batches under parameter sharding (train/vision_keepalive.py):
the vision tower runs on a text-only batch, its contribution is exactly zero, every rank runs
the same sharded modules in the same order, and a real 2-process FSDP2 run (gloo, CPU) with
one text-only rank finishes.

FSDP through `accelerate launch` cannot run on CPU here: accelerate 1.15 turns
`distributed_type: FSDP` with `use_cpu: true` into MULTI_CPU (plain DDP), so the 2-process
test shards the tiny model with torch's own `fully_shard` (FSDP2, the packaged fsdp.yaml's
version) over gloo, wrapping the same `_no_split_modules` classes as TRANSFORMER_BASED_WRAP.
Run as a script (`python -m torch.distributed.run ... test_sharded_mixed.py MODEL KEEP`), this
file is that test's worker.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve()
FAMILY_PRESETS = [
    "tiny-qwen2-vl",
    "tiny-qwen3-vl",
    "tiny-idefics3",
    "tiny-smolvlm2",
    "tiny-internvl",
]


@pytest.fixture(scope="module")
def preset_dir(tmp_path_factory, tiny_model):
    from vlmr1_cli.models.presets import build_preset

    folder = tmp_path_factory.mktemp("family-presets")

    def get(name: str) -> Path:
        if name == "tiny-qwen2.5-vl":
            return tiny_model
        path = folder / name
        return path if path.exists() else build_preset(name, path)

    return get


def _load(path: Path):
    from transformers import AutoModelForImageTextToText

    from vlmr1_cli.models.registry import family_for_path

    family = family_for_path(str(path))
    return (
        AutoModelForImageTextToText.from_pretrained(path),
        family,
        family.load_processor(str(path)),
    )


def _inputs(processor, with_image: bool):
    from PIL import Image

    content = [{"type": "text", "text": "What is 1 plus 1?"}]
    images = None
    if with_image:
        content = [{"type": "image"}, {"type": "text", "text": "the red square"}]
        images = [Image.new("RGB", (64, 48), "white")]
    text = processor.apply_chat_template(
        [{"role": "user", "content": content}], add_generation_prompt=True
    )
    return processor(text=[text], images=images, return_tensors="pt")


def _loss_and_grads(model, inputs):
    model.zero_grad(set_to_none=True)
    out = model(**inputs, labels=inputs["input_ids"])
    out.loss.backward()
    return out.loss.detach().clone()


def _vision_grads(model, family) -> dict:
    from vlmr1_cli.train.model_setup import _under

    return {n: p.grad for n, p in model.named_parameters() if _under(n, family.vision_prefixes)}


@pytest.mark.parametrize("preset", ["tiny-qwen2.5-vl", *FAMILY_PRESETS])
def test_text_only_batch_runs_the_vision_tower_for_exactly_nothing(preset_dir, preset):
    import torch

    from vlmr1_cli.train.vision_keepalive import keep_vision_alive

    model, family, processor = _load(preset_dir(preset))
    text = _inputs(processor, with_image=False)
    without = _loss_and_grads(model, text)
    assert all(g is None for g in _vision_grads(model, family).values())  # the hang's cause
    kept = keep_vision_alive(model, family, processor)
    with_dummy = _loss_and_grads(model, text)
    assert kept.dummy_runs == 1
    # bit-identical: the same float, not merely close
    assert with_dummy.dtype == without.dtype and torch.equal(with_dummy, without)
    grads = _vision_grads(model, family)
    assert grads and all(g is not None for g in grads.values()), (
        "every vision parameter joins the backward"
    )
    assert all(not g.any() for g in grads.values()), "and receives exactly zero"
    # a batch with an image runs the real tower, never the dummy
    _loss_and_grads(model, _inputs(processor, with_image=True))
    assert kept.dummy_runs == 1
    kept.remove()


def _keepalive_is_exact(model_dir: Path, device: str, dtype_name: str) -> None:
    """The keep-alive's invariant on `device` in `dtype_name`: the text-only loss is
    bit-identical with and without the dummy tower run, every vision gradient exists and is
    exactly zero, and an image batch and generation's decoding steps run no dummy."""
    import torch

    from vlmr1_cli.train.vision_keepalive import keep_vision_alive

    model, family, processor = _load(model_dir)
    model.to(device=device, dtype=getattr(torch, dtype_name))
    text = _inputs(processor, with_image=False).to(device)
    without = _loss_and_grads(model, text)
    kept = keep_vision_alive(model, family, processor)  # after the move: the dummy's dtype
    with_dummy = _loss_and_grads(model, text)
    assert kept.dummy_runs == 1 and with_dummy.device.type == torch.device(device).type
    assert with_dummy.dtype == without.dtype and torch.equal(with_dummy, without)
    grads = _vision_grads(model, family)
    assert grads and all(
        g is not None and g.device.type == with_dummy.device.type for g in grads.values()
    )
    assert all(not g.any() for g in grads.values())
    _loss_and_grads(model, _inputs(processor, with_image=True).to(device))
    assert kept.dummy_runs == 1
    with torch.no_grad():
        model.generate(**text, max_new_tokens=3, do_sample=False)
    assert kept.dummy_runs == 2  # the prefill only
    kept.remove()


@pytest.mark.gpu
def test_keepalive_is_exact_on_cuda_in_bfloat16(tiny_model):
    """On the device ZeRO-3/FSDP runs on, in the dtype the GPU recipes train in."""
    _keepalive_is_exact(tiny_model, "cuda", "bfloat16")


def test_zero_term_is_nan_safe(tiny_model):
    import torch

    from vlmr1_cli.train.vision_keepalive import keep_vision_alive

    model, family, processor = _load(tiny_model)
    kept = keep_vision_alive(model, family, processor)
    with torch.no_grad():
        model.model.visual.merger.mlp[-1].bias.fill_(float("nan"))
    term = kept.zero_term(torch.device("cpu"))
    assert term.item() == 0.0 and not torch.isnan(term)
    kept.remove()


def _sharded_call_order(model, run) -> list[str]:
    """Names of the modules FSDP's TRANSFORMER_BASED_WRAP shards on their own, in the order
    their forward runs: the order in which every rank must gather them."""
    calls: list[str] = []
    wrapped = set(model._no_split_modules)
    handles = [
        m.register_forward_pre_hook(lambda mod, args, name=name: calls.append(name))
        for name, m in model.named_modules()
        if type(m).__name__ in wrapped
    ]
    try:
        run()
    finally:
        for h in handles:
            h.remove()
    return calls


@pytest.mark.parametrize("preset", ["tiny-qwen2.5-vl", "tiny-idefics3", "tiny-internvl"])
def test_every_rank_gathers_the_same_modules_in_the_same_order(preset_dir, preset):
    """The invariant that prevents the hang, for the training forward and for generation:
    a text-only batch runs the same sharded modules, in the same order, as an image batch."""
    import torch

    from vlmr1_cli.train.vision_keepalive import keep_vision_alive

    model, family, processor = _load(preset_dir(preset))
    kept = keep_vision_alive(model, family, processor)
    image, text = _inputs(processor, True), _inputs(processor, False)
    vision = [
        n
        for n in _sharded_call_order(model, lambda: model(**image))
        if any(n.startswith(p + ".") for p in family.vision_prefixes)
    ]
    assert vision, "the family's vision tower has modules sharded on their own"
    for run in (
        lambda b: model(**b, labels=b["input_ids"]),
        lambda b: model.generate(**b, max_new_tokens=2, do_sample=False),
    ):
        with torch.no_grad():
            assert _sharded_call_order(model, lambda run=run: run(text)) == _sharded_call_order(
                model, lambda run=run: run(image)
            )
    assert kept.dummy_runs == 2  # the forward and generation's prefill; decoding runs no tower
    kept.remove()


@pytest.mark.slow
def test_two_process_fsdp2_with_a_text_only_rank_finishes(tiny_model):
    """Rank 0 trains and generates on an image prompt, rank 1 on a text-only one, under FSDP2
    over gloo. With the keep-alive both finish; without it rank 1 skips the vision blocks'
    gathers and the run fails on the collective timeout (the control: the test can fail)."""

    def run(keep: bool) -> subprocess.CompletedProcess:
        env = dict(os.environ, OMP_NUM_THREADS="1")
        cmd = [
            sys.executable,
            "-m",
            "torch.distributed.run",
            "--nproc_per_node",
            "2",
            "--master_port",
            str(_free_port()),
            str(HERE),
            str(tiny_model),
            "1" if keep else "0",
        ]
        return subprocess.run(
            cmd, env=env, capture_output=True, text=True, timeout=240, stdin=subprocess.DEVNULL
        )

    ok = run(keep=True)
    assert ok.returncode == 0, ok.stderr[-3000:]
    ranks = {r["rank"]: r for r in _json_objects(ok.stdout)}
    assert ranks[0]["dummy_runs"] == 0 and ranks[1]["dummy_runs"] == 2
    # gradients are averaged over the ranks, so rank 1 holds rank 0's image gradient / 2
    assert ranks[0]["fsdp_units"] > 2 and ranks[0]["vision_grads"] == ranks[1]["vision_grads"] > 0
    assert run(keep=False).returncode != 0


def _free_port() -> int:
    from vlmr1_cli.train.launch import free_port

    return free_port()


def _worker(model_dir: str, keep: bool) -> None:
    from datetime import timedelta

    import torch
    import torch.distributed as dist
    from torch.distributed.fsdp import FSDPModule, fully_shard

    from vlmr1_cli.train.vision_keepalive import keep_vision_alive

    torch.set_num_threads(1)
    dist.init_process_group("gloo", timeout=timedelta(seconds=20))  # a hang fails in 20 s
    rank = dist.get_rank()
    model, family, processor = _load(Path(model_dir))
    kept = keep_vision_alive(model, family, processor) if keep else None
    wrapped = set(model._no_split_modules)
    for module in list(model.modules()):
        if type(module).__name__ in wrapped:
            fully_shard(module)
    fully_shard(model)
    inputs = _inputs(processor, with_image=rank == 0)
    out = model(**inputs, labels=inputs["input_ids"])
    out.loss.backward()
    grads = [
        p.grad
        for n, p in model.named_parameters()
        if any(n.startswith(x + ".") for x in family.vision_prefixes)
    ]
    reduced = sum(1 for g in grads if g is not None)
    model.unshard()  # as VlmGRPOTrainer does for generation under FSDP2 (train/grpo.py)
    model.generate(**inputs, max_new_tokens=2, do_sample=False)
    model.reshard()
    print(
        json.dumps(
            {
                "rank": rank,
                "dummy_runs": kept.dummy_runs if kept else None,
                "fsdp_units": sum(isinstance(m, FSDPModule) for m in model.modules()),
                "vision_grads": reduced,
            }
        ),
        flush=True,
    )
    dist.destroy_process_group()


def _json_objects(text: str) -> list[dict]:
    """Every `{"rank": ...}` object printed by the ranks: two processes share one stdout, so
    their lines can run together (`{...}{...}`)."""
    decoder, out, i = json.JSONDecoder(), [], text.find('{"rank"')
    while i != -1:
        obj, end = decoder.raw_decode(text, i)
        out.append(obj)
        i = text.find('{"rank"', end)
    return out


if __name__ == "__main__":
    _worker(sys.argv[1], sys.argv[2] == "1")
