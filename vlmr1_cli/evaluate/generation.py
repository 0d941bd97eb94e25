"""Batched greedy generation with Hugging Face `generate`: left padding, batches by length.

Batches are a fixed partition of the whole evaluation set (longest prompts first, so memory
errors surface at once), computed the same way on every run: a resumed run or a rank of a
sharded run generates exactly the batches an uninterrupted single-process run would, so the
completions, and the metrics, do not depend on where a run was cut or how it was split.
"""

from __future__ import annotations

from typing import Any

from vlmr1_cli.images import load_rgb


def chat_text(processor: Any, prompt: list[dict], n_images: int) -> str:
    """The chat-formatted prompt with one image block per image before the user's text."""
    messages = []
    for msg in prompt:
        if msg["role"] == "user" and n_images:
            content = [{"type": "image"} for _ in range(n_images)] + [
                {"type": "text", "text": msg["content"]}
            ]
            messages.append({"role": "user", "content": content})
        else:
            messages.append(
                {"role": msg["role"], "content": [{"type": "text", "text": msg["content"]}]}
            )
    return processor.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)


def add_prompt_texts(rows: list[dict], processor: Any, factor: int) -> None:
    """Store each row's chat text (`text`) and its prompt length in tokens (`n_tokens`):
    text tokens plus the image's visual tokens (one per factor x factor pixels)."""
    texts = [chat_text(processor, r["prompt"], len(r["image_paths"])) for r in rows]
    lengths = processor.tokenizer(texts, add_special_tokens=False)["input_ids"]
    for row, text, ids in zip(rows, texts, lengths, strict=True):
        row["text"] = text
        row["n_tokens"] = len(ids) + sum(w * h for w, h in row["input_sizes"]) // (factor * factor)


def plan_batches(rows: list[dict], batch_size: int) -> list[list[dict]]:
    """Rows sorted by prompt length (longest first; ties keep file order), cut in batches."""
    ordered = sorted(rows, key=lambda r: -r["n_tokens"])
    return [ordered[i : i + batch_size] for i in range(0, len(ordered), batch_size)]


def row_images(rows: list[dict]) -> list:
    """The images of `rows`, in order, each at its model-input size (under the pixel limit)."""
    return [
        load_rgb(p, s)
        for r in rows
        for p, s in zip(r["image_paths"], r["input_sizes"], strict=True)
    ]


class HFGenerator:
    """Greedy decoding with transformers' `generate` on a loaded model (models.loading); on
    request, sampling several completions per prompt (experiments/headroom.py measures pass@k)."""

    name = "hf"

    def __init__(self, model: Any, processor: Any, max_new_tokens: int):
        self.model = model
        self.processor = processor
        self.max_new_tokens = max_new_tokens
        processor.tokenizer.padding_side = "left"

    def generate(
        self, rows: list[dict], num_samples: int = 1, temperature: float | None = None
    ) -> list[str]:
        """One greedy completion per row; with a `temperature`, `num_samples` sampled
        completions per row instead (row by row: row 0's samples first). Sampling draws from
        torch's global generator: seed it for repeatable samples."""
        import torch

        tok = self.processor.tokenizer
        # One list of images per prompt: SmolVLM2's processor, unlike Idefics3's, does not split
        # a flat list between the prompts of a batch (the other processors accept both).
        images = [row_images([r]) for r in rows]
        inputs = self.processor(
            text=[r["text"] for r in rows],
            images=images if any(images) else None,
            padding=True,
            return_tensors="pt",
        ).to(self.model.device)
        decoding: dict[str, bool | float | int | None]
        if temperature is None:
            decoding = {"do_sample": False, "temperature": None, "top_p": None, "top_k": None}
        else:
            decoding = {
                "do_sample": True,
                "temperature": temperature,
                "top_p": 1.0,
                "top_k": 0,
                "num_return_sequences": num_samples,
            }
        with torch.inference_mode():
            out = self.model.generate(
                **inputs,
                max_new_tokens=self.max_new_tokens,
                pad_token_id=tok.pad_token_id,
                **decoding,
            )
        return tok.batch_decode(out[:, inputs["input_ids"].shape[1] :], skip_special_tokens=True)
