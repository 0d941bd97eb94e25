"""User reward plug-ins (`module:function` in a recipe's rewards) that misbehave: import errors,
missing or non-callable attributes, a module that exits at import; rewards that raise, return
None/NaN/inf/strings/the wrong number of scores, or take the wrong arguments. Import problems
are refused before any weights load; a misbehaving reward stops the run at the first batch
with one line naming the reward."""

from __future__ import annotations

import pytest

from tests.hostile import checks as C
from tests.hostile.harness import Case, error, params
from tests.hostile.test_train import recipe

R = "r.yaml"
RUN = ("train-grpo", "-r", R)
NO_RUN = C.no_file("run/vlmr1.json")


def plugin(id: str, source: str, spec: str, match: str, options: str = "", **kw) -> Case:
    """A recipe whose REC rewards include the user reward `spec`, defined by `source` in a
    module next to the recipe (importable: the case folder is on sys.path / PYTHONPATH)."""
    module = spec.partition(":")[0] or "x"
    item = f"{{name: '{spec}'{', options: ' + options if options else ''}}}"
    rewards = f"rewards:\n  rec: [rec_format, {item}]\n"
    files = {R: recipe().replace("rewards:\n  rec: [rec_iou, rec_format]\n", rewards)}
    if source:
        files[f"{module.replace('.', '/')}.py"] = source
    return error(f"plugin/{id}", RUN, files, match=match, **kw)


def reward_returning(expr: str) -> str:
    return f"def reward(completions, solution, **kwargs):\n    n = len(completions)\n    return {expr}\n"


IMPORT_CASES = [
    plugin(
        "module-missing",
        "",
        "hostile_no_such_module:reward",
        "hostile_no_such_module",
        check=NO_RUN,
    ),
    plugin(
        "module-raises",
        "raise RuntimeError('boom at import')\n",
        "hostile_raises:reward",
        "boom at import",
        check=NO_RUN,
    ),
    plugin(
        "module-syntax-error",
        "def reward(:\n",
        "hostile_syntax:reward",
        "hostile_syntax",
        check=NO_RUN,
    ),
    plugin(
        "module-exits",
        "import sys\nsys.exit(3)\n",
        "hostile_exits:reward",
        "hostile_exits.*sys.exit",
        check=NO_RUN,
    ),
    plugin(
        "module-imports-missing",
        "import hostile_nothing_here\n",
        "hostile_imp:reward",
        "hostile_nothing_here",
        check=NO_RUN,
    ),
    plugin("attribute-missing", "x = 1\n", "hostile_attr:reward", "reward", check=NO_RUN),
    plugin(
        "attribute-not-callable", "reward = 42\n", "hostile_const:reward", "callable", check=NO_RUN
    ),
    plugin("attribute-path-through-none", "a = None\n", "hostile_none:a.b", "a.b", check=NO_RUN),
    plugin(
        "spec-without-function",
        "",
        "hostile_mod:",
        "module.path:function|hostile_mod",
        check=NO_RUN,
    ),
    plugin("spec-without-module", "", ":reward", "module.path:function|:reward", check=NO_RUN),
    plugin("spec-traversal", "", "../../etc/passwd:reward", "passwd", check=NO_RUN),
]

RUNTIME = {
    "raises": (
        "def reward(completions, solution, **kwargs):\n    raise ValueError('reward exploded')\n",
        "reward exploded",
    ),
    "wrong-signature": (
        "def reward(completions):\n    return [0.0] * len(completions)\n",
        "hostile_rt:reward.*takes",
    ),
    "exits": (
        "import sys\ndef reward(completions, solution, **kwargs):\n    sys.exit(3)\n",
        "hostile_rt:reward.*sys.exit",
    ),
    "returns-none": (reward_returning("None"), "None"),
    "returns-none-items": (reward_returning("[None] * n"), "None"),
    "returns-nan": (reward_returning("[float('nan')] * n"), "nan"),
    "returns-inf": (reward_returning("[float('inf')] * n"), "inf"),
    "returns-strings": (reward_returning("['1.0'] * n"), "str"),
    "returns-short": (reward_returning("[0.0] * (n - 1)"), "scores for"),
    "returns-scalar": (reward_returning("0.5"), "list"),
    "returns-huge-int": (reward_returning("[10 ** 5000] * n"), "integer|bits"),
}
# a wrong signature is refused before the model loads; the others at the first batch
RUNTIME_CASES = [
    plugin(
        f"runtime-{id_}",
        source,
        "hostile_rt:reward",
        match,
        check=NO_RUN if id_ == "wrong-signature" else None,
    )
    for id_, (source, match) in RUNTIME.items()
]

CASES: list[Case] = IMPORT_CASES + RUNTIME_CASES


@pytest.mark.parametrize("case", params(CASES))
def test_plugins(case, hostile):
    hostile.run(case)
