"""The reward registry: names, user rewards, errors."""

from __future__ import annotations

import sys
import types

import pytest

from vlmr1_cli.errors import UserError
from vlmr1_cli.rewards import REWARD_NAMES, get_reward


def test_builtin_names_and_signature():
    assert REWARD_NAMES == (
        "rec_iou",
        "rec_format",
        "ovd_format",
        "od_length",
        "od_ap",
        "od_ap50",
        "weighted_sum",
    )
    for name in REWARD_NAMES:
        fn = get_reward(name)
        assert fn.__name__ == name
        out = fn(
            ["<answer>None</answer>"],
            solution=[[]],
            prompts=["p"],
            completion_ids=[[1]],
            unknown_kwarg=3,
        )
        assert isinstance(out, list) and len(out) == 1 and 0.0 <= out[0] <= 1.0


def test_unknown_name_suggests_closest():
    with pytest.raises(UserError, match="did you mean 'od_length'"):
        get_reward("od_lenght")
    with pytest.raises(UserError, match="unknown reward 'zzz'"):
        get_reward("zzz")
    with pytest.raises(UserError):
        get_reward("")


def test_user_reward_spec(monkeypatch):
    mod = types.ModuleType("vlmr1_test_user_rewards")

    def mine(completions, solution=None, scale=1.0, **kwargs):
        return [scale * len(c) for c in completions]

    mod.mine = mine
    mod.not_callable = 3
    monkeypatch.setitem(sys.modules, "vlmr1_test_user_rewards", mod)
    assert get_reward("vlmr1_test_user_rewards:mine") is mine
    bound = get_reward("vlmr1_test_user_rewards:mine", scale=2.0)
    assert bound(["ab"]) == [4.0] and bound.__name__ == "mine"
    with pytest.raises(UserError, match="no attribute"):
        get_reward("vlmr1_test_user_rewards:missing")
    with pytest.raises(UserError, match="not callable"):
        get_reward("vlmr1_test_user_rewards:not_callable")
    with pytest.raises(UserError, match="cannot import module"):
        get_reward("no_such_module_vlmr1:fn")
    with pytest.raises(UserError, match="module.path:function"):
        get_reward(":fn")


def test_user_reward_that_exits_at_import_is_one_line(tmp_path, monkeypatch):
    """sys.exit() at import is the module's failure, named; KeyboardInterrupt still interrupts."""
    (tmp_path / "vlmr1_exits_at_import.py").write_text("import sys\nsys.exit(3)\n")
    (tmp_path / "vlmr1_ctrl_c_at_import.py").write_text("raise KeyboardInterrupt\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(
        UserError,
        match=r"^reward 'vlmr1_exits_at_import:fn': cannot import module "
        r"'vlmr1_exits_at_import': it called sys.exit\(3\)$",
    ):
        get_reward("vlmr1_exits_at_import:fn")
    with pytest.raises(KeyboardInterrupt):
        get_reward("vlmr1_ctrl_c_at_import:fn")


def test_user_reward_signature_is_checked_before_training(monkeypatch):
    mod = types.ModuleType("vlmr1_test_signatures")

    def one_arg(completions):
        return [0.0] * len(completions)

    def no_kwargs(completions, solution):
        return [0.0] * len(completions)

    def keyword_only(completions, solution, *, needed, **kwargs):
        return [0.0] * len(completions)

    def fine(completions, solution, scale=1.0, **kwargs):
        return [scale] * len(completions)

    mod.one_arg, mod.no_kwargs, mod.keyword_only, mod.fine = one_arg, no_kwargs, keyword_only, fine
    monkeypatch.setitem(sys.modules, "vlmr1_test_signatures", mod)
    with pytest.raises(
        UserError,
        match=r"^reward 'vlmr1_test_signatures:one_arg': 'one_arg' takes "
        r"\(completions\), but a reward is called as",
    ):
        get_reward("vlmr1_test_signatures:one_arg")
    with pytest.raises(UserError, match=r"no \*\*kwargs"):
        get_reward("vlmr1_test_signatures:no_kwargs")
    with pytest.raises(UserError, match="needed"):
        get_reward("vlmr1_test_signatures:keyword_only")
    assert get_reward("vlmr1_test_signatures:keyword_only", needed=1)(["a"], [None]) == [0.0]
    assert get_reward("vlmr1_test_signatures:fine", scale=2.0)(["a"], [None]) == [2.0]
