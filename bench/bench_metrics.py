"""Benchmark: COCO mAP and OVDEval NMS-AP against pycocotools on synthetic sets.

- coco: 5,000 images, 80 categories; baseline = pycocotools COCO + loadRes + COCOeval
  (evaluate/accumulate/summarize); ours = `metrics.coco.coco_evaluate`. Stats identical (==).
- nms-ap: the same images with every score 1.0 (as VLM answers are scored); baseline =
  plain per-image Python NMS (`metrics.pycoco.reference_gt_anchored_nms`, docs/metrics.md §3
  literally) then pycocotools; ours = `metrics.nms_ap.nms_ap_evaluate`. Stats identical.

    .venv/bin/python -m bench.bench_metrics [--images 5000] [--cats 80] [--seed 0]
"""

from __future__ import annotations

import argparse
import random
import sys
import time

import numpy as np

from bench.summary import emit
from vlmr1_cli.metrics.coco import coco_evaluate
from vlmr1_cli.metrics.nms_ap import nms_ap_evaluate
from vlmr1_cli.metrics.pycoco import pycocotools_stats, reference_gt_anchored_nms


def synthetic_set(n_img: int, n_cat: int, seed: int, ties: bool):
    """COCO-like detections: 0-6 objects per image, jittered hits, duplicates, false positives."""
    rng = random.Random(seed)
    images = [{"id": i + 1, "width": 640, "height": 480} for i in range(n_img)]
    cats = [{"id": c + 1, "name": f"c{c}"} for c in range(n_cat)]
    anns, res = [], []
    for im in images:
        for _ in range(rng.randint(0, 6)):
            c = rng.randint(1, n_cat)
            w = rng.choice([rng.uniform(4, 32), rng.uniform(32, 96), rng.uniform(96, 400)])
            h = w * rng.uniform(0.5, 2.0)
            x, y = rng.uniform(0, 640 - min(w, 600)), rng.uniform(0, 480 - min(h, 450))
            anns.append(
                {
                    "id": len(anns) + 1,
                    "image_id": im["id"],
                    "category_id": c,
                    "bbox": [x, y, w, h],
                    "area": w * h * rng.uniform(0.6, 1.0),
                    "iscrowd": int(rng.random() < 0.02),
                }
            )
            for _ in range(rng.choice([0, 1, 1, 1, 2])):
                res.append(
                    {
                        "image_id": im["id"],
                        "category_id": c if rng.random() < 0.9 else rng.randint(1, n_cat),
                        "bbox": [
                            x + rng.gauss(0, 0.08) * w,
                            y + rng.gauss(0, 0.08) * h,
                            w * rng.uniform(0.8, 1.2),
                            h * rng.uniform(0.8, 1.2),
                        ],
                        "score": 1.0 if ties else round(rng.random(), 3),
                    }
                )
        for _ in range(rng.choice([0, 1, 2])):
            res.append(
                {
                    "image_id": im["id"],
                    "category_id": rng.randint(1, n_cat),
                    "bbox": [
                        rng.uniform(0, 600),
                        rng.uniform(0, 440),
                        rng.uniform(8, 120),
                        rng.uniform(8, 120),
                    ],
                    "score": 1.0 if ties else round(rng.random(), 3),
                }
            )
    return {"images": images, "categories": cats, "annotations": anns}, res


def timed(fn):
    t0 = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t0


def row(name, t_base, t_ours, same):
    print(f"{name:<10}{t_base:>14.2f}{t_ours:>12.2f}{t_base / t_ours:>10.1f}x{str(same):>12}")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(
        prog="python -m bench.bench_metrics", description=__doc__.splitlines()[0]
    )
    ap.add_argument("--images", type=int, default=5000)
    ap.add_argument("--cats", type=int, default=80)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)

    gt, res = synthetic_set(args.images, args.cats, args.seed, ties=False)
    print(
        f"{args.images} images, {args.cats} categories, {len(gt['annotations'])} GT boxes, {len(res)} detections"
    )
    print(f"{'metric':<10}{'baseline s':>14}{'ours s':>12}{'ratio':>11}{'identical':>12}")
    base, t_base = timed(lambda: pycocotools_stats(gt, res))
    ours, t_ours = timed(lambda: coco_evaluate(gt, res))
    same_coco = np.array_equal(np.array(ours["stats"]), base)
    row("coco", t_base, t_ours, same_coco)
    t_coco_base, t_coco_ours = t_base, t_ours
    coco_ap = ours["AP"]

    gt, res = synthetic_set(args.images, args.cats, args.seed + 1, ties=True)
    base, t_base = timed(lambda: pycocotools_stats(gt, reference_gt_anchored_nms(gt, res)))
    ours, t_ours = timed(lambda: nms_ap_evaluate(gt, res))
    same_nms = np.array_equal(np.array(ours["stats"]), base)
    row("nms-ap", t_base, t_ours, same_nms)
    print(
        f"coco AP {coco_ap:.6f}; nms-ap {ours['nms_ap']:.6f} ({ours['counts']['detections_after_nms']}"
        f"/{ours['counts']['detections_before_nms']} detections kept by NMS)"
    )
    emit(
        "COCO mAP (pycocotools-exact)",
        f"pycocotools {t_coco_base:.2f} s",
        f"vlmr1 {t_coco_ours:.2f} s",
        t_coco_base / t_coco_ours,
        ">= 3x",
        same_coco and t_coco_base / t_coco_ours >= 3,
    )
    emit(
        "OVDEval NMS-AP",
        f"Python NMS + pycocotools {t_base:.2f} s",
        f"vlmr1 {t_ours:.2f} s",
        t_base / t_ours,
        ">= 3x",
        same_nms and t_base / t_ours >= 3,
    )
    return 0 if (same_coco and same_nms) else 1


if __name__ == "__main__":
    sys.exit(main())
