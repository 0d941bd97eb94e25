"""Batched greedy generation with left padding, batches formed by prompt length."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from vlmr1_cli.data.loader import load_image


def chat_text(processor: Any, prompt: list[dict], n_images: int) -> str:
    """The chat-formatted prompt with one image block per image before the user's text."""
    messages = []
    for msg in prompt:
        if msg["role"] == "user" and n_images:
            content = [{"type": "image"} for _ in range(n_images)] + [{"type": "text", "text": msg["content"]}]
            messages.append({"role": "user", "content": content})
        else:
            messages.append({"role": msg["role"], "content": [{"type": "text", "text": msg["content"]}]})
    return processor.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)


def length_sorted_batches(rows: list[dict], batch_size: int) -> Iterator[list[dict]]:
    """Group rows of similar prompt length (text + image tokens) to minimise padding."""
    def cost(r: dict) -> int:
        return len(r["prompt"][-1]["content"]) + sum(w * h for w, h in r["input_sizes"]) // 784
    ordered = sorted(rows, key=cost)
    for i in range(0, len(ordered), batch_size):
        yield ordered[i:i + batch_size]


def generate_batch(model: Any, processor: Any, batch: list[dict], max_new_tokens: int) -> list[str]:
    import torch

    texts = [chat_text(processor, r["prompt"], len(r["image_paths"])) for r in batch]
    images = [load_image(p, s) for r in batch for p, s in zip(r["image_paths"], r["input_sizes"], strict=True)]
    tok = processor.tokenizer
    tok.padding_side = "left"
    inputs = processor(text=texts, images=images or None, padding=True, return_tensors="pt")
    inputs = inputs.to(model.device)
    with torch.inference_mode():
        out = model.generate(**inputs, do_sample=False, max_new_tokens=max_new_tokens,
                             pad_token_id=tok.pad_token_id, temperature=None, top_p=None, top_k=None)
    new = out[:, inputs["input_ids"].shape[1]:]
    return tok.batch_decode(new, skip_special_tokens=True)
