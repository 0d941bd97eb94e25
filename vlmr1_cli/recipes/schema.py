"""The recipe as typed objects: one dataclass per section, and the defaults every recipe starts
from (`DEFAULTS`, the same values as a mapping: what `extends` and `--set` merge into).

`loading.load_recipe` returns a `Recipe`; its values are checked (values.py, launch_settings.py,
trl_fields.py) before the dataclasses are built, so code that receives a `Recipe` trusts it.
`Recipe.as_mapping()` is the recipe as YAML shows it (`--print-config`, `vlmr1_recipe.yaml`),
and `Recipe.from_mapping()` reads that back without checking again: the launcher hands a
resolved recipe to its ranks this way (train/launch.py).

The `training` section stays a mapping of TRL field names to checked values: TRL's
GRPOConfig/SFTConfig reads the world size and sets up the device when it is built, so each
training process builds its own (`trl_fields.trainer_config`).
"""

from __future__ import annotations

import copy
import dataclasses
from dataclasses import dataclass, field
from typing import Any

from vlmr1_cli.prompts import DEFAULT_ANSWER_TEMPLATES, DEFAULT_TEMPLATES


@dataclass
class ModelSettings:
    path: str | None = None
    # family/frame: optional expectations (e.g. qwen2_5_vl / qwen25_abs); a checkpoint of
    # another family or frame is then an error before any weights load.
    family: str | None = None
    frame: str | None = None
    dtype: str | None = None
    trust_remote_code: bool = False
    min_pixels: int | None = None
    max_pixels: int | None = None
    attn_implementation: str | None = None
    # A Hub branch, tag or commit for `path` given as a repo id.
    revision: str | None = None
    # A LoRA adapter (folder or Hub id) to train on, unmerged; its base model is `path` if
    # given, else adapter_config.json's (train/model_setup.py).
    adapter: str | None = None


@dataclass
class DataSource:
    """One JSONL file: its image root (default: its folder), how many times each record is
    used per epoch (`weight`), and an optional cap on its records."""

    path: str
    image_root: str
    weight: float = 1.0
    max_samples: int | None = None


@dataclass
class DataSettings:
    train: list[DataSource] = field(default_factory=list)
    eval: list[DataSource] = field(default_factory=list)
    max_samples: int | None = None
    seed: int = 0


@dataclass
class PromptSettings:
    """The system prompt and the templates per task; `as_mapping()` is the form saved in a
    model's vlmr1.json and read by the data loader and evaluation."""

    system: str | None = None
    templates: dict[str, str] = field(default_factory=lambda: dict(DEFAULT_TEMPLATES))
    answer_templates: dict[str, str] = field(default_factory=lambda: dict(DEFAULT_ANSWER_TEMPLATES))

    def as_mapping(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass
class RewardTerm:
    """One reward of a task: a registered name or `module:function`, its weight in the sum
    (TRL's `reward_weights`), and keyword options for the reward's factory."""

    name: str
    weight: float = 1.0
    options: dict[str, Any] = field(default_factory=dict)


@dataclass
class PeftSettings:
    enabled: bool = False
    r: int = 8
    lora_alpha: float = 16
    lora_dropout: float = 0.05
    target_modules: str | list[str] = "all-linear"
    include_vision: bool = False


@dataclass
class FreezeSettings:
    vision: bool = False
    language: bool = False


@dataclass
class LaunchSettings:
    """Unset keys are left to the accelerate config (or to accelerate's defaults)."""

    num_processes: int | None = None
    num_machines: int | None = None
    machine_rank: int | None = None
    main_process_ip: str | None = None
    main_process_port: int | None = None
    config_file: str | None = None  # resolved to a file path when the recipe loads

    def as_mapping(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass
class Recipe:
    """A loaded, checked recipe (loading.load_recipe)."""

    method: str = "grpo"  # grpo | sft
    model: ModelSettings = field(default_factory=ModelSettings)
    data: DataSettings = field(default_factory=DataSettings)
    prompt: PromptSettings = field(default_factory=PromptSettings)
    # task -> its rewards (GRPO only; tasks set to null in YAML are dropped)
    rewards: dict[str, list[RewardTerm]] = field(default_factory=dict)
    # TRL GRPOConfig/SFTConfig field -> value, as set by the recipe (output_dir always set)
    training: dict[str, Any] = field(default_factory=dict)
    peft: PeftSettings = field(default_factory=PeftSettings)
    freeze: FreezeSettings = field(default_factory=FreezeSettings)
    launch: LaunchSettings = field(default_factory=LaunchSettings)

    @property
    def output_dir(self) -> str:
        return str(self.training["output_dir"])

    def as_mapping(self) -> dict[str, Any]:
        """The recipe as nested mappings and lists (secrets included: dump_recipe hides them)."""
        return dataclasses.asdict(self)

    @classmethod
    def from_mapping(cls, mapping: dict[str, Any]) -> Recipe:
        """A recipe from `as_mapping()`'s output or from the checked mapping load_recipe builds
        (sources and reward terms already in their full form); nothing is checked here."""
        m = copy.deepcopy(mapping)
        data = m["data"]
        return cls(
            method=m["method"],
            model=ModelSettings(**m["model"]),
            data=DataSettings(
                train=[DataSource(**s) for s in data["train"]],
                eval=[DataSource(**s) for s in data["eval"]],
                max_samples=data["max_samples"],
                seed=data["seed"],
            ),
            prompt=PromptSettings(**m["prompt"]),
            rewards={
                task: [RewardTerm(**term) for term in terms] for task, terms in m["rewards"].items()
            },
            training=m["training"],
            peft=PeftSettings(**m["peft"]),
            freeze=FreezeSettings(**m["freeze"]),
            launch=LaunchSettings(**m["launch"]),
        )


def _defaults() -> dict[str, Any]:
    out = dataclasses.asdict(Recipe())
    out["data"]["train"], out["data"]["eval"] = [], []
    return out


# The defaults as a mapping: the base every recipe file and `--set` override merges into, and
# the table of valid keys that unknown ones are compared with.
DEFAULTS: dict[str, Any] = _defaults()
SECTIONS = tuple(DEFAULTS)
# Sections whose inner keys are free-form (validated elsewhere).
OPEN_SECTIONS = {"training", "rewards"}
OPEN_SUBKEYS = {("prompt", "templates"), ("prompt", "answer_templates")}
DATA_SOURCE_KEYS = tuple(f.name for f in dataclasses.fields(DataSource))
REWARD_TERM_KEYS = tuple(f.name for f in dataclasses.fields(RewardTerm))
