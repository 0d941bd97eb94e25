"""The memory plan (`--plan`): estimates against measured peaks of real (tiny) runs on CPU,
exact parameter counts, the plan of Qwen2.5-VL-3B from its config alone (served by the Hub
double), the distributed settings, the cheapest change that fits, and the table of
docs/training.md recomputed."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import torch

from tests.train.tensor_meter import TensorMeter
from vlmr1_cli.recipes.loading import load_recipe
from vlmr1_cli.recipes.schema import PeftSettings, Recipe
from vlmr1_cli.train.memory_plan import GIB
from vlmr1_cli.train.plan_inputs import plan_for_recipe

ROOT = Path(__file__).resolve().parents[2]
TOLERANCE = 0.25  # the plan is within 25 % of the measured peak

# Qwen2.5-VL's released sizes: text dimensions from the checkpoints' config.json files (the
# 72B's are transformers' Qwen2_5_VLTextConfig defaults); the vision tower is the same 32
# blocks of 1280 (patch 14, merge 2) everywhere, its output as wide as the text model.
QWEN25_VL = {
    "3B": dict(
        hidden_size=2048,
        intermediate_size=11008,
        num_hidden_layers=36,
        num_attention_heads=16,
        num_key_value_heads=2,
        vocab_size=151936,
        tie_word_embeddings=True,
    ),
    "7B": dict(
        hidden_size=3584,
        intermediate_size=18944,
        num_hidden_layers=28,
        num_attention_heads=28,
        num_key_value_heads=4,
        vocab_size=152064,
        tie_word_embeddings=False,
    ),
    "32B": dict(
        hidden_size=5120,
        intermediate_size=27648,
        num_hidden_layers=64,
        num_attention_heads=40,
        num_key_value_heads=8,
        vocab_size=152064,
        tie_word_embeddings=False,
    ),
    "72B": dict(
        hidden_size=8192,
        intermediate_size=29568,
        num_hidden_layers=80,
        num_attention_heads=64,
        num_key_value_heads=8,
        vocab_size=152064,
        tie_word_embeddings=False,
    ),
}
# The parameter counts Qwen publishes (3.75 B, 8.29 B, 33.5 B, 73.4 B), to the parameter.
PUBLISHED_PARAMETERS = {
    "3B": 3_754_622_976,
    "7B": 8_292_166_656,
    "32B": 33_448_292_352,
    "72B": 73_406_351_360,
}


def qwen25_vl_config(size: str) -> dict:
    """config.json as the Hub repos hold it (the flat, pre-transformers-5 layout)."""
    text = QWEN25_VL[size]
    return {
        "architectures": ["Qwen2_5_VLForConditionalGeneration"],
        "model_type": "qwen2_5_vl",
        "hidden_act": "silu",
        "max_position_embeddings": 128000,
        "rms_norm_eps": 1e-06,
        "rope_theta": 1000000.0,
        "rope_scaling": {"type": "mrope", "mrope_section": [16, 24, 24]},
        "torch_dtype": "bfloat16",
        "bos_token_id": 151643,
        "eos_token_id": 151645,
        "vision_start_token_id": 151652,
        "vision_end_token_id": 151653,
        "image_token_id": 151655,
        "video_token_id": 151656,
        **text,
        "vision_config": {
            "depth": 32,
            "hidden_act": "silu",
            "hidden_size": 1280,
            "intermediate_size": 3420,
            "num_heads": 16,
            "in_chans": 3,
            "out_hidden_size": text["hidden_size"],
            "patch_size": 14,
            "spatial_merge_size": 2,
            "spatial_patch_size": 14,
            "window_size": 112,
            "fullatt_block_indexes": [7, 15, 23, 31],
            "tokens_per_second": 2,
            "temporal_patch_size": 2,
        },
    }


PREPROCESSOR = {
    "min_pixels": 3136,
    "max_pixels": 12845056,
    "patch_size": 14,
    "temporal_patch_size": 2,
    "merge_size": 2,
    "image_processor_type": "Qwen2VLImageProcessor",
    "processor_class": "Qwen2_5_VLProcessor",
}


@pytest.fixture(scope="module")
def qwen_configs(tmp_path_factory) -> dict[str, Path]:
    """A folder per size holding config.json and preprocessor_config.json (no weights)."""
    root = tmp_path_factory.mktemp("qwen25vl-configs")
    out = {}
    for size in QWEN25_VL:
        folder = root / size
        folder.mkdir()
        (folder / "config.json").write_text(json.dumps(qwen25_vl_config(size)))
        (folder / "preprocessor_config.json").write_text(json.dumps(PREPROCESSOR))
        out[size] = folder
    return out


# ------------------------------------------------------------------ estimates vs measured peaks


def _measured_peak(recipe: Recipe) -> int:
    """Peak live tensor storage (bytes) of a real run: the trainer's models as it starts,
    then every tensor created (tests/train/tensor_meter.py)."""
    from vlmr1_cli.train import setup

    ctx = setup.prepare_run(recipe)
    if recipe.method == "grpo":
        from vlmr1_cli.train.grpo import build_trainer
    else:
        from vlmr1_cli.train.sft import build_trainer
    trainer = build_trainer(ctx)
    models = [trainer.model] + (
        [trainer.ref_model] if getattr(trainer, "ref_model", None) is not None else []
    )
    with TensorMeter(t for m in models for t in (*m.parameters(), *m.buffers())) as meter:
        trainer.train()
    return meter.peak


def _shapes(shapes_data: Path) -> str:
    return f"data.train=[{{path: '{shapes_data / 'train.jsonl'}', image_root: '{shapes_data}'}}]"


GRPO_CASES = {
    "tiny-qwen2.5-vl, full, beta 0.04": ("tiny-qwen2.5-vl", ["training.beta=0.04"]),
    "tiny-qwen2.5-vl, LoRA, checkpointing, 2 accumulation steps": (
        "tiny-qwen2.5-vl",
        [
            "peft.enabled=true",
            "training.activation_checkpointing=true",
            "training.gradient_accumulation_steps=2",
        ],
    ),
    "tiny-qwen3-vl, full, beta 0": ("tiny-qwen3-vl", ["training.beta=0"]),
}


@pytest.mark.parametrize("case", sorted(GRPO_CASES))
def test_grpo_estimate_is_within_25_percent_of_the_measured_peak(
    case, shapes_data, grpo_settings, tmp_path
):
    preset, extra = GRPO_CASES[case]
    recipe = load_recipe(
        "demo_shapes_grpo",
        [
            f"model.path={preset}",
            _shapes(shapes_data),
            "model.dtype=null",
            "rewards={rec: [rec_iou, rec_format]}",
            *grpo_settings(tmp_path / "run"),
            *extra,
        ],
    )
    plan = plan_for_recipe(recipe, device_type="cpu", suggest=False)
    peak = _measured_peak(recipe)
    assert abs(plan.total / peak - 1) <= TOLERANCE, (
        case,
        plan.total,
        peak,
        [t.as_dict() for t in plan.terms],
    )


def test_sft_estimate_is_within_25_percent_of_the_measured_peak(shapes_data, tmp_path):
    recipe = load_recipe(
        "demo_shapes_sft",
        [
            "model.path=tiny-qwen2.5-vl",
            _shapes(shapes_data),
            f"training.output_dir={tmp_path / 'run'}",
            "max_steps=2",
            "per_device_train_batch_size=4",
            "report_to=none",
            "save_strategy=no",
        ],
    )
    plan = plan_for_recipe(recipe, device_type="cpu", suggest=False)
    peak = _measured_peak(recipe)
    assert abs(plan.total / peak - 1) <= TOLERANCE, (
        plan.total,
        peak,
        [t.as_dict() for t in plan.terms],
    )


def test_estimate_holds_where_activations_dominate(
    shapes_data, grpo_settings, tmp_path, monkeypatch
):
    """The tiny presets' peak is mostly TRL's logits tile; a wider model (hidden 512, four
    layers, 16 M parameters) with longer completions checks the activation formulas."""
    recipe = load_recipe(
        "demo_shapes_grpo",
        [
            f"model.path={_wide_preset(monkeypatch)}",
            _shapes(shapes_data),
            "model.dtype=null",
            "rewards={rec: [rec_iou, rec_format]}",
            *grpo_settings(tmp_path / "run", **{"training.max_completion_length": 48}),
        ],
    )
    plan = plan_for_recipe(recipe, device_type="cpu", suggest=False)
    acts = next(t.bytes for t in plan.terms if t.name == "activations")
    assert acts > 0.25 * plan.total  # the activations are a real share of this plan
    peak = _measured_peak(recipe)
    assert abs(plan.total / peak - 1) <= TOLERANCE, (
        plan.total,
        peak,
        [t.as_dict() for t in plan.terms],
    )


def _wide_preset(monkeypatch) -> str:
    from vlmr1_cli.models.presets import PRESETS, Preset

    wide = Preset(
        "test-wide-qwen2.5-vl",
        "qwen2_5_vl",
        hidden=512,
        intermediate=1408,
        layers=4,
        heads=8,
        kv_heads=2,
        vision_hidden=256,
        vision_depth=4,
        max_pixels=224 * 224,
    )
    monkeypatch.setitem(PRESETS, wide.name, wide)
    return wide.name


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_estimate_is_within_25_percent_of_the_gpu_peak(
    shapes_data, grpo_settings, tmp_path, monkeypatch
):
    """On a GPU: bf16, SDPA, TRL's Triton LM head; the plan for CUDA against
    `torch.cuda.max_memory_allocated()` over two steps."""
    from vlmr1_cli.train import setup
    from vlmr1_cli.train.grpo import build_trainer

    recipe = load_recipe(
        "demo_shapes_grpo",
        [
            f"model.path={_wide_preset(monkeypatch)}",
            _shapes(shapes_data),
            "model.dtype=bfloat16",
            "training.bf16=true",
            "rewards={rec: [rec_iou, rec_format]}",
            *grpo_settings(tmp_path / "run", **{"training.max_completion_length": 48}),
        ],
    )
    plan = plan_for_recipe(recipe, device_type="cuda", suggest=False)
    trainer = build_trainer(setup.prepare_run(recipe))
    torch.cuda.reset_peak_memory_stats()
    trainer.train()
    peak = torch.cuda.max_memory_allocated()
    assert abs(plan.total / peak - 1) <= TOLERANCE, (
        plan.total,
        peak,
        [t.as_dict() for t in plan.terms],
    )


# ------------------------------------------------------------------ parameter counts


def test_parameter_counts_are_the_models_own(tiny_model):
    """Counted on the meta device, equal to the loaded model's, LoRA's to PEFT's."""
    import torch
    from peft import get_peft_model
    from transformers import AutoModelForImageTextToText

    from vlmr1_cli.models.registry import family_for_path
    from vlmr1_cli.train.model_setup import lora_config
    from vlmr1_cli.train.plan_model import model_shape

    family = family_for_path(tiny_model)
    peft = PeftSettings(
        enabled=True,
        r=4,
        lora_alpha=8,
        lora_dropout=0.0,
        target_modules="all-linear",
        include_vision=False,
    )
    shape = model_shape(tiny_model, family, peft)
    model = AutoModelForImageTextToText.from_pretrained(str(tiny_model), dtype=torch.float32)
    assert shape.params == sum(p.numel() for p in model.parameters())
    vision = sum(p.numel() for n, p in model.named_parameters() if n.startswith("model.visual."))
    assert shape.vision_params == vision > 0
    adapted = get_peft_model(model, lora_config(model, family, peft))
    assert shape.lora_params == sum(p.numel() for p in adapted.parameters() if p.requires_grad)


@pytest.mark.parametrize("size", sorted(QWEN25_VL))
def test_qwen25_vl_parameter_counts_match_the_published_ones(size, qwen_configs):
    from vlmr1_cli.models.registry import family_for_path
    from vlmr1_cli.train.plan_model import model_shape

    shape = model_shape(qwen_configs[size], family_for_path(qwen_configs[size]), PeftSettings())
    assert shape.params == PUBLISHED_PARAMETERS[size]
    assert (shape.hidden, shape.layers, shape.vision_depth, shape.vision_hidden) == (
        QWEN25_VL[size]["hidden_size"],
        QWEN25_VL[size]["num_hidden_layers"],
        32,
        1280,
    )


# ------------------------------------------------------------------ the CLI, Qwen2.5-VL-3B from the Hub


QWEN_3B = "Qwen/Qwen2.5-VL-3B-Instruct"


@pytest.fixture
def hub_3b(hub):
    hub.add_repo(
        QWEN_3B,
        {
            "config.json": json.dumps(qwen25_vl_config("3B")).encode(),
            "preprocessor_config.json": json.dumps(PREPROCESSOR).encode(),
        },
    )
    return hub


def test_plan_of_rec_refcoco_reads_only_the_config(hub_3b, run_cli):
    """`vlmr1 train-grpo -r rec_refcoco --plan`: Qwen2.5-VL-3B on 8 GPUs under ZeRO-2, from
    config.json and preprocessor_config.json alone (no weights, no tokenizer)."""
    code, out, err = run_cli(
        "train-grpo",
        "-r",
        "rec_refcoco",
        "--plan",
        "--config-file",
        "zero2",
        "--image-size",
        "640x480",
        "--json",
    )
    assert code == 0, err
    plan = json.loads(out)
    assert plan["parameters"] == PUBLISHED_PARAMETERS["3B"]
    assert (
        plan["parallelism"]["kind"],
        plan["parallelism"]["zero_stage"],
        plan["parallelism"]["processes"],
    ) == ("deepspeed", 2, 8)
    # a 640x480 COCO image: 644x476 at the model's input, 23 x 17 = 391 image tokens
    assert plan["workload"]["image_tokens"] == 391 and plan["workload"]["batch"] == 8
    assert plan["workload"]["beta"] == 0.04 and plan["workload"]["activation_checkpointing"]
    names = {t["name"] for t in plan["terms"]}
    assert {
        "policy weights",
        "reference model",
        "optimizer states",
        "activations",
        "KV cache",
    } <= names
    assert plan["fits"] and plan["total_bytes"] < 0.9 * 80 * GIB and plan["suggestion"] is None
    assert sorted(hub_3b.downloaded(QWEN_3B)) == ["config.json", "preprocessor_config.json"]


def test_plan_table_names_the_cheapest_change_that_fits(hub_3b, run_cli):
    """Without the data at hand the plan takes the worst case (one image at max_pixels:
    16,384 image tokens); it does not fit, and the change it names does."""
    code, out, err = run_cli("train-grpo", "-r", "rec_refcoco", "--plan", "--config-file", "zero2")
    assert code == 0, err
    assert "policy weights" in out and "does NOT fit" in out and "16384 image tokens" in out
    change = re.search(r"cheapest change that fits: .*\): (.+)$", out, re.M)
    assert change, out
    code, out, err = run_cli(
        "train-grpo",
        "-r",
        "rec_refcoco",
        "--plan",
        "--config-file",
        "zero2",
        "--json",
        *change.group(1).split(),
    )
    assert code == 0, err
    assert json.loads(out)["fits"]


def test_nothing_fits_a_tiny_device(hub_3b, run_cli):
    code, out, err = run_cli("train-grpo", "-r", "rec_refcoco", "--plan", "--device-memory", "2GB")
    assert code == 0, err
    assert "does NOT fit" in out and "no change tried fits" in out


@pytest.mark.parametrize(
    "option, value, message",
    [
        ("--device-memory", "lots", "--device-memory 'lots': not a memory size"),
        ("--image-size", "640", "--image-size '640': expected WIDTHxHEIGHT"),
    ],
)
def test_bad_plan_options_are_one_line(option, value, message, run_cli):
    code, out, err = run_cli(
        "train-grpo",
        "-r",
        "demo_shapes_grpo",
        "--set",
        "model.path=tiny-qwen2.5-vl",
        "--plan",
        option,
        value,
    )
    assert code == 1 and err.startswith(f"error: {message}") and len(err.strip().splitlines()) == 1


def test_a_model_not_on_the_hub_is_one_line(hub, run_cli):
    code, out, err = run_cli("train-grpo", "-r", "rec_refcoco", "--plan")
    assert code == 1 and len(err.strip().splitlines()) == 1
    assert err.startswith(
        f"error: model '{QWEN_3B}': no such local folder, and not found on the Hub"
    )


def test_every_run_starts_with_the_plans_line(shapes_data, grpo_settings, tmp_path, run_cli):
    sets = [
        "model.path=tiny-qwen2.5-vl",
        _shapes(shapes_data),
        "rewards={rec: [rec_iou, rec_format]}",
        *grpo_settings(tmp_path / "run", **{"training.max_steps": 1}),
    ]
    code, out, err = run_cli(
        "train-grpo", "-r", "demo_shapes_grpo", *[a for s in sets for a in ("--set", s)]
    )
    assert code == 0, err
    lines = [line for line in err.splitlines() if line.startswith("memory plan: ")]
    assert len(lines) == 1 and re.search(
        r"GiB per device at the peak \(\w+\) of [\d.]+ GiB .*: fits", lines[0]
    )


@pytest.mark.parametrize(
    "args", [("--device-memory", "80GB"), ("--image-size", "640x480"), ("--json",)]
)
def test_plan_options_need_plan(args, run_cli):
    code, out, err = run_cli("train-grpo", "-r", "demo_shapes_grpo", *args)
    assert code == 1 and err.strip() == f"error: {args[0]} goes with --plan"


# ------------------------------------------------------------------ distributed settings


def _plan(folder: Path, recipe: str, *sets: str, **kwargs):
    return plan_for_recipe(
        load_recipe(recipe, [f"model.path={folder}", *sets]),
        image_size=(640, 480),
        suggest=False,
        **kwargs,
    )


def test_sharding_and_offload_move_the_states(qwen_configs):
    folder = qwen_configs["7B"]
    ddp = _plan(folder, "rec_refcoco", "launch.num_processes=8")
    zero2 = _plan(folder, "rec_refcoco", "launch.config_file=zero2")
    zero3 = _plan(folder, "rec_refcoco", "launch.config_file=zero3")
    offload = _plan(folder, "rec_refcoco", "launch.config_file=zero3_offload")
    fsdp_offload = _plan(folder, "rec_refcoco", "launch.config_file=fsdp_offload")
    assert ddp.parallelism.kind == "ddp" and zero3.parallelism.shards_params
    steady = [p.phase_total("always") for p in (ddp, zero2, zero3, offload)]
    assert steady == sorted(steady, reverse=True) and steady[0] > 4 * steady[-1]
    assert not ddp.host_bytes and offload.host_bytes and fsdp_offload.host_bytes
    assert offload.parallelism.offload_optimizer and offload.parallelism.offload_params
    assert fsdp_offload.parallelism.kind == "fsdp" and fsdp_offload.parallelism.offload_params
    # ZeRO-3 gathers the whole policy for generation (TRL's ds3_gather_for_generation)
    assert "weights gathered for generation" in {t.name for t in zero3.terms}
    layerwise = _plan(
        folder, "rec_refcoco", "launch.config_file=zero3", "ds3_gather_for_generation=false"
    )
    assert layerwise.phase_total("generation") < zero3.phase_total("generation")


def test_reference_model_lora_and_checkpointing(qwen_configs):
    folder = qwen_configs["3B"]
    base = _plan(folder, "rec_refcoco")
    names = {t.name for t in base.terms}
    assert "reference model" in names
    assert "reference model" not in {t.name for t in _plan(folder, "rec_refcoco", "beta=0").terms}
    lora = _plan(folder, "rec_refcoco_lora")
    assert "reference model" not in {t.name for t in lora.terms}  # TRL disables the adapter instead
    assert lora.workload.lora and lora.total < base.total
    unchecked = _plan(folder, "rec_refcoco", "activation_checkpointing=false")
    kept, every = (
        next(t.bytes for t in p.terms if t.name == "activations") for p in (base, unchecked)
    )
    assert every > 10 * kept


def test_packaged_offload_configs_are_listed():
    from vlmr1_cli.recipe_files import packaged_accelerate_configs

    assert {"zero3_offload", "fsdp_offload"} <= set(packaged_accelerate_configs())


# ------------------------------------------------------------------ docs/training.md's table


def _docs_table(marker: str) -> list[list[str]]:
    text = (ROOT / "docs" / "training.md").read_text(encoding="utf-8")
    block = text.split(marker, 1)[1].strip().split("\n\n", 1)[0]
    return [[c.strip() for c in line.strip().strip("|").split("|")] for line in block.splitlines()]


def test_docs_table_is_the_plans(qwen_configs):
    """The table docs/training.md gives (and the recipes' comments follow) is what the plan
    computes: GiB per GPU at the peak, and whether it fits an 80 GB GPU."""
    rows = _docs_table("<!-- memory-plan-table -->")
    header, rows = rows[0], rows[2:]
    configs = header[2:]
    assert configs == ["zero2", "zero3", "zero3_offload", "fsdp", "fsdp_offload"]
    assert [(r[0], r[1]) for r in rows] == [(s, t) for s in QWEN25_VL for t in ("full", "LoRA")]
    for row in rows:
        size, trained = row[0], row[1]
        recipe = "rec_refcoco_lora" if trained == "LoRA" else "rec_refcoco"
        for cfg, cell in zip(configs, row[2:], strict=True):
            plan = _plan(qwen_configs[size], recipe, f"launch.config_file={cfg}")
            shown = f"{plan.total / GIB:.1f}" + ("" if plan.fits else " ✗")
            assert cell == shown, (size, trained, cfg, cell, shown)
