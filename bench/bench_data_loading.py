"""Benchmark the training data loader: the Arrow cache against the in-memory loader it replaced.

The bench writes its own data (nothing is downloaded, and writing it is not timed): N schema-v1
records in two JSONL files, 90% REC (`rec.jsonl`) and 10% OVD (`ovd.jsonl`, one to three
objects among three queried labels), over 64 tiny PNGs that many records share, as RefCOCO's
sentences share COCO images. Both files go into one training set, weight 1 each, so the two
are interleaved as in a mixed run.

Each arm is a fresh child process (peak RSS, `ru_maxrss`, is that arm's own), builds the
training dataset with the same family (Qwen2.5-VL), pixel limits and default prompt, and
times `build_dataset` alone (imports excluded, the same in every arm):

- `today`: the loader before the Arrow cache, kept here as the baseline (`baseline_*`): every
  record validated into a list, every row built into a list, `Dataset.from_list`;
- `cold`: `vlmr1_cli.data.dataset.build_dataset` with an empty cache folder (the first load:
  records stream through the same checks into Arrow files, which are then memory-mapped);
- `warm`: the same call again, the cache present.

Targets (issue, item 3): peak RSS <= 1/5 of today's (both new arms), cold time <= 1.5x
today's, warm time <= 1/10 of today's. Each arm also hashes the ids and solutions of the
rows it built, in order (after its figures are read), so the table shows all three built the
same dataset.

    .venv/bin/python -m bench.bench_data_loading [--records 2000000] [--work DIR] [--keep]
        [--output results.json]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.child import child_env, module_command
from bench.summary import emit

N_IMAGES = 64
OVD_EVERY = 10  # every 10th record is an OVD record
SIZES = ((640, 480), (480, 640), (500, 375), (1024, 768))
WORDS = (
    "man woman left right red blue shirt guy girl chair table dog cat car white black "
    "small big middle front back person player umbrella bike cup plate far near"
).split()
LABELS = ("person", "dog", "cat", "car", "chair", "cup", "bike", "umbrella")
ARMS = ("today", "cold", "warm")
TARGETS = {"rss": 1 / 5, "cold": 1.5, "warm": 1 / 10}


# ---- the baseline: the loader as it was before the Arrow cache ----------------------------
# A faithful copy of `build_dataset`'s path at that time (load_records, weighted_take,
# interleave, build_dataset); the row builder it called (`build_rows`) is unchanged and shared.


def baseline_load_records(path, image_root=None, max_samples=None, check_images=True) -> list[dict]:
    from vlmr1_cli.data.loader import box_image_index
    from vlmr1_cli.data.paths import safe_join
    from vlmr1_cli.data.schema import check_record
    from vlmr1_cli.errors import UserError
    from vlmr1_cli.io import iter_jsonl

    root = Path(image_root) if image_root is not None else Path(path).parent
    records: list[dict] = []
    seen: dict[str, int] = {}
    for lineno, rec in iter_jsonl(path):
        loc = f"{path}:{lineno}"
        check_record(rec, loc)
        if rec["id"] in seen:
            raise UserError(f"{loc}: duplicate id '{rec['id']}' (first on line {seen[rec['id']]})")
        seen[rec["id"]] = lineno
        paths = [safe_join(root, p, loc) for p in rec["images"]]
        if check_images:
            for p, rel in zip(paths, rec["images"], strict=True):
                if not os.path.isfile(p):
                    raise UserError(f"{loc}: image not found: {rel} (image root {root})")
        if rec["task"] in ("rec", "ovd") and rec["images"]:
            box_image_index(rec, loc)
        rec["_image_paths"] = paths
        rec["_line"] = lineno
        records.append(rec)
        if max_samples is not None and len(records) >= max_samples:
            break
    if not records:
        raise UserError(f"{path}: no records")
    return records


def baseline_weighted_take(rows: list, weight: float, seed: int) -> list:
    from vlmr1_cli.errors import UserError

    if weight < 0:
        raise UserError(f"data weight must be >= 0, got {weight}")
    whole, frac = int(weight), weight - int(weight)
    out = rows * whole
    n_frac = int(round(frac * len(rows)))
    if n_frac:
        picked = sorted(random.Random(seed).sample(range(len(rows)), n_frac))
        out += [rows[i] for i in picked]
    return out


def baseline_interleave(parts: list[list]) -> list:
    keyed = [
        ((i + 0.5) / len(part), s, i) for s, part in enumerate(parts) for i in range(len(part))
    ]
    return [parts[s][i] for _, s, i in sorted(keyed)]


def baseline_build_dataset(
    sources, family, limits, prompt_cfg, with_answers=False, seed=0, max_samples=None
):
    from datasets import Dataset

    from vlmr1_cli.data.loader import _materialise, build_rows, row_features
    from vlmr1_cli.errors import UserError

    parts = []
    for k, src in enumerate(sources):
        recs = baseline_load_records(
            src["path"], src.get("image_root"), max_samples=src.get("max_samples") or max_samples
        )
        rows = build_rows(recs, family, limits, prompt_cfg, with_answers)
        taken = baseline_weighted_take(rows, float(src.get("weight", 1.0)), seed + k)
        if not taken:
            raise UserError(f"{src['path']}: weight {src.get('weight')} leaves no records")
        parts.append(taken)
    rows = parts[0] if len(parts) == 1 else baseline_interleave(parts)
    ds = Dataset.from_list(rows, features=row_features(with_answers))
    return ds.with_transform(_materialise)


# ---- data -------------------------------------------------------------------------------


def make_data(work: Path, n: int, seed: int = 0) -> None:
    """WORK/images/*.png, WORK/rec.jsonl and WORK/ovd.jsonl: n records in all, streamed."""
    from PIL import Image

    rng = random.Random(seed)
    (work / "images").mkdir(parents=True, exist_ok=True)
    images = []
    for i in range(N_IMAGES):
        name = f"images/{i:03d}.png"
        Image.new("RGB", (8, 8), (i * 4 % 256, 90, 160)).save(work / name)
        images.append((name, SIZES[i % len(SIZES)]))

    def box(w: int, h: int) -> list[float]:
        bw, bh = rng.uniform(10, w / 2), rng.uniform(10, h / 2)
        x, y = rng.uniform(0, w - bw), rng.uniform(0, h - bh)
        return [round(x, 2), round(y, 2), round(x + bw, 2), round(y + bh, 2)]

    with open(work / "rec.jsonl", "w") as rec_fh, open(work / "ovd.jsonl", "w") as ovd_fh:
        for i in range(n):
            name, (w, h) = images[rng.randrange(N_IMAGES)]
            base = {"id": f"b{i:08d}", "images": [name], "image_sizes": [[w, h]], "source": "bench"}
            if i % OVD_EVERY == OVD_EVERY - 1:
                labels = sorted(rng.sample(LABELS, 3))
                objects = [
                    {"bbox_2d": box(w, h), "label": rng.choice(labels)}
                    for _ in range(rng.randint(1, 3))
                ]
                rec = {**base, "task": "ovd", "problem": "", "solution": objects, "labels": labels}
                ovd_fh.write(json.dumps(rec) + "\n")
            else:
                words = " ".join(rng.choice(WORDS) for _ in range(rng.randint(2, 8)))
                rec = {**base, "task": "rec", "problem": words, "solution": box(w, h)}
                rec_fh.write(json.dumps(rec) + "\n")


def sources(work: Path) -> list[dict]:
    return [
        {"path": str(work / f"{name}.jsonl"), "image_root": str(work), "weight": 1.0}
        for name in ("rec", "ovd")
    ]


# ---- one arm, in its own process ----------------------------------------------------------


def rows_digest(ds) -> str:
    """sha256 of the rows' ids and model-frame solutions, in order, read in Arrow batches."""
    digest = hashlib.sha256()
    columns = ds.select_columns(["id", "solution_json"]).with_format("arrow")
    for batch in columns.iter(batch_size=1 << 16):
        for record_id, solution in zip(
            batch["id"].to_pylist(), batch["solution_json"].to_pylist(), strict=True
        ):
            digest.update(f"{record_id}\t{solution}\n".encode())
    return digest.hexdigest()


def _child(arm: str, work: Path, cache: Path) -> None:
    # Every arm imports the same libraries before its timer starts.
    import datasets  # noqa: F401
    import filelock  # noqa: F401
    import numpy  # noqa: F401
    import pyarrow.compute  # noqa: F401

    from vlmr1_cli.data.dataset import build_dataset
    from vlmr1_cli.models.base import PixelLimits
    from vlmr1_cli.models.qwen2_5_vl import Qwen25VL
    from vlmr1_cli.recipes.schema import DEFAULTS

    family, limits = Qwen25VL(), PixelLimits(3136, 12845056, 28)
    before = resource.getrusage(resource.RUSAGE_SELF)
    t0 = time.perf_counter()
    if arm == "today":
        ds = baseline_build_dataset(sources(work), family, limits, DEFAULTS["prompt"])
    else:
        ds = build_dataset(sources(work), family, limits, DEFAULTS["prompt"], cache_dir=cache)
    n_rows = len(ds)
    wall = time.perf_counter() - t0
    usage = resource.getrusage(resource.RUSAGE_SELF)
    stats = {
        "arm": arm,
        "rows": n_rows,
        "wall_s": wall,
        "cpu_s": usage.ru_utime + usage.ru_stime - before.ru_utime - before.ru_stime,
        "peak_rss_mb": usage.ru_maxrss / 1024,  # Linux: KiB
        "rss_before_mb": before.ru_maxrss / 1024,
    }
    stats["digest"] = rows_digest(ds)  # after the figures: it must not raise the peak
    sys.stderr.write(json.dumps(stats) + "\n")


def measure(arm: str, work: Path, cache: Path) -> dict:
    env = child_env(VLMR1_NO_PROGRESS="1")
    t0 = time.perf_counter()
    proc = subprocess.run(
        module_command(
            "bench.bench_data_loading", "--child", arm, "--work", str(work), "--cache", str(cache)
        ),
        capture_output=True,
        text=True,
        env=env,
    )
    if proc.returncode != 0:
        sys.exit(f"{arm} run failed:\n{proc.stderr[-4000:]}")
    stats = json.loads(proc.stderr.strip().splitlines()[-1])
    stats["process_wall_s"] = time.perf_counter() - t0  # interpreter start and imports included
    return stats


def summarise(arms: dict[str, dict], n: int) -> dict:
    today = arms["today"]
    # CPU time too: on a shared machine wall times stretch with other jobs' load, CPU less so.
    ratios = {
        arm: {
            "time": arms[arm]["wall_s"] / today["wall_s"],
            "cpu": arms[arm]["cpu_s"] / today["cpu_s"],
            "rss": arms[arm]["peak_rss_mb"] / today["peak_rss_mb"],
        }
        for arm in ("cold", "warm")
    }
    checks = {
        "peak RSS <= 1/5 of today's (cold and warm)": max(
            ratios["cold"]["rss"], ratios["warm"]["rss"]
        )
        <= TARGETS["rss"],
        "cold time <= 1.5x today's": ratios["cold"]["time"] <= TARGETS["cold"],
        "warm time <= 1/10 of today's": ratios["warm"]["time"] <= TARGETS["warm"],
    }
    same = (
        len({a["digest"] for a in arms.values()}) == 1
        and len({a["rows"] for a in arms.values()}) == 1
    )
    return {
        "records": n,
        "arms": arms,
        "ratios": ratios,
        "targets": checks,
        "met": all(checks.values()),
        "same_rows": same,
        "cpus": len(os.sched_getaffinity(0)),
        "load_average": os.getloadavg()[0],
    }


def report(result: dict) -> None:
    arms = result["arms"]
    print(
        f"{'arm':<7}{'rows':>10}{'build s':>10}{'process s':>11}{'cpu s':>9}{'peak RSS MB':>13}"
        f"{'time ratio':>12}{'cpu ratio':>11}{'RSS ratio':>11}"
    )
    for name in ARMS:
        a = arms[name]
        r = result["ratios"].get(name, {"time": 1.0, "cpu": 1.0, "rss": 1.0})
        print(
            f"{name:<7}{a['rows']:>10}{a['wall_s']:>10.2f}{a['process_wall_s']:>11.2f}{a['cpu_s']:>9.2f}"
            f"{a['peak_rss_mb']:>13.0f}{r['time']:>12.3f}{r['cpu']:>11.3f}{r['rss']:>11.3f}"
        )
    print(
        "(build s: build_dataset alone; process s: the whole child, interpreter start, imports and "
        "the digest of the rows included)"
    )
    print(f"same rows in the same order in every arm: {'yes' if result['same_rows'] else 'NO'}")
    for what, ok in result["targets"].items():
        print(f"{'PASS' if ok else 'FAIL'}  {what}")
    print(
        f"load average after the runs: {result['load_average']:.2f} on {result['cpus']} cpus "
        "(above ~1 on 2 cores the machine is shared and wall times stretch)"
    )


def main() -> int:
    ap = argparse.ArgumentParser(
        prog="python -m bench.bench_data_loading", description=__doc__.splitlines()[0]
    )
    ap.add_argument(
        "--records", type=int, default=2_000_000, help="records to generate (default 2,000,000)"
    )
    ap.add_argument(
        "--work",
        type=Path,
        default=None,
        help="folder for the data and the cache (default: a temp folder)",
    )
    ap.add_argument("--keep", action="store_true", help="keep the generated data")
    ap.add_argument("--output", type=Path, default=None, help="also write the result as JSON here")
    ap.add_argument("--child", choices=(*ARMS, "generate"), help=argparse.SUPPRESS)
    ap.add_argument("--cache", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child == "generate":
        make_data(args.work, args.records)
        return 0
    if args.child:
        _child(args.child, args.work, args.cache)
        return 0
    work = args.work or Path(tempfile.mkdtemp(prefix="vlmr1-bench-data-"))
    try:
        t0 = time.perf_counter()
        meta = work / "records.txt"
        if not meta.is_file() or meta.read_text().strip() != str(args.records):
            # In a child: Linux keeps a process's peak RSS across exec, so a big parent would
            # inflate the peaks measured in the arms it spawns.
            subprocess.run(
                module_command(
                    "bench.bench_data_loading",
                    "--child",
                    "generate",
                    "--work",
                    str(work),
                    "--records",
                    str(args.records),
                ),
                check=True,
                env=child_env(),
            )
            meta.write_text(f"{args.records}\n")
        size_mb = sum((work / f"{n}.jsonl").stat().st_size for n in ("rec", "ovd")) / 2**20
        print(
            f"data: {args.records:,} records ({size_mb:.0f} MB of JSONL, {N_IMAGES} shared images), "
            f"ready in {time.perf_counter() - t0:.1f} s (not timed)",
            flush=True,
        )
        cache = work / "cache"
        shutil.rmtree(cache, ignore_errors=True)
        arms = {}
        for arm in ARMS:  # cold before warm: cold builds the cache warm reads
            arms[arm] = measure(arm, work, cache)
            print(
                f"  {arm}: {arms[arm]['wall_s']:.2f} s, {arms[arm]['peak_rss_mb']:.0f} MB",
                flush=True,
            )
        result = summarise(arms, args.records)
        report(result)
        if args.output:
            args.output.parent.mkdir(parents=True, exist_ok=True)
            args.output.write_text(json.dumps(result, indent=2) + "\n")
        cold, warm, today = arms["cold"], arms["warm"], arms["today"]
        emit(
            f"training data load ({args.records:,} records)",
            f"today {today['wall_s']:.1f} s, {today['peak_rss_mb']:.0f} MB",
            f"cold {cold['wall_s']:.1f} s / warm {warm['wall_s']:.2f} s, "
            f"{max(cold['peak_rss_mb'], warm['peak_rss_mb']):.0f} MB",
            result["ratios"]["cold"]["time"],
            "RSS <= 1/5, cold <= 1.5x, warm <= 1/10",
            result["met"] and result["same_rows"],
        )
        return 0 if result["same_rows"] else 1
    finally:
        if not args.keep and args.work is None:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
