"""Recipes: YAML -> a checked, typed `Recipe` (schema.py), with `--set key=value` overrides.

A recipe has these sections (all optional except `model` and `data`):

    method:   grpo | sft
    model:    path, revision, adapter, family, frame, dtype, trust_remote_code, min_pixels,
              max_pixels, attn_implementation
    data:     train: [{path, image_root, weight, max_samples}], eval: [...], max_samples, seed
    prompt:   system, templates: {task: "...{problem}...{labels}..."}, answer_templates: {...}
    rewards:  {task: [{name, weight}]}            (GRPO only; names or module:function)
    training: every field of TRL's GRPOConfig / SFTConfig, passed through and validated
    peft:     enabled, r, lora_alpha, lora_dropout, target_modules, include_vision
    freeze:   vision, language
    launch:   num_processes, num_machines, machine_rank, main_process_ip, main_process_port, config_file

A recipe is a file, or the name of a packaged one (`rec_refcoco`; `vlmr1 recipes list`).
It may begin with `extends: base.yaml`: the file beside it if there is one, else the packaged
recipe of that name. The base is read first, mappings merge key by key, `null` removes a base
key and other values replace (the LoRA variants extend the full fine-tuning recipes this way).
Unknown keys are errors that name the closest valid keys. A bare `--set max_steps=2` (no
section) means `training.max_steps`.

Values are checked strictly, each error one line naming the key: sections are mappings,
booleans are true/false (the text "no" or "false" is an error, never a truthy string: it
would turn `model.trust_remote_code` on), numbers are finite and in range.

The package, by concept: `schema` (the typed sections and their defaults), `loading` (reading
a recipe: YAML, `extends`, `--set` overrides, defaults, every check; and dumping one),
`values` (types and ranges of the fixed keys, the data sources and rewards in their full
form), `launch_settings` (the `launch` section with the accelerate config it names) and
`trl_fields` (the `training` section against TRL's config classes, and TRL's config built
from it).
"""
