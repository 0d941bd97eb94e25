from pathlib import Path

import pytest

from vlmr1_cli.errors import UserError
from vlmr1_cli.recipe_files import (
    packaged_accelerate_configs,
    packaged_recipes,
    packaged_recipes_dir,
)
from vlmr1_cli.recipes.loading import dump_recipe, load_recipe, parse_scalar
from vlmr1_cli.recipes.schema import DataSource, Recipe, RewardTerm
from vlmr1_cli.recipes.trl_fields import validate_training

PACKAGED = packaged_recipes_dir()


def _write(tmp_path, text: str) -> Path:
    p = tmp_path / "r.yaml"
    p.write_text(text)
    return p


def test_overrides_and_bare_training_keys(tmp_path):
    p = _write(
        tmp_path,
        "model: {path: preset:tiny-qwen2.5-vl}\ndata: {train: [x.jsonl]}\ntraining: {learning_rate: 1.0e-6}\n",
    )
    r = load_recipe(
        p,
        ["max_steps=2", "training.learning_rate=1e-5", "model.dtype=bfloat16", "peft.enabled=true"],
    )
    assert r.training == {"learning_rate": 1e-5, "max_steps": 2, "output_dir": "runs/grpo"}
    assert r.model.dtype == "bfloat16" and r.peft.enabled is True
    assert r.data.train == [
        DataSource(path="x.jsonl", image_root=".", weight=1.0, max_samples=None)
    ]


def test_unknown_keys_name_the_closest(tmp_path):
    p = _write(tmp_path, "model: {path: m, dtyp: float32}\n")
    with pytest.raises(UserError, match=r"model.dtyp.*did you mean: dtype"):
        load_recipe(p)
    p = _write(tmp_path, "modle: {path: m}\n")
    with pytest.raises(UserError, match=r"unknown section 'modle'.*model"):
        load_recipe(p)


def test_training_keys_validated_against_trl(tmp_path):
    p = _write(tmp_path, "model: {path: m}\ntraining: {learning_rat: 1}\n")
    # load_recipe runs the check itself, and so does validate_training on a training section
    with pytest.raises(UserError, match=r"training.learning_rat.*learning_rate"):
        load_recipe(p)
    with pytest.raises(UserError, match=r"training.learning_rat.*learning_rate"):
        validate_training("grpo", {"learning_rat": 1})


def test_invalid_yaml_names_line(tmp_path):
    p = _write(tmp_path, "model:\n  path: [unclosed\n")
    with pytest.raises(UserError, match=r"r.yaml:\d+: invalid YAML"):
        load_recipe(p)


def test_parse_scalar():
    assert (
        parse_scalar("1e-6") == 1e-6
        and parse_scalar("true") is True
        and parse_scalar("[1, 2]") == [1, 2]
    )
    assert parse_scalar("abc") == "abc"


def test_every_recipe_and_accelerate_config_is_packaged():
    assert sorted(packaged_recipes()) == [
        "demo_shapes_grpo",
        "demo_shapes_sft",
        "ovd_d3",
        "ovd_d3_lora",
        "rec_refcoco",
        "rec_refcoco_internvl",
        "rec_refcoco_lora",
        "sft_ovd_d3",
        "sft_rec_refcoco",
    ]
    assert sorted(packaged_accelerate_configs()) == [
        "ddp",
        "fsdp",
        "fsdp_offload",
        "multi_node",
        "zero2",
        "zero3",
        "zero3_offload",
    ]
    assert all(p.parent == PACKAGED for p in packaged_recipes().values())


@pytest.mark.parametrize("name", sorted(packaged_recipes()))
def test_shipped_recipes_resolve(name):
    r = load_recipe(name)
    assert isinstance(r, Recipe)
    validate_training(r.method, r.training)
    assert "training" in dump_recipe(r)


# ----------------------------------------------------------------------------- paper recipes


def _paper(name: str) -> Recipe:
    r = load_recipe(name)  # "rec_refcoco.yaml": a packaged name, with or without .yaml
    validate_training(r.method, r.training)
    return r


@pytest.mark.parametrize(
    "name, beta, rewards",
    [
        ("rec_refcoco.yaml", 0.04, {"rec": [("rec_iou", {}), ("rec_format", {})]}),
        ("ovd_d3.yaml", 0.0, {"ovd": [("od_length", {}), ("ovd_format", {"strict": True})]}),
    ],
)
def test_paper_recipes_carry_the_papers_settings(name, beta, rewards):
    r = _paper(name)
    assert r.method == "grpo"
    assert r.model.path == "Qwen/Qwen2.5-VL-3B-Instruct" and r.model.frame == "qwen25_abs"
    t = r.training
    assert (t["num_generations"], t["temperature"], t["num_iterations"], t["epsilon"]) == (
        8,
        0.9,
        1,
        0.2,
    )
    assert (t["beta"], t["learning_rate"], t["num_train_epochs"], t["loss_type"]) == (
        beta,
        1e-6,
        2,
        "grpo",
    )
    assert t["bf16"] is True and t["scale_rewards"] == "group"
    got = {task: [(term.name, term.options) for term in terms] for task, terms in r.rewards.items()}
    assert got == rewards
    assert all(term.weight == 1.0 for terms in r.rewards.values() for term in terms)
    assert all(Path(s.path).name.endswith(".jsonl") for s in r.data.train)


def test_lora_and_sft_variants_share_model_data_and_prompt():
    for full, lora in (
        ("rec_refcoco.yaml", "rec_refcoco_lora.yaml"),
        ("ovd_d3.yaml", "ovd_d3_lora.yaml"),
    ):
        a, b = _paper(full), _paper(lora)
        assert b.peft.enabled and not b.peft.include_vision and not a.peft.enabled
        assert (a.data, a.prompt, a.rewards, a.training["beta"]) == (
            b.data,
            b.prompt,
            b.rewards,
            b.training["beta"],
        )
    for grpo, sft in (
        ("rec_refcoco.yaml", "sft_rec_refcoco.yaml"),
        ("ovd_d3.yaml", "sft_ovd_d3.yaml"),
    ):
        a, b = _paper(grpo), _paper(sft)
        assert b.method == "sft" and a.data.train == b.data.train
        assert a.model.path == b.model.path
        task = "rec" if grpo.startswith("rec") else "ovd"
        assert a.prompt.templates[task] == b.prompt.templates[task]
        assert (b.training["learning_rate"], b.training["num_train_epochs"]) == (1e-6, 2)


def test_extends_merges_mappings_and_null_removes(tmp_path):
    (tmp_path / "base.yaml").write_text(
        "model: {path: m, dtype: bfloat16}\nrewards: {rec: [rec_iou]}\ntraining: {beta: 0.04, max_steps: 5}\n"
    )
    child = _write(
        tmp_path,
        "extends: base.yaml\nrewards: {rec: null, ovd: [od_length]}\n"
        "training: {max_steps: null, learning_rate: 1e-5}\n",
    )
    r = load_recipe(child)
    assert r.model.path == "m" and r.model.dtype == "bfloat16"
    assert r.rewards == {"ovd": [RewardTerm(name="od_length", weight=1.0, options={})]}
    # YAML 1.1 reads 1e-5 as text; TRL wants a float, and load_recipe's check converts it
    assert r.training == {"beta": 0.04, "learning_rate": 1e-5, "output_dir": "runs/grpo"}
    assert isinstance(r.training["learning_rate"], float)
    training = {"beta": 0.04, "learning_rate": "1e-5"}
    validate_training("grpo", training)  # in place
    assert training["learning_rate"] == 1e-5 and isinstance(training["learning_rate"], float)
    _write(tmp_path, "extends: r.yaml\n")
    with pytest.raises(UserError, match="cycle"):
        load_recipe(tmp_path / "r.yaml")
    _write(tmp_path, "extends: missing.yaml\n")
    with pytest.raises(UserError, match="key 'extends': recipe not found: missing.yaml"):
        load_recipe(tmp_path / "r.yaml")


def test_training_values_are_type_checked(tmp_path):
    p = _write(tmp_path, "model: {path: m}\n")
    with pytest.raises(UserError, match=r"training.num_generations.*expected int"):
        load_recipe(p, ["num_generations=eight"])
    with pytest.raises(UserError, match=r"training.bf16.*expected true or false"):
        load_recipe(p, ["bf16=3"])
    with pytest.raises(UserError, match=r"training.num_generations.*expected int"):
        validate_training("grpo", {"num_generations": "eight"})
    r = load_recipe(p, ["report_to=[tensorboard, wandb]", "use_vllm=true", "vllm_mode=server"])
    validate_training(r.method, r.training)  # lists and strings are TRL's to check
    assert r.training["report_to"] == ["tensorboard", "wandb"]


def test_launch_keys_are_checked(tmp_path):
    p = _write(tmp_path, "model: {path: m}\n")
    with pytest.raises(UserError, match=r"launch.num_processes.*non-negative integer"):
        load_recipe(p, ["launch.num_processes=two"])
    with pytest.raises(UserError, match=r"launch.machine_rank.*not below"):
        load_recipe(p, ["launch.num_machines=2", "launch.machine_rank=2"])


def test_accelerate_configs_load_with_accelerate():
    from accelerate.commands.config.config_args import load_config_from_file

    want = {
        "ddp.yaml": ("MULTI_GPU", 1, None),
        "zero2.yaml": ("DEEPSPEED", 1, 2),
        "zero3.yaml": ("DEEPSPEED", 1, 3),
        "fsdp.yaml": ("FSDP", 1, None),
        "multi_node.yaml": ("DEEPSPEED", 2, 2),
        "zero3_offload.yaml": ("DEEPSPEED", 1, 3),
        "fsdp_offload.yaml": ("FSDP", 1, None),
    }
    found = sorted(p.name for p in packaged_accelerate_configs().values())
    assert found == sorted(want)
    for name, (kind, machines, zero) in want.items():
        cfg = load_config_from_file(str(PACKAGED / "accelerate" / name))
        assert str(cfg.distributed_type).endswith(kind) and cfg.num_machines == machines
        assert (cfg.deepspeed_config or {}).get("zero_stage") == zero
        assert cfg.mixed_precision in ("no", "bf16") and not cfg.use_cpu


def test_print_config_shows_the_resolved_recipe():
    import yaml
    from typer.testing import CliRunner

    from vlmr1_cli.cli.app import app

    res = CliRunner().invoke(
        app,
        [
            "train-grpo",
            "-r",
            "ovd_d3_lora",
            "--print-config",
            "--set",
            "max_steps=1",
            "--set",
            "model.path=preset:tiny-qwen2.5-vl",
        ],
    )
    assert res.exit_code == 0, res.output
    shown = yaml.safe_load(res.output)
    assert (
        shown["model"]["path"] == "preset:tiny-qwen2.5-vl" and shown["training"]["max_steps"] == 1
    )
    assert (
        shown["training"]["beta"] == 0.0 and shown["peft"]["r"] == 64
    )  # ovd_d3 <- rec_refcoco, + LoRA
    assert shown["training"]["temperature"] == 0.9


# ----------------------------------------------------------------------------- names and extends


def test_a_recipe_is_a_file_first_then_a_packaged_name(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    packaged = load_recipe(PACKAGED / "rec_refcoco.yaml")
    assert load_recipe("rec_refcoco").training == packaged.training
    assert load_recipe("rec_refcoco.yaml").training == packaged.training
    # a file of that name in the working directory wins over the packaged recipe
    (tmp_path / "rec_refcoco.yaml").write_text("model: {path: mine}\n")
    assert load_recipe("rec_refcoco.yaml").model.path == "mine"
    assert (
        load_recipe("rec_refcoco").model.path == "Qwen/Qwen2.5-VL-3B-Instruct"
    )  # no file 'rec_refcoco'


@pytest.mark.parametrize(
    ("arg", "hint"),
    [
        ("rec_refcoc", "did you mean: rec_refcoco"),
        (
            "recipes/rec_refcoco.yaml",
            "did you mean the packaged 'rec_refcoco'",
        ),  # a path is never a name
        ("nothing_like_it", "(vlmr1 recipes list)"),
    ],
)
def test_an_unknown_recipe_is_one_line_with_the_closest_names(arg, hint, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(UserError) as e:
        load_recipe(arg)
    assert str(e.value).startswith(
        f"recipe '{arg}': no such file, and no packaged recipe of that name"
    )
    assert hint in str(e.value) and "\n" not in str(e.value)


def test_config_file_takes_a_packaged_accelerate_config_name(tmp_path):
    from vlmr1_cli.train.launch import launch_command

    p = _write(tmp_path, "model: {path: m}\n")
    r = load_recipe(p, ["launch.config_file=zero2"])
    assert r.launch.config_file == str(packaged_accelerate_configs()["zero2"])
    fsdp = load_recipe(p, ["launch.config_file=fsdp.yaml"]).launch.config_file
    assert fsdp is not None and fsdp.endswith("fsdp.yaml")
    with pytest.raises(
        UserError,
        match=r"key 'launch.config_file': accelerate config 'zero5': no such file.*"
        r"did you mean: zero",
    ):
        load_recipe(p, ["launch.config_file=zero5"])
    # the launcher passes on the file the name resolved to when the recipe loaded
    launch = load_recipe(p, ["launch.config_file=ddp"]).launch
    cmd = launch_command(launch, tmp_path / "handover", tmp_path)
    assert cmd[cmd.index("--config_file") + 1] == str(packaged_accelerate_configs()["ddp"])
    with pytest.raises(UserError, match="launch.config_file.*'nope'"):
        load_recipe(p, ["launch.config_file=nope"])


def test_a_user_recipe_extends_a_packaged_one(tmp_path):
    child = _write(tmp_path, "extends: rec_refcoco.yaml\ntraining: {learning_rate: 2.0e-6}\n")
    r = load_recipe(child)
    base = load_recipe("rec_refcoco")
    assert r.training == {**base.training, "learning_rate": 2e-6}
    assert r.rewards == base.rewards and r.model.path == "Qwen/Qwen2.5-VL-3B-Instruct"


def test_a_file_beside_wins_over_the_packaged_base(tmp_path):
    """A copied LoRA recipe next to a copied (edited) base reads that base; alone, the packaged one."""
    lora = tmp_path / "rec_refcoco_lora.yaml"
    lora.write_text((PACKAGED / "rec_refcoco_lora.yaml").read_text())
    assert load_recipe(lora).training["learning_rate"] == 1e-5
    assert load_recipe(lora).model.path == "Qwen/Qwen2.5-VL-3B-Instruct"
    (tmp_path / "rec_refcoco.yaml").write_text(
        "model: {path: my-model}\nrewards: {rec: [rec_iou]}\n"
    )
    r = load_recipe(lora)
    assert (
        r.model.path == "my-model"
        and r.rewards == {"rec": [RewardTerm(name="rec_iou", weight=1.0, options={})]}
        and r.peft.r == 64
    )


def test_packaged_recipes_extend_packaged_ones():
    """ovd_d3_lora -> ovd_d3 -> rec_refcoco, all inside the package."""
    r = load_recipe("ovd_d3_lora")
    assert r.peft.enabled and r.training["beta"] == 0.0
    assert r.training["temperature"] == 0.9  # from rec_refcoco
    assert "rec" not in r.rewards and "ovd" in r.rewards  # ovd_d3 sets rewards.rec to null


def test_extends_cycles_across_user_files_are_found(tmp_path):
    (tmp_path / "a.yaml").write_text("extends: b.yaml\n")
    (tmp_path / "b.yaml").write_text("extends: a.yaml\n")
    with pytest.raises(
        UserError, match=r"b.yaml: key 'extends': recipes extend each other in a cycle \(a.yaml\)"
    ):
        load_recipe(tmp_path / "a.yaml")


# ----------------------------------------------------------------------------- strict values

_MINIMAL = "model: {path: m}\ndata: {train: [a.jsonl]}\n"


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        # a section of the wrong type
        (["model=5"], r"--set model: key 'model': must be a mapping of keys, got a number \(5\)"),
        (["data=5"], r"key 'data': must be a mapping"),
        (["launch=3"], r"key 'launch': must be a mapping"),
        (["prompt.templates=5"], r"key 'prompt.templates': must be a mapping"),
        (["training=abc"], r"key 'training': must be a mapping"),
        (["data.train=5"], r"key 'data.train': must be a list of JSONL files"),
        (["prompt.templates.rec=5"], r"key 'prompt.templates.rec': must be text"),
        (
            ["data.train=[{path: a.jsonl, weight: abc}]"],
            r"key 'data.train\[0\].weight': expected a number, got 'abc'",
        ),
        (["data.train=[{path: a.jsonl, weight: 0}]"], r"key 'data.train\[0\].weight': must be > 0"),
        (
            ["data.train=[{path: a.jsonl, max_samples: 0}]"],
            r"key 'data.train\[0\].max_samples': must be >= 1",
        ),
        (["data.max_samples=-2"], r"key 'data.max_samples': must be >= 1"),
        # booleans are true/false only: "no" or "false" as text is an error, not a truthy string
        (
            ["model.trust_remote_code=no"],
            r"key 'model.trust_remote_code': expected true or false, got 'no'",
        ),
        (
            ["model.trust_remote_code='false'"],
            r"key 'model.trust_remote_code': expected true or false, got 'false'",
        ),
        (["peft.enabled=yes"], r"key 'peft.enabled': expected true or false"),
        (["peft.include_vision=1"], r"key 'peft.include_vision': expected true or false"),
        (["freeze.vision=off"], r"key 'freeze.vision': expected true or false"),
        (["freeze.language='true'"], r"key 'freeze.language': expected true or false"),
        # numbers out of range, or not finite
        (["peft.r=0"], r"key 'peft.r': must be >= 1"),
        (["peft.lora_dropout=1"], r"key 'peft.lora_dropout': must be in \[0, 1\)"),
        (["peft.lora_alpha=.nan"], r"key 'peft.lora_alpha': must be a finite number"),
        (["model.max_pixels=0"], r"key 'model.max_pixels': must be >= 1"),
        (
            ["rewards.rec=[{name: rec_iou, weight: .inf}]"],
            r"key 'rewards.rec\[0\].weight': must be a finite number",
        ),
        (
            ["rewards.rec=[{name: rec_iou, options: {threshold: .nan}}]"],
            r"key 'rewards.rec\[0\].options.threshold': must be a finite",
        ),
        (["model.revision=1234567"], r"key 'model.revision': must be text"),
    ],
)
def test_bad_values_are_one_line_naming_the_key(tmp_path, overrides, message):
    p = _write(tmp_path, _MINIMAL)
    with pytest.raises(UserError, match=message) as e:
        load_recipe(p, overrides)
    assert "\n" not in str(e.value)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "model: {path: m}\ndata: [a.jsonl]\n",
            r"r.yaml: key 'data': must be a mapping of keys, got a list.*data: \{train",
        ),
        (
            "model: {path: m}\ndata: {train: [{path: a.jsonl, weight: abc}]}\n",
            r"data.train\[0\].weight.*'abc'",
        ),
        ("model: {path: m, trust_remote_code: 'false'}\n", r"model.trust_remote_code.*got 'false'"),
        ("model: 5\n", r"r.yaml: key 'model': must be a mapping"),
    ],
)
def test_bad_values_in_a_file(tmp_path, text, message):
    with pytest.raises(UserError, match=message):
        load_recipe(_write(tmp_path, text))


def test_empty_sections_keep_their_defaults(tmp_path):
    r = load_recipe(_write(tmp_path, "model: {path: m}\ntraining:\npeft:\n"))
    assert r.training == {"output_dir": "runs/grpo"} and r.peft.r == 8
    r = load_recipe(
        _write(tmp_path, "model: {path: m, trust_remote_code: no}\n")
    )  # YAML 1.1 boolean
    assert r.model.trust_remote_code is False


def test_a_recipe_that_is_not_utf8_is_one_line(tmp_path):
    p = tmp_path / "r.yaml"
    p.write_bytes(b"model: {path: caf\xe9}\n")
    with pytest.raises(
        UserError, match=r"r.yaml: not UTF-8 text \(invalid continuation byte at byte 17\)"
    ):
        load_recipe(p)


@pytest.mark.parametrize(
    ("setting", "message"),
    [
        (
            "per_device_train_batch_size=0",
            r"training.per_device_train_batch_size': must be >= 1, got 0",
        ),
        ("per_device_eval_batch_size=-1", r"training.per_device_eval_batch_size': must be >= 1"),
        ("gradient_accumulation_steps=0", r"training.gradient_accumulation_steps': must be >= 1"),
        ("num_generations=1", r"training.num_generations': must be >= 2"),
        ("num_iterations=0", r"training.num_iterations': must be >= 1"),
        ("max_completion_length=0", r"training.max_completion_length': must be >= 1"),
        ("max_steps=0", r"training.max_steps': must be >= 1 \(or -1: use num_train_epochs\)"),
        ("num_train_epochs=0", r"training.num_train_epochs': must be > 0"),
        ("learning_rate=0", r"training.learning_rate': must be > 0"),
        ("learning_rate=-1e-6", r"training.learning_rate': must be > 0"),
        ("learning_rate=nan", r"training.learning_rate': must be a finite number"),
        ("learning_rate=.inf", r"training.learning_rate': must be a finite number"),
        ("beta=-0.1", r"training.beta': must be >= 0"),
        ("temperature=0", r"training.temperature': must be > 0"),
        ("top_p=1.5", r"training.top_p': must be in \(0, 1\]"),
        ("adam_beta2=1", r"training.adam_beta2': must be in \[0, 1\)"),
        ("logging_steps=0", r"training.logging_steps': must be > 0"),
        ("seed=-1", r"training.seed': must be in \[0, 4294967295\]"),
        ("dataloader_num_workers=-1", r"training.dataloader_num_workers': must be >= 0"),
        ("bf16=no", r"training.bf16': expected true or false for grpo, got 'no'"),
        ("bf16='false'", r"training.bf16': expected true or false"),
        ("use_vllm=off", r"training.use_vllm': expected true or false"),
    ],
)
def test_trl_numbers_and_booleans_are_checked(tmp_path, setting, message):
    p = _write(tmp_path, _MINIMAL)
    with pytest.raises(UserError, match=message):
        load_recipe(p, [setting])


def test_trl_values_in_range_pass(tmp_path):
    p = _write(tmp_path, _MINIMAL)
    r = load_recipe(
        p,
        [
            "max_steps=-1",
            "save_strategy=no",
            "bf16=false",
            "warmup_steps=0.1",
            "top_k=0",
            "learning_rate=1e-6",
            "beta=0",
            "num_generations=2",
            "save_total_limit=0",
        ],
    )
    validate_training(r.method, r.training)
    assert r.training["save_strategy"] == "no"  # TRL's enum keeps its "no"
    assert r.training["max_steps"] == -1 and r.training["bf16"] is False
    assert r.training["learning_rate"] == 1e-6


def test_model_loading_never_reads_a_string_as_remote_code_on(monkeypatch):
    """Defence in depth beside the recipe check: only a real `true` turns remote code on."""
    import transformers

    from vlmr1_cli.train.model_setup import load_policy_model

    seen = []

    def fake_from_pretrained(path, **kwargs):
        seen.append(kwargs["trust_remote_code"])
        raise OSError("stop here")

    monkeypatch.setattr(
        transformers.AutoModelForImageTextToText, "from_pretrained", fake_from_pretrained
    )
    from vlmr1_cli.recipes.schema import ModelSettings

    for value in ("no", "false", True):
        # a recipe built by hand, past load_recipe's check that refuses these strings
        recipe = Recipe(model=ModelSettings(path="m", trust_remote_code=value))
        with pytest.raises(UserError, match="cannot load model"):
            load_policy_model("m", None, recipe)
    assert seen == [False, False, True]
