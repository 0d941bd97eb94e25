"""No reward raises or stalls, whatever the text: hypothesis + 10,000 adversarial strings.

A stuck policy repeats itself for thousands of characters; the paper's `.*?` regexes
backtrack for seconds to forever on exactly that text. The watchdog below only turns a
hang into a failure (a stall guard, not a timing assertion).
"""

from __future__ import annotations

import json
import math
import random
import signal
from contextlib import contextmanager

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from vlmr1_cli.metrics.pycoco import vlmr1_calculate_map
from vlmr1_cli.parsing import completion_text, parse_boxes, parse_rec_box, parse_rec_box_vlmr1
from vlmr1_cli.rewards import REWARD_NAMES, get_reward
from vlmr1_cli.rewards.ovd import clean_text

REWARDS = {name: get_reward(name) for name in REWARD_NAMES}
REWARDS["ovd_format_strict"] = get_reward("ovd_format", strict=True)
REWARDS["rec_iou_tolerant"] = get_reward("rec_iou", iou_kind="continuous", parser="tolerant")
OVD_GT = [
    {"bbox_2d": [10, 10, 50, 50], "label": "car"},
    {"bbox_2d": [60, 60, 90, 95.5], "label": "a dog"},
]
SOLUTIONS = {
    "rec": [[10.0, 10.0, 50.0, 50.0], "<answer>[10, 10, 50, 50]</answer>", [0, 0, 0, 0]],
    "ovd": [
        OVD_GT,
        [],
        "<answer>None</answer>",
        "<answer>```json\n" + json.dumps(OVD_GT) + "\n```</answer>",
    ],
}
PIECES = [
    "<think>",
    "</think>",
    "<answer>",
    "</answer>",
    "```json",
    "```",
    "{",
    "}",
    "[",
    "]",
    ",",
    ":",
    " ",
    "\n",
    "\r",
    '"',
    "'",
    "\\",
    "1",
    "23",
    "-4.5e3",
    "NaN",
    "Infinity",
    "1e999",
    "None",
    "none",
    ".",
    '"bbox_2d"',
    '"label"',
    '"car"',
    "[10,10,50,50]",
    '{"bbox_2d": [10, 10, 50, 50], "label": "car"}',
    "<|box_start|>",
    "<|box_end|>",
    "<|object_ref_start|>",
    "<|object_ref_end|>",
    "(1,2),(3,4)",
    "\u0663",
    "\x00",
]


@contextmanager
def watchdog(seconds: int):
    """Fail instead of hanging forever (SIGALRM; a no-op where it is unavailable)."""
    if not hasattr(signal, "SIGALRM"):
        yield
        return

    def _stall(signum, frame):
        raise TimeoutError(f"stalled for over {seconds} s")

    old = signal.signal(signal.SIGALRM, _stall)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


def check_all(texts: list[str], n_solutions: int = 4) -> None:
    for name, fn in REWARDS.items():
        kind = "rec" if name.startswith("rec") else "ovd"
        for sol in SOLUTIONS[kind][:n_solutions]:
            out = fn(texts, [sol] * len(texts))
            assert len(out) == len(texts)
            for v in out:
                assert type(v) is float and math.isfinite(v) and 0.0 <= v <= 1.0, (name, v)
    for t in map(completion_text, texts):
        parse_boxes(t)
        parse_rec_box(t)
        parse_rec_box_vlmr1(t)
        clean_text(t)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(max_size=400))
def test_arbitrary_text(text):
    check_all([text, [{"role": "assistant", "content": text}]])  # type: ignore[list-item]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.sampled_from(PIECES), max_size=60).map("".join))
def test_tag_and_json_soup(text):
    check_all([text])


@settings(max_examples=100, deadline=None)
@given(
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
        lambda inner: (
            st.lists(inner, max_size=5)
            | st.dictionaries(st.sampled_from(["bbox_2d", "label", "x"]), inner, max_size=3)
        ),
        max_leaves=20,
    )
)
def test_arbitrary_json_in_the_answer(value):
    body = json.dumps(value)
    check_all(
        [f"<think>t</think><answer>```json\n{body}\n```</answer>", f"<answer>{body}</answer>"]
    )


def adversarial_strings(n: int = 10_000, seed: int = 0) -> list[str]:
    rng = random.Random(seed)
    long_units = [
        "<think>",
        "</think>",
        "<answer>",
        "</answer>",
        "```json",
        "```",
        "{",
        "[",
        "[1,",
        "[1, 2,",
        "<think>a</think><answer>{",
        "<think>x</think>\n<answer>```json\n[",
        "</think> ",
        " \n\t",
        '{"bbox_2d": [1, 2, 3, 4], "label": "a"}, ',
        '{"bbox_2d": [',
        "[[[[",
        "}}}}",
        '"',
        "\\",
        "<answer>{[1,2,3,4]",
        "[1,2,3,4]}",
        "<|box_start|>(1,2),(3,4)",
        "<|object_ref_start|>a",
        "the the the ",
        "1",
        "9" * 50,
        "<",
        "<ans",
        "</think><answer>",
        "```json[1,2,3,4]",
        '"\\',
        '["\\',
        "'a",
        "[1,[",
        '{"a":',
        "\r\n",
    ]
    out = []
    for i in range(n):
        if i % 20 == 0:  # 500 strings of ~10,000 repetitive characters
            unit = rng.choice(long_units) + (rng.choice(long_units) if rng.random() < 0.5 else "")
            s = (unit * (10_000 // len(unit) + 1))[:10_000]
            if rng.random() < 0.5:
                s = rng.choice(["<think>", "<answer>", "<think>a</think><answer>", ""]) + s
            out.append(s)
        else:
            out.append("".join(rng.choice(PIECES) for _ in range(rng.randint(0, 40))))
    return out


def test_ten_thousand_adversarial_strings():
    texts = adversarial_strings()
    assert len(texts) == 10_000 and sum(len(t) >= 10_000 for t in texts) == 500
    with watchdog(240):
        for i in range(0, len(texts), 500):
            check_all(texts[i : i + 500], n_solutions=2)


def test_valid_large_answer_still_scores():
    # 300 boxes in one fence are parsed and scored; COCOeval keeps 100 per category
    items = [{"bbox_2d": [i, i, i + 10, i + 10], "label": "car"} for i in range(300)]
    text = "<think>t</think><answer>```json\n" + json.dumps(items) + "\n```</answer>"
    assert get_reward("od_length")([text], [items]) == [vlmr1_calculate_map(items, items)[0]]
    assert 0.3 < vlmr1_calculate_map(items, items)[0] < 0.34
    assert len(parse_boxes(text)) == 300
