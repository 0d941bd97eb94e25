"""The prompts the memory plan is for: text tokens (chat template included), SFT answer tokens
and image sizes sampled from the training records, or the recipe's template with one image
of a given size (default one at max_pixels, the worst case); their typical length is a
quantile of the sample.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vlmr1_cli.recipes.schema import Recipe
from vlmr1_cli.train.memory_plan import ModelShape

# Records read per training file to find the typical prompt (text and image tokens).
DATA_SAMPLE = 512
# The prompt length planned for: this quantile of the sampled records. Batches are padded to
# their longest prompt, and the longest of 8 random records sits near the 90th percentile.
PROMPT_QUANTILE = 0.9
# Without a tokenizer (a Hub id, whose config alone is fetched): characters per token of
# English text in a BPE vocabulary, and the chat template's own tokens (role markers, the
# default system prompt).
CHARS_PER_TOKEN = 4.0
CHAT_TEMPLATE_TOKENS = 24


def image_cost(
    shape: ModelShape, family: Any, limits: Any, width: int, height: int
) -> tuple[int, int]:
    """(image tokens, vision patches) of one image at its model-input size."""
    w, h = family.input_size(int(width), int(height), limits)
    if shape.tile_tokens:
        rows, cols = family.tile_grid(int(width), int(height), limits)
        tiles = rows * cols + 1
        return tiles * shape.tile_tokens, tiles * shape.tile_patches
    patches = (w // shape.patch_size) * (h // shape.patch_size)
    return patches // (shape.merge_size**2), patches


def _quantile(values: list[int], q: float) -> int:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(math.ceil(q * len(ordered))) - 1)] if ordered else 0


def _tokenizer(folder: Path) -> Any:
    try:
        from transformers import AutoTokenizer

        tok = AutoTokenizer.from_pretrained(str(folder), local_files_only=True)
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return tok if getattr(tok, "chat_template", None) else None


def _text_tokens(tok: Any, system: str | None, text: str, answer: str | None = None) -> int:
    if tok is None:
        chars = len(text) + len(system or "") + len(answer or "")
        return int(math.ceil(chars / CHARS_PER_TOKEN)) + CHAT_TEMPLATE_TOKENS
    messages = ([{"role": "system", "content": system}] if system else []) + [
        {"role": "user", "content": text}
    ]
    if answer is not None:
        messages.append({"role": "assistant", "content": answer})
    ids = tok.apply_chat_template(messages, tokenize=True, add_generation_prompt=answer is None)
    if isinstance(ids, Mapping):  # a BatchEncoding in transformers 5
        ids = ids["input_ids"]
    return len(ids)


@dataclass(frozen=True)
class PromptSample:
    """The prompts planned for: per record, its text tokens (chat template and the vision
    markers included), its SFT answer's tokens and its images' original sizes."""

    text_tokens: list[int]
    answer_tokens: list[int]
    image_sizes: list[list[tuple[int, int]]]
    source: str

    def text(self) -> int:
        return _quantile(self.text_tokens, PROMPT_QUANTILE)

    def answer(self) -> int:
        return _quantile(self.answer_tokens, PROMPT_QUANTILE)

    def images(self, shape: ModelShape, family: Any, limits: Any) -> tuple[int, int]:
        """(image tokens, vision patches) per prompt at these pixel limits."""
        costs = [
            [image_cost(shape, family, limits, w, h) for w, h in sizes]
            for sizes in self.image_sizes
        ]
        return (
            _quantile([sum(c[0] for c in cs) for cs in costs], PROMPT_QUANTILE),
            _quantile([sum(c[1] for c in cs) for cs in costs], PROMPT_QUANTILE),
        )


def sample_prompts(
    recipe: Recipe, family: Any, limits: Any, folder: Path, image_size: tuple[int, int] | None
) -> PromptSample:
    """Up to DATA_SAMPLE records of each training file; when the files are not at hand (or
    `image_size` is given), the recipe's template with one image of `image_size`, default
    one at max_pixels (the worst case)."""
    from vlmr1_cli.data.loader import (
        answer_text,
        iter_records,
        prompt_text,
        solution_to_model_frame,
    )

    prompt = recipe.prompt
    system = prompt.system
    tok = _tokenizer(folder)
    sources = [s for s in recipe.data.train if Path(s.path).is_file()]
    if sources and image_size is None:
        texts, answers, sizes = [], [], []
        for src in sources:
            for rec in iter_records(
                src.path, src.image_root, max_samples=DATA_SAMPLE, check_images=False
            ):
                question = prompt_text(rec, prompt.templates)
                bare = _text_tokens(tok, system, question)
                answer = 0
                if recipe.method == "sft":
                    inputs = [
                        family.input_size(int(w), int(h), limits) for w, h in rec["image_sizes"]
                    ]
                    target = answer_text(
                        rec,
                        solution_to_model_frame(rec, family, inputs),
                        family,
                        prompt.answer_templates,
                    )
                    answer = _text_tokens(tok, system, question, target) - bare
                texts.append(bare + 2 * len(rec["image_sizes"]))  # vision start/end markers
                answers.append(answer)
                sizes.append([(int(w), int(h)) for w, h in rec["image_sizes"]])
        where = f"{len(texts)} training records sampled, their {PROMPT_QUANTILE:.0%} quantile"
        return PromptSample(texts, answers, sizes, where)
    task = next(iter(recipe.rewards), None) or next(iter(prompt.templates), "rec")
    question = prompt.templates.get(task) or "{problem}"
    question = question.replace("{problem}", "the object on the left").replace(
        "{labels}", "['object']"
    )
    answer = 0
    if recipe.method == "sft":  # a one-box answer
        target = prompt.answer_templates.get(task) or "{solution}"
        target = target.replace("{think}", "").replace("{box}", "[120, 80, 360, 300]")
        target = target.replace(
            "{objects}", '[{"bbox_2d": [120, 80, 360, 300], "label": "object"}]'
        )
        answer = _text_tokens(
            tok, system, question, target.replace("{solution}", "42")
        ) - _text_tokens(tok, system, question)
    side = math.isqrt(limits.max_pixels)
    w, h = image_size or (side, side)
    where = (
        f"one {w}x{h} image per prompt (--image-size)"
        if image_size
        else f"no training data at hand: one image at max_pixels ({limits.max_pixels:,} pixels), the worst "
        "case (--image-size sets a typical size)"
    )
    return PromptSample([_text_tokens(tok, system, question) + 2], [answer], [[(w, h)]], where)
