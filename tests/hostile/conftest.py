"""Fixtures of the hostile-input suite: the case runner, shared tiny inputs, and the summary
line (counts by outcome) printed at the end and written to `hostile-summary.txt`."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from tests.hostile import harness

_SUMMARY: dict[str, str] = {}


@pytest.fixture(scope="session")
def hostile_shapes(tmp_path_factory) -> Path:
    """A tiny shapes dataset (train 4, eval 2, eval_ood 1, eval_ood_pairs 1). Cases only read it."""
    from vlmr1_cli.data.shapes import generate_shapes

    out = tmp_path_factory.mktemp("hostile-shapes")
    generate_shapes(out, train=4, eval=2, ood=1, seed=0)
    return out


@pytest.fixture(scope="session")
def hostile_model(tiny_model) -> Path:
    """The session's tiny Qwen2.5-VL, with one torch thread (2 shared cores: threads only spin)."""
    import torch

    torch.set_num_threads(1)
    return tiny_model


class Runner:
    def __init__(self, request: pytest.FixtureRequest, folder: Path):
        self.request, self.folder = request, folder

    def subs(self, case: harness.Case) -> dict[str, str]:
        out = {"tmp": str(self.folder)}
        needed = harness.placeholders(case)
        if "model" in needed:
            out["model"] = str(self.request.getfixturevalue("hostile_model"))
        if "shapes" in needed:
            out["shapes"] = str(self.request.getfixturevalue("hostile_shapes"))
        return out

    def run(self, case: harness.Case) -> harness.Result:
        """Create the case's files, run it, record and assert its outcome."""
        for name, spec in case.mounts.items():
            why = harness.mount(self.folder / name, spec)
            if why:
                pytest.skip(why)
            self.request.addfinalizer(lambda p=self.folder / name: harness.unmount(p))
        subs = self.subs(case)

        def resolve(v):
            if isinstance(v, str):
                return harness.substitute((v,), subs)[0]
            if isinstance(v, harness.CopyOf):
                return harness.CopyOf(harness.substitute((v.source,), subs)[0], v.mutate)
            return v

        harness.write_files(
            self.folder,
            {harness.substitute((k,), subs)[0]: resolve(v) for k, v in case.files.items()},
        )
        argv = harness.substitute(case.argv, subs)
        env = {
            k: (None if v is None else harness.substitute((v,), subs)[0])
            for k, v in case.env.items()
        }
        if case.subprocess:
            res = harness.run_subprocess(
                argv,
                self.folder,
                env,
                case.stdin,
                timeout=case.timeout,
                memory_limit=case.memory_limit,
            )
        else:
            res = harness.run_in_process(argv, self.folder, env, case.stdin)
        observed, detail = harness.classify(case, res)
        harness.record(case.id, case.expect, observed, detail)
        wanted = ("ok", "clean_error") if case.expect == "any" else (case.expect,)
        assert observed in wanted, (
            f"{case.id}: expected {case.expect}, got {observed}: {detail}\n"
            f"argv: {argv}\nexit {res.code}\n--- stdout\n{res.stdout[-2000:]}\n"
            f"--- stderr\n{res.stderr[-3000:]}\n{res.escaped[-3000:]}"
        )
        return res


@pytest.fixture
def hostile(request, tmp_path) -> Runner:
    folder = tmp_path / "case"
    folder.mkdir()
    return Runner(request, folder)


@pytest.fixture(scope="session", autouse=True)
def _hostile_summary(tmp_path_factory):
    yield
    if not harness.RECORDED:
        return
    observed = Counter(obs for _, obs, _ in harness.RECORDED.values())
    counts = ", ".join(f"{k} {observed.get(k, 0)}" for k in harness.OUTCOMES)
    line = f"hostile-input suite: {len(harness.RECORDED)} cases: {counts}"
    path = tmp_path_factory.getbasetemp() / "hostile-summary.txt"
    details = [
        f"{cid}: expected {exp}, got {obs}: {det}"
        for cid, (exp, obs, det) in sorted(harness.RECORDED.items())
        if obs in harness.BAD_OUTCOMES or (exp != "any" and obs != exp)
    ]
    path.write_text("\n".join([line, *details]) + "\n", encoding="utf-8")
    _SUMMARY.update(line=line, path=str(path), details="\n".join(details))


def pytest_terminal_summary(terminalreporter):
    if _SUMMARY:
        terminalreporter.write_sep("-", "hostile-input suite")
        for detail in _SUMMARY["details"].splitlines():
            terminalreporter.write_line(detail[:300])
        terminalreporter.write_line(_SUMMARY["line"])
        terminalreporter.write_line(f"(written to {_SUMMARY['path']})")
