"""`python -m bench.bench_data_loading` at a tiny size: every arm runs, in its own process, and the
result file and SUMMARY line are complete (the targets are not checked: at 2,000 records the
ratios are mostly interpreter start-up and noise)."""

from __future__ import annotations

import json
import subprocess

from bench.child import ROOT, child_env, module_command


def test_data_loading_bench_reports_every_arm(tmp_path):
    out = tmp_path / "result.json"
    proc = subprocess.run(
        module_command(
            "bench.bench_data_loading",
            "--records",
            "2000",
            "--work",
            str(tmp_path / "work"),
            "--output",
            str(out),
        ),
        capture_output=True,
        text=True,
        timeout=300,
        cwd=ROOT,
        env=child_env(VLMR1_NO_PROGRESS="1"),
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(out.read_text())
    assert result["records"] == 2000 and result["same_rows"] is True
    assert set(result["arms"]) == {"today", "cold", "warm"}
    for arm in result["arms"].values():
        assert arm["rows"] == 2000 and len(arm["digest"]) == 64
        assert (
            arm["wall_s"] > 0 and arm["process_wall_s"] > arm["wall_s"] and arm["peak_rss_mb"] > 50
        )
    assert set(result["ratios"]) == {"cold", "warm"}
    assert all(r["time"] > 0 and r["cpu"] > 0 and r["rss"] > 0 for r in result["ratios"].values())
    assert len(result["targets"]) == 3 and result["met"] == all(result["targets"].values())
    # the cold arm built one cache entry per source, which the warm arm read
    assert sorted(p.name.split("-")[0] for p in (tmp_path / "work" / "cache").glob("*.arrow")) == [
        "ovd",
        "rec",
    ]
    table = proc.stdout
    assert sum(line.startswith(("PASS", "FAIL")) for line in table.splitlines()) == 3
    summary = [
        json.loads(line[len("SUMMARY ") :])
        for line in table.splitlines()
        if line.startswith("SUMMARY ")
    ]
    assert len(summary) == 1 and summary[0]["benchmark"] == "training data load (2,000 records)"
    assert {"baseline", "ours", "ratio", "target", "met"} <= set(summary[0])
