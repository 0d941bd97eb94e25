"""A small byte-level BPE tokenizer with Qwen-VL's special tokens, trained offline.

The Hub is unreachable in tests and the demo, so presets train their own vocabulary on a
synthetic corpus of the words, tags and numbers that grounding answers use. Digits split one
per token, as in real Qwen tokenizers (transformers' Qwen2Tokenizer applies that pre-split).
"""

from __future__ import annotations

import json
import random

QWEN_VL_SPECIAL_TOKENS = [
    "<|endoftext|>",
    "<|im_start|>",
    "<|im_end|>",
    "<|object_ref_start|>",
    "<|object_ref_end|>",
    "<|box_start|>",
    "<|box_end|>",
    "<|quad_start|>",
    "<|quad_end|>",
    "<|vision_start|>",
    "<|vision_end|>",
    "<|vision_pad|>",
    "<|image_pad|>",
    "<|video_pad|>",
]

# Qwen2-VL's chat template: one vision block per image, default system message.
QWEN_VL_CHAT_TEMPLATE = (
    "{% set image_count = namespace(value=0) %}{% set video_count = namespace(value=0) %}"
    "{% for message in messages %}{% if loop.first and message['role'] != 'system' %}"
    "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n{% endif %}"
    "<|im_start|>{{ message['role'] }}\n{% if message['content'] is string %}"
    "{{ message['content'] }}<|im_end|>\n{% else %}{% for content in message['content'] %}"
    "{% if content['type'] == 'image' or 'image' in content or 'image_url' in content %}"
    "{% set image_count.value = image_count.value + 1 %}"
    "<|vision_start|><|image_pad|><|vision_end|>"
    "{% elif content['type'] == 'video' or 'video' in content %}"
    "{% set video_count.value = video_count.value + 1 %}"
    "<|vision_start|><|video_pad|><|vision_end|>"
    "{% elif 'text' in content %}{{ content['text'] }}{% endif %}{% endfor %}<|im_end|>\n{% endif %}"
    "{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)

_WORDS = (
    "the a of in on and to is it left right above below top bottom small large big tiny "
    "red green blue yellow purple orange white black gray cyan pink brown "
    "circle square triangle star cross diamond ring shape object person car dog "
    "please provide bounding box coordinate region this sentence describes detect following "
    "objects output thinking process final answer json format label bbox_2d none image "
    "think answer first then tags carefully check if no targets are detected simply respond "
    "with coordinates of between next nearest most farthest"
).split()


def _corpus(seed: int, n_lines: int = 800) -> list[str]:
    rng = random.Random(seed)
    lines = []
    for _ in range(n_lines):
        words = " ".join(rng.choice(_WORDS) for _ in range(rng.randint(3, 12)))
        box = [rng.randint(0, 999) for _ in range(4)]
        obj = json.dumps([{"bbox_2d": box, "label": rng.choice(_WORDS)}])
        lines.append(f"{words}. <think>{words}</think> <answer>{obj}</answer>")
        lines.append(f"```json\n{obj}\n``` {box} ({box[0]},{box[1]}),({box[2]},{box[3]})")
    return lines


def build_tokenizer(seed: int = 0, vocab_size: int = 600):
    """A `Qwen2Tokenizer` (eos `<|im_end|>`, pad `<|endoftext|>`) with the Qwen-VL chat template."""
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers
    from transformers import Qwen2Tokenizer

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(_corpus(seed), trainer=trainer)
    data = json.loads(tok.to_str())["model"]
    vocab = data["vocab"]
    merges = [tuple(m.split(" ")) if isinstance(m, str) else tuple(m) for m in data["merges"]]
    # transformers annotates `merges` as str | list[str] and `unk_token` as str, but hands both
    # to tokenizers' BPE, which takes (left, right) pairs and no unknown token.
    qtok = Qwen2Tokenizer(
        vocab=vocab,
        merges=merges,  # type: ignore[arg-type]
        unk_token=None,  # type: ignore[arg-type]
        bos_token=None,
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
    )
    qtok.add_special_tokens(
        {
            "additional_special_tokens": [
                t for t in QWEN_VL_SPECIAL_TOKENS if t not in ("<|endoftext|>", "<|im_end|>")
            ]
        }
    )
    qtok.add_tokens(["<|endoftext|>", "<|im_end|>"], special_tokens=True)
    qtok.chat_template = QWEN_VL_CHAT_TEMPLATE
    return qtok
