"""Check a merged model against the adapter model it came from.

Both models see the same real input: a drawn image and a grounding prompt, passed through
the checkpoint's own processor and chat template. The check compares next-token logits at
every position; the error is the largest absolute difference divided by the largest
absolute reference logit, so it does not depend on the model's logit scale.

Tolerances depend on the dtype the merged model runs in. Measured on the tiny preset with
a random adapter: float32 merge 5e-7, float16 cast 5e-3, bfloat16 cast 9e-3; a merge that
drops the adapter errs by about 2.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from vlmr1_cli.errors import UserError

TOLERANCES = {"float32": 1e-3, "float16": 2e-2, "bfloat16": 5e-2}
SAMPLE_PROMPT = (
    "Please provide the bounding box coordinate of the region this sentence "
    "describes: the red square."
)
SAMPLE_SIZE = (224, 168)  # width, height: not square, so both axes are exercised


@dataclass
class CheckResult:
    dtype: str
    error: float  # max |merged - reference| / max |reference|
    tolerance: float
    positions: int  # sequence positions compared

    @property
    def passed(self) -> bool:
        return self.error <= self.tolerance


def sample_image():
    """A deterministic picture with a few coloured shapes."""
    from PIL import Image, ImageDraw

    w, h = SAMPLE_SIZE
    img = Image.new("RGB", (w, h), (235, 235, 230))
    draw = ImageDraw.Draw(img)
    for x in range(0, w, 8):  # a gradient band, so patches differ
        draw.line([(x, 0), (x, h // 6)], fill=(x % 256, 120, 255 - x % 256))
    draw.rectangle([20, 40, 80, 100], fill=(220, 30, 30))
    draw.ellipse([120, 60, 190, 130], fill=(30, 60, 220))
    draw.polygon([(100, 150), (130, 110), (160, 150)], fill=(40, 170, 60))
    return img


def sample_inputs(processor: Any, device: str | None = None) -> dict:
    """Processor outputs (tensors) for one image + prompt, ready for `model(**inputs)`."""
    messages = [
        {"role": "user", "content": [{"type": "image"}, {"type": "text", "text": SAMPLE_PROMPT}]}
    ]
    text = processor.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    inputs = processor(text=[text], images=[sample_image()], return_tensors="pt")
    return {k: (v.to(device) if device else v) for k, v in inputs.items()}


def logits(model: Any, inputs: dict) -> Any:
    """Float32 logits on the CPU; floating inputs follow the model's dtype."""
    import torch

    dtype = next(model.parameters()).dtype
    feed = {k: (v.to(dtype) if v.is_floating_point() else v) for k, v in inputs.items()}
    with torch.inference_mode():
        out = model(**feed).logits
    return out.float().cpu()


def compare(
    reference: Any, candidate: Any, dtype: str, tolerance: float | None = None
) -> CheckResult:
    import torch

    if reference.shape != candidate.shape:
        raise UserError(
            f"merge check: logits shapes differ ({tuple(reference.shape)} vs "
            f"{tuple(candidate.shape)})"
        )
    tol = TOLERANCES[dtype] if tolerance is None else tolerance
    positions = int(reference.shape[-2]) if reference.dim() >= 2 else 1
    if not torch.isfinite(candidate).all():
        return CheckResult(dtype, float("inf"), tol, positions)
    scale = reference.abs().max().clamp_min(1e-12)
    err = float((candidate - reference).abs().max() / scale)
    return CheckResult(dtype, err, tol, positions)


def require(result: CheckResult, what: str) -> CheckResult:
    if not result.passed:
        hint = (
            ""
            if result.dtype == "float32"
            else f" (try --dtype float32, or --tolerance if {result.dtype} rounding is expected)"
        )
        raise UserError(
            f"merge check failed: {what} differs from the adapter model by "
            f"{result.error:.3g} (relative max |Δlogit|; tolerance {result.tolerance:g} "
            f"for {result.dtype}); nothing was written{hint}"
        )
    return result
