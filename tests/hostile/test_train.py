"""`vlmr1 train-grpo` / `train-sft`: broken recipe files, bad sections, extreme values of every
numeric training field, bad `--set` overrides and launch options, missing or broken data and
models, unknown Hub ids offline. Almost every case fails before any weights load (most with
`--print-config`, which validates the whole recipe); none may start a run on bad input."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.hostile import checks as C
from tests.hostile.harness import Case, CopyOf, Dir, error, ok, params
from tests.hostile.inputs import BIG_INT, HUGE_INT, bad_yaml, png, truncated_png

RECIPE = """method: grpo
model: {{path: '{model_path}', dtype: float32}}
data:
  train:
    - {{path: '{data}', image_root: '{root}'}}
prompt:
  templates:
    rec: 'Locate {{problem}}. Answer as <answer>[x1, y1, x2, y2]</answer>.'
rewards:
  rec: [rec_iou, rec_format]
training:
  output_dir: run
  max_steps: 1
  per_device_train_batch_size: 2
  num_generations: 2
  max_completion_length: 8
  report_to: none
  save_strategy: 'no'
  logging_steps: 1
  num_iterations: 1
  bf16: false
{extra}"""


def recipe(
    extra: str = "",
    model_path: str = "{model}",
    data: str = "{shapes}/train.jsonl",
    root: str = "{shapes}",
) -> str:
    return RECIPE.format(model_path=model_path, data=data, root=root, extra=extra)


R = "r.yaml"
PRINT = ("train-grpo", "-r", R, "--print-config")
RUN = ("train-grpo", "-r", R)
NO_RUN = C.no_file("run/vlmr1.json")  # refused before the run folder was touched


def _truncate(name: str):
    def mutate(folder: Path) -> None:
        f = folder / name
        f.write_bytes(f.read_bytes()[: f.stat().st_size // 2])

    return mutate


def setting(id: str, key: str, value: str, match: str | None = None) -> Case:
    """`--set KEY=VALUE` on a valid recipe must be refused, naming the key, before training."""
    return error(
        f"train/set-{id}",
        (*RUN, "--set", f"{key}={value}"),
        {R: recipe()},
        match=match or key.split(".")[-1],
        check=NO_RUN,
    )


CASES: list[Case] = [
    ok(
        "train/print-config-valid",
        PRINT,
        {R: recipe()},
        check=lambda r: r.stdout.startswith("method: grpo") or C.stdout_json(r),
    ),
    ok(
        "train/print-config-packaged-recipe",
        ("train-grpo", "-r", "demo_shapes_grpo", "--print-config"),
        check=lambda r: "method: grpo" in r.stdout or C.stdout_json(r),
    ),
]

# the recipe file itself
for variant, content in bad_yaml():
    files = {} if content is None else {R: content}
    CASES.append(
        error(f"train/recipe-{variant}", PRINT, files, match="r.yaml", check=C.not_created("PWNED"))
    )
CASES += [
    error(
        "train/recipe-unknown-packaged-name",
        ("train-grpo", "-r", "demo_shapes_grop", "--print-config"),
        match="demo_shapes_grop",
    ),
    error(
        "train/recipe-empty-name",
        ("train-grpo", "-r", "", "--print-config"),
        match="recipe|--recipe",
    ),
    error(
        "train/sft-recipe-to-grpo",
        ("train-grpo", "-r", "demo_shapes_sft", "--print-config"),
        match="method",
    ),
]

# sections
SECTIONS = {
    "model-scalar": ("model: 3", "model"),
    "model-path-null": ("model: {path: null}", "model.path"),
    "training-list": ("training: [1, 2]", "training"),
    "data-null": ("data: null", "data"),
    "data-source-without-path": ("data: {train: [{image_root: x}]}", "path"),
    "data-source-unknown-key": ("data: {train: [{path: a.jsonl, imag_root: x}]}", "imag_root"),
    "data-weight-nan": ("data: {train: [{path: a.jsonl, weight: .nan}]}", "weight"),
    "data-weight-negative": ("data: {train: [{path: a.jsonl, weight: -1}]}", "weight"),
    "data-max-samples-negative": (
        "data: {train: [{path: a.jsonl, max_samples: -5}]}",
        "max_samples",
    ),
    "rewards-scalar": ("rewards: {rec: 5}", "rewards"),
    "rewards-unknown-name": ("rewards: {rec: [rec_iuo]}", "rec_iuo"),
    "rewards-weight-nan": ("rewards: {rec: [{name: rec_iou, weight: .nan}]}", "weight"),
    "rewards-weight-string": ("rewards: {rec: [{name: rec_iou, weight: heavy}]}", "weight"),
    "rewards-bad-option": (
        "rewards: {rec: [{name: rec_iou, options: {thresold: 0.5}}]}",
        "rec_iou|thresold",
    ),
    "rewards-unknown-task": ("rewards: {recc: [rec_iou]}", "recc"),
    "prompt-templates-scalar": ("prompt: {templates: 3}", "templates"),
    "prompt-template-unknown-field": (
        "prompt: {templates: {rec: 'Locate {object}'}}",
        "object|template",
    ),
    "prompt-template-unbalanced": ("prompt: {templates: {rec: 'Locate {problem'}}", "template|rec"),
    "prompt-system-list": ("prompt: {system: [a, b]}", "system"),
    "peft-r-zero": ("peft: {enabled: true, r: 0}", "peft.r"),
    "peft-r-negative": ("peft: {enabled: true, r: -8}", "peft.r"),
    "peft-alpha-nan": ("peft: {enabled: true, lora_alpha: .nan}", "lora_alpha"),
    "peft-dropout-over-1": ("peft: {enabled: true, lora_dropout: 1.5}", "lora_dropout"),
    "peft-targets-number": ("peft: {enabled: true, target_modules: 5}", "target_modules"),
    "peft-enabled-string": ("peft: {enabled: maybe}", "enabled"),
    "freeze-both": ("freeze: {vision: true, language: true}", "freeze"),
    "method-unknown": ("method: ppo", "method"),
    "unknown-section": ("trainig: {max_steps: 1}", "trainig"),
    "unknown-training-key": ("training: {learning_rat: 0.1}", "learning_rat"),
    "unknown-model-key": ("model: {path: '{model}', dtyp: float32}", "dtyp"),
    "model-dtype-unknown": ("model: {path: '{model}', dtype: float8}", "dtype"),
    "model-min-pixels-negative": ("model: {path: '{model}', min_pixels: -1}", "min_pixels"),
    "model-pixels-inverted": (
        "model: {path: '{model}', min_pixels: 100000, max_pixels: 10}",
        "pixels",
    ),
    "extends-traversal": ("extends: ../../../../etc/passwd", "extends"),
    "extends-missing": ("extends: nowhere.yaml", "extends|nowhere"),
    "extends-itself": ("extends: r.yaml", "extends|cycle"),
    "extends-number": ("extends: 42", "extends"),
    "launch-processes-negative": ("launch: {num_processes: -1}", "num_processes"),
    "launch-processes-huge": (f"launch: {{num_processes: {BIG_INT}}}", "num_processes"),
    "launch-port-over": ("launch: {main_process_port: 70000}", "main_process_port"),
    "launch-rank-not-below": ("launch: {num_machines: 2, machine_rank: 2}", "machine_rank"),
    "launch-config-missing": ("launch: {config_file: nowhere.yaml}", "config_file"),
}
# run mode: a bad section is refused before any weights load, and before the run folder is touched
# (launch sections only with --print-config: a launch value that slipped through would start
# accelerate with it)
for name, (extra, match) in SECTIONS.items():
    argv = PRINT if name.startswith("launch-") else RUN
    CASES.append(
        error(f"train/section-{name}", argv, {R: recipe(extra)}, match=match, check=NO_RUN)
    )

# every numeric training field at its extremes (and a few wrong types)
SETTINGS = [
    ("lr-nan", "training.learning_rate", "nan"),
    ("lr-inf", "training.learning_rate", ".inf"),
    ("lr-1e999", "training.learning_rate", "1e999"),
    ("lr-negative", "training.learning_rate", "-0.1"),
    ("lr-zero", "training.learning_rate", "0"),
    ("lr-text", "training.learning_rate", "fast"),
    ("lr-huge-int", "training.learning_rate", HUGE_INT),
    ("max-steps-zero", "training.max_steps", "0"),
    ("max-steps-negative", "training.max_steps", "-5"),
    ("max-steps-float", "training.max_steps", "1.5"),
    ("max-steps-big-int", "training.max_steps", BIG_INT),
    ("batch-zero", "training.per_device_train_batch_size", "0"),
    ("batch-negative", "training.per_device_train_batch_size", "-2"),
    ("generations-one", "training.num_generations", "1"),
    ("generations-zero", "training.num_generations", "0"),
    ("generations-not-dividing", "training.num_generations", "3"),
    ("temperature-zero", "training.temperature", "0"),
    ("temperature-negative", "training.temperature", "-1"),
    ("temperature-nan", "training.temperature", ".nan"),
    ("top-p-zero", "training.top_p", "0"),
    ("top-p-over-1", "training.top_p", "1.5"),
    ("top-k-negative", "training.top_k", "-3"),
    ("completion-length-zero", "training.max_completion_length", "0"),
    ("beta-nan", "training.beta", ".nan"),
    ("beta-negative", "training.beta", "-0.04"),
    ("epsilon-negative", "training.epsilon", "-0.2"),
    ("seed-negative", "training.seed", "-1"),
    ("seed-over-32-bits", "training.seed", str(2**40)),
    ("grad-accum-zero", "training.gradient_accumulation_steps", "0"),
    ("logging-steps-zero", "training.logging_steps", "0"),
    ("warmup-negative", "training.warmup_steps", "-1"),
    ("weight-decay-nan", "training.weight_decay", ".nan"),
    ("grad-norm-negative", "training.max_grad_norm", "-1"),
    ("iterations-zero", "training.num_iterations", "0"),
    ("workers-negative", "training.dataloader_num_workers", "-1"),
    ("bf16-maybe", "training.bf16", "maybe"),
    ("bf16-number", "training.bf16", "2"),
    ("adam-beta-one", "training.adam_beta1", "1"),
    ("epochs-zero", "training.num_train_epochs", "0"),
    ("save-total-negative", "training.save_total_limit", "-1"),
    ("report-to-unknown", "training.report_to", "carrier-pigeon"),
    ("lr-scheduler-unknown", "training.lr_scheduler_type", "zigzag", "lr_scheduler_type|zigzag"),
    ("loss-type-unknown", "training.loss_type", "magic"),
    ("data-seed-negative", "data.seed", "-1"),
    ("data-max-samples-zero", "data.max_samples", "0"),
]
for id_, key, value, *match in SETTINGS:
    CASES.append(setting(id_, key, value, *match))

# --set grammar
OVERRIDES = {
    "no-equals": ("training.max_steps", "--set"),
    "empty-key": ("=1", "--set|key"),
    "double-dot": ("training..max_steps=1", "--set|key"),
    "trailing-dot": ("training.=1", "--set|key"),
    "unknown-section": ("trainning.max_steps=1", "trainning"),
    "section-to-scalar": ("model=3", "model"),
    "unclosed-flow": ("rewards={rec: [rec_iou", "--set|rewards"),
    "mapping-for-int": ("training.max_steps={a: 1}", "max_steps"),
    "yaml-tag": (
        "training.max_steps=!!python/object/apply:os.system [touch PWNED]",
        "max_steps|--set",
    ),
    "long-key": ("training." + "k" * 10_000 + "=1", "kkkk"),
}
for id_, (item, match) in OVERRIDES.items():
    CASES.append(
        error(
            f"train/override-{id_}",
            (*PRINT, "--set", item),
            {R: recipe()},
            match=match,
            check=C.not_created("PWNED"),
        )
    )

# launch options
CASES += [
    error(
        "train/launch-processes-zero",
        (*PRINT, "--num-processes", "0"),
        {R: recipe()},
        match="--num-processes",
    ),
    error(
        "train/launch-processes-huge",
        (*PRINT, "--num-processes", BIG_INT),
        {R: recipe()},
        match="num_processes|--num-processes",
    ),
    error(
        "train/launch-port-zero",
        (*PRINT, "--main-process-port", "0"),
        {R: recipe()},
        match="--main-process-port",
    ),
    error(
        "train/launch-port-over",
        (*PRINT, "--main-process-port", "65536"),
        {R: recipe()},
        match="--main-process-port",
    ),
    error(
        "train/launch-rank-above-machines",
        (*PRINT, "--num-machines", "2", "--machine-rank", "2"),
        {R: recipe()},
        match="machine_rank|--machine-rank",
    ),
    error(
        "train/launch-config-missing",
        (*PRINT, "--config-file", "nowhere.yaml"),
        {R: recipe()},
        match="nowhere.yaml",
    ),
    error(
        "train/launch-config-folder",
        (*PRINT, "--config-file", "cfg"),
        {R: recipe(), "cfg": Dir()},
        match="cfg",
    ),
    error(
        "train/launch-config-invalid-yaml",
        (*RUN, "--config-file", "cfg.yaml"),
        {R: recipe(), "cfg.yaml": "num_processes: [\n"},
        match="cfg.yaml",
    ),
    error(
        "train/launch-config-a-list",
        (*RUN, "--config-file", "cfg.yaml"),
        {R: recipe(), "cfg.yaml": "- 1\n"},
        match="cfg.yaml",
    ),
    error(
        "train/launch-config-unknown-name",
        (*PRINT, "--config-file", "zero4"),
        {R: recipe()},
        match="zero4",
    ),
]

# run mode: everything is checked before weights load, and nothing is written on a refusal
CASES += [
    error(
        "train/run-data-missing",
        RUN,
        {R: recipe(data="nowhere.jsonl")},
        match="nowhere.jsonl",
        check=NO_RUN,
    ),
    error(
        "train/run-data-empty",
        RUN,
        {R: recipe(data="empty.jsonl", root="."), "empty.jsonl": ""},
        match="empty.jsonl",
        check=NO_RUN,
    ),
    error(
        "train/run-data-folder",
        RUN,
        {R: recipe(data="d", root="."), "d": Dir()},
        match="d",
        check=NO_RUN,
    ),
    error(
        "train/run-data-invalid-line",
        RUN,
        {R: recipe(data="bad.jsonl", root="."), "bad.jsonl": '{"id": "a", "task": "rec",\n'},
        match="bad.jsonl",
        check=NO_RUN,
    ),
    error(
        "train/run-data-deep-line",
        RUN,
        {R: recipe(data="bad.jsonl", root="."), "bad.jsonl": "[" * 100_000 + "]" * 100_000 + "\n"},
        match="bad.jsonl",
        check=NO_RUN,
    ),
    error(
        "train/run-data-huge-int",
        RUN,
        {R: recipe(data="bad.jsonl", root="."), "bad.jsonl": '{"id": ' + HUGE_INT + "}\n"},
        match="bad.jsonl",
        check=NO_RUN,
    ),
    error(
        "train/run-data-nan-box",
        RUN,
        {
            R: recipe(data="bad.jsonl", root="."),
            "img.png": png(),
            "bad.jsonl": '{"id": "a", "task": "rec", "images": ["img.png"], "image_sizes": [[32, 24]], '
            '"problem": "p", "solution": [NaN, 1, 5, 5]}\n',
        },
        match="bad.jsonl",
        check=NO_RUN,
    ),
    error(
        "train/run-data-image-traversal",
        RUN,
        {
            R: recipe(data="bad.jsonl", root="."),
            "bad.jsonl": '{"id": "a", "task": "rec", "images": ["../../../etc/passwd"], "image_sizes": [[32, 24]], '
            '"problem": "p", "solution": [1, 1, 5, 5]}\n',
        },
        match="escapes|passwd",
        check=NO_RUN,
    ),
    error(
        "train/run-data-image-missing",
        RUN,
        {
            R: recipe(data="bad.jsonl", root="."),
            "bad.jsonl": '{"id": "a", "task": "rec", "images": ["gone.png"], "image_sizes": [[32, 24]], '
            '"problem": "p", "solution": [1, 1, 5, 5]}\n',
        },
        match="gone.png",
        check=NO_RUN,
    ),
    error(
        "train/run-data-image-truncated",
        RUN,
        {
            R: recipe(data="bad.jsonl", root="."),
            "cut.png": truncated_png(64, 48),
            "bad.jsonl": '{"id": "a", "task": "rec", "images": ["cut.png"], "image_sizes": [[64, 48]], '
            '"problem": "p", "solution": [1, 1, 5, 5]}\n',
        },
        match="cut.png",
    ),
    # boxes are converted from the size the record states: an image of another size is refused
    error(
        "train/run-data-image-size-mismatch",
        RUN,
        {
            R: recipe(data="bad.jsonl", root="."),
            "img.png": png(),
            "bad.jsonl": '{"id": "a", "task": "rec", "images": ["img.png"], "image_sizes": [[640, 480]], '
            '"problem": "p", "solution": [1, 1, 5, 5]}\n',
        },
        match="img.png is 32x24 but the record's image_sizes says 640x480",
    ),
    error(
        "train/run-image-root-is-a-file",
        RUN,
        {R: recipe(root="{shapes}/train.jsonl")},
        match="train.jsonl",
        check=NO_RUN,
    ),
    error(
        "train/run-model-missing",
        RUN,
        {R: recipe(model_path="no-model-here")},
        match="no-model-here",
        check=NO_RUN,
    ),
    error(
        "train/run-model-is-a-file",
        RUN,
        {R: recipe(model_path="weights.bin"), "weights.bin": "x"},
        match="weights.bin",
        check=NO_RUN,
    ),
    error(
        "train/run-model-empty-folder",
        RUN,
        {R: recipe(model_path="m"), "m": Dir()},
        match="m",
        check=NO_RUN,
    ),
    error(
        "train/run-model-truncated-safetensors",
        RUN,
        {R: recipe(model_path="m"), "m": CopyOf("{model}", _truncate("model.safetensors"))},
        match="model.safetensors|m",
        check=NO_RUN,
    ),
    error(
        "train/run-model-config-garbage",
        RUN,
        {
            R: recipe(model_path="m"),
            "m": CopyOf("{model}", lambda f: (f / "config.json").write_text("[1]")),
        },
        match="config.json",
        check=NO_RUN,
    ),
    error(
        "train/run-resume-truncated-checkpoint",
        (*RUN, "--resume", "--set", "max_steps=2"),
        {
            R: recipe(),
            "run/checkpoint-1": CopyOf("{model}", _truncate("model.safetensors")),
            "run/checkpoint-1/trainer_state.json": '{"global_step": 1, "max_steps": 2}',
        },
        match="checkpoint-1",
    ),
    # a finished run's last checkpoint becomes the final model: a truncated one must not
    error(
        "train/run-finished-truncated-checkpoint",
        (*RUN, "--resume"),
        {
            R: recipe(),
            "run/checkpoint-1": CopyOf("{model}", _truncate("model.safetensors")),
            "run/checkpoint-1/trainer_state.json": '{"global_step": 1, "max_steps": 1}',
        },
        match="checkpoint-1/model.safetensors.*truncated",
        check=C.no_file("run/model.safetensors"),
    ),
    error(
        "train/run-unknown-hub-id-offline",
        RUN,
        {R: recipe(model_path="nobody/no-such-model")},
        match="nobody/no-such-model",
        check=NO_RUN,
    ),
    error(
        "train/run-output-dir-is-a-file",
        (*RUN, "--set", "output_dir=taken"),
        {R: recipe(), "taken": "x"},
        match="taken",
    ),
    error(
        "train/run-output-dir-under-a-file",
        (*RUN, "--set", "output_dir=taken/run"),
        {R: recipe(), "taken": "x"},
        match="taken",
    ),
    error("train/run-resume-nothing", (*RUN, "--resume"), {R: recipe()}, match="resume|checkpoint"),
    error(
        "train/run-data-problem-too-long",
        RUN,
        {
            R: recipe(data="long.jsonl", root="."),
            "img.png": png(),
            "long.jsonl": '{"id": "a", "task": "rec", "images": ["img.png"], "image_sizes": [[32, 24]], '
            '"problem": "' + "word " * 2_000_000 + '", "solution": [1, 1, 5, 5]}\n',
        },
        match="long.jsonl|'a'|problem",
    ),
]


@pytest.mark.parametrize("case", params(CASES))
def test_train(case, hostile):
    hostile.run(case)
