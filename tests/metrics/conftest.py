"""Random COCO-style sets shared by the metric parity tests."""

from __future__ import annotations

import random

import pytest


def make_coco_set(
    rng: random.Random, n_img: int, n_cat: int, *, ties: bool = False, dense: bool = False
):
    images = [{"id": i} for i in rng.sample(range(0, n_img * 3), n_img)]
    cats = [{"id": c} for c in rng.sample(range(1, 200), n_cat)]
    anns, res = [], []
    aid = rng.choice([0, 1])  # sometimes an annotation with id 0 (the id-0 quirk)
    for im in images:
        base = (rng.uniform(0, 400), rng.uniform(0, 400))
        for _ in range(rng.randint(0, 8 if dense else 5)):
            c = rng.choice(cats)["id"]
            if dense:
                x, y = base[0] + rng.randint(0, 6), base[1] + rng.randint(0, 6)
                w, h = rng.choice([10, 20, 40, 100]), rng.choice([10, 20, 40, 100])
            else:
                x, y = rng.uniform(0, 500), rng.uniform(0, 500)
                w = rng.choice([rng.uniform(1, 30), rng.uniform(20, 120), rng.uniform(80, 300)])
                h = rng.uniform(1, 200)
                if rng.random() < 0.3:
                    x, y, w, h = int(x), int(y), int(w) + 1, int(h) + 1
            area = w * h if rng.random() < 0.8 else rng.uniform(0, 20000)
            anns.append(
                {
                    "id": aid,
                    "image_id": im["id"],
                    "category_id": c,
                    "bbox": [x, y, w, h],
                    "area": area,
                    "iscrowd": int(rng.random() < 0.08),
                }
            )
            aid += 1
            for _ in range(rng.choice([0, 1, 1, 2, 3] + ([6, 12] if dense else []))):
                s = 0.25 if dense else 0.2
                res.append(
                    {
                        "image_id": im["id"],
                        "category_id": c if rng.random() < 0.9 else rng.choice(cats)["id"],
                        "bbox": [
                            x + rng.uniform(-s, s) * w,
                            y + rng.uniform(-s, s) * h,
                            w * rng.uniform(0.7, 1.3),
                            h * rng.uniform(0.7, 1.3),
                        ],
                        "score": 1.0
                        if ties
                        else rng.choice([rng.random(), round(rng.random(), 1)]),
                    }
                )
        for _ in range(rng.choice([0, 0, 1, 5] + ([110] if dense else []))):
            res.append(
                {
                    "image_id": im["id"],
                    "category_id": rng.choice(cats)["id"],
                    "bbox": [
                        rng.uniform(0, 500),
                        rng.uniform(0, 500),
                        rng.uniform(1, 100),
                        rng.uniform(1, 100),
                    ],
                    "score": 1.0 if ties else rng.random(),
                }
            )
    rng.shuffle(res)
    return {"images": images, "categories": cats, "annotations": anns}, res


@pytest.fixture
def coco_set():
    return make_coco_set
