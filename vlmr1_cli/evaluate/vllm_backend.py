"""The optional vLLM backend (`--backend vllm`, the `[vllm]` extra): same prompts, same
pre-resized images, same greedy decoding, same outputs as the Hugging Face backend.

Images reach vLLM already at their model-input size, and vLLM's processor is given the same
pixel limits, so its own resize is a no-op and the boxes stay in the frame the family maps
back (docs/coordinates.md §4). A LoRA adapter is served on top of its base with a LoRA request.
"""

from __future__ import annotations

import importlib.util
import os
from typing import Any

from vlmr1_cli.errors import UserError
from vlmr1_cli.evaluate.generation import row_images


def require_vllm() -> None:
    if importlib.util.find_spec("vllm") is None:
        raise UserError("--backend vllm: vLLM is not installed (pip install 'vlmr1[vllm]')")


def pin_local_gpu() -> None:
    """Under a multi-process launch each rank's vLLM engine takes its own GPU."""
    local = os.environ.get("LOCAL_RANK")
    if local is not None and "CUDA_VISIBLE_DEVICES" not in os.environ:
        os.environ["CUDA_VISIBLE_DEVICES"] = local


class VLLMGenerator:
    name = "vllm"

    def __init__(
        self,
        weights_dir: str,
        processor_dir: str,
        adapter_dir: str | None,
        limits: Any,
        max_new_tokens: int,
        max_images: int,
        dtype: str | None = None,
        trust_remote_code: bool = False,
        family: Any = None,
    ):
        require_vllm()
        pin_local_gpu()
        if family is None:
            from vlmr1_cli.models.registry import family_for_path

            family = family_for_path(weights_dir)
        from vlmr1_cli.models.processor_compat import check_vllm_loadable

        check_vllm_loadable(family, processor_dir, weights_dir)
        from vllm import LLM, SamplingParams

        kwargs: dict[str, Any] = {
            "model": weights_dir,
            "tokenizer": processor_dir,
            "seed": 0,
            "limit_mm_per_prompt": {"image": max(1, max_images)},
            "mm_processor_kwargs": family.vllm_processor_kwargs(limits),
            "trust_remote_code": trust_remote_code,
        }
        if dtype:
            kwargs["dtype"] = dtype
        self.lora = None
        if adapter_dir:
            from vllm.lora.request import LoRARequest

            kwargs["enable_lora"] = True
            kwargs["max_lora_rank"] = _adapter_rank(adapter_dir)
            self.lora = LoRARequest("vlmr1-adapter", 1, adapter_dir)
        try:
            self.llm = LLM(**kwargs)
        except (OSError, ValueError) as e:
            raise UserError(
                f"{weights_dir}: vLLM cannot load the model: {str(e).splitlines()[0]}"
            ) from None
        self.params = SamplingParams(
            temperature=0.0, max_tokens=max_new_tokens, skip_special_tokens=True
        )

    def generate(self, rows: list[dict]) -> list[str]:
        images = iter(row_images(rows))
        prompts = []
        for r in rows:
            item: dict[str, Any] = {"prompt": r["text"]}
            if r["image_paths"]:
                item["multi_modal_data"] = {"image": [next(images) for _ in r["image_paths"]]}
            prompts.append(item)
        outs = self.llm.generate(prompts, self.params, lora_request=self.lora, use_tqdm=False)
        return [o.outputs[0].text for o in outs]


def _adapter_rank(adapter_dir: str) -> int:
    import json
    from pathlib import Path

    cfg = json.loads((Path(adapter_dir) / "adapter_config.json").read_text(encoding="utf-8"))
    rank = int(cfg.get("r") or 8)
    for allowed in (8, 16, 32, 64, 128, 256, 320, 512):  # the ranks vLLM accepts
        if rank <= allowed:
            return allowed
    raise UserError(
        f"{adapter_dir}: LoRA rank {rank} is above vLLM's limit (512); merge it with `vlmr1 export`"
    )
