"""Fixture builders in the exact upstream layouts (field names and types as the official
toolkits write them), small enough to check every record by hand.

- refer (lichengunc/refer): `refs(<splitBy>).p` written the way Python 2's pickle writes it
  at protocol 2 (byte strings as SHORT_BINSTRING, BINPUT memo entries), instances.json with
  polygon segmentations.
- D3 (shikras/d-cube): four pickles, dicts keyed by int id, `bbox` a numpy (1, 4) array,
  `segmentation` an RLE dict; written by Python 3 (protocol 4), or at protocol 2 with numpy 1
  module names.
- COCO instances, OVDEval subset files, LISA ReasonSeg folders, VLM-R1 REC files.
"""

from __future__ import annotations

import copy
import json
import pickle
import struct
from pathlib import Path

# ---------------------------------------------------------------- Python 2 pickle writer


class Py2Unicode(str):
    """A string Python 2 held as `unicode` (pickled as BINUNICODE, not as a byte string)."""


def py2_pickle_dumps(obj) -> bytes:
    """Serialise like Python 2's pickle at protocol 2: `str` values become Python 2 byte
    strings (UTF-8 bytes; `bytes` values are written raw, e.g. Latin-1 text)."""
    out = bytearray(b"\x80\x02")
    memo = [0]

    def put() -> None:
        n = memo[0]
        out.extend(b"q" + bytes([n]) if n < 256 else b"r" + struct.pack("<I", n))
        memo[0] += 1

    def w(o) -> None:
        if o is None:
            out.extend(b"N")
        elif o is True or o is False:
            out.extend(b"\x88" if o else b"\x89")
        elif isinstance(o, int):
            if 0 <= o < 256:
                out.extend(b"K" + bytes([o]))
            elif 0 <= o < 65536:
                out.extend(b"M" + struct.pack("<H", o))
            elif -(2**31) <= o < 2**31:
                out.extend(b"J" + struct.pack("<i", o))
            else:
                raw = o.to_bytes((o.bit_length() + 8) // 8, "little", signed=True)
                out.extend(b"\x8a" + bytes([len(raw)]) + raw)
        elif isinstance(o, float):
            out.extend(b"G" + struct.pack(">d", o))
        elif isinstance(o, Py2Unicode):
            raw = o.encode("utf-8")
            out.extend(b"X" + struct.pack("<I", len(raw)) + raw)
            put()
        elif isinstance(o, (str, bytes)):
            raw = o.encode("utf-8") if isinstance(o, str) else o
            out.extend(
                b"U" + bytes([len(raw)]) + raw
                if len(raw) < 256
                else b"T" + struct.pack("<i", len(raw)) + raw
            )
            put()
        elif isinstance(o, list):
            out.extend(b"]")
            put()
            if o:
                out.extend(b"(")
                for x in o:
                    w(x)
                out.extend(b"e")
        elif isinstance(o, tuple):
            if not o:
                out.extend(b")")
                return
            if len(o) > 3:
                out.extend(b"(")
            for x in o:
                w(x)
            out.extend({1: b"\x85", 2: b"\x86", 3: b"\x87"}.get(len(o), b"t"))
            put()
        elif isinstance(o, dict):
            out.extend(b"}")
            put()
            if o:
                out.extend(b"(")
                for k, v in o.items():
                    w(k)
                    w(v)
                out.extend(b"u")
        else:
            raise TypeError(f"py2 fixture pickler: unsupported {type(o).__name__}")

    w(obj)
    out.extend(b".")
    return bytes(out)


# ---------------------------------------------------------------- images


def make_image(path: Path, w: int, h: int, fmt: str | None = None) -> Path:
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (w, h), (120, 130, 140)).save(path, format=fmt)
    return path


# ---------------------------------------------------------------- refer


def _poly(x, y, w, h):
    return [[x, y, x + w, y, x + w, y + h, x, y + h]]


def refer_data() -> dict:
    """images / annotations / refs of a tiny RefCOCO (unc). Expected per split:
    train 2 sentences written + 1 skipped (degenerate), val 1, testA 2+1 (testAB), testB 1+1."""
    images = [
        {
            "license": 1,
            "file_name": "COCO_train2014_000000000001.jpg",
            "height": 480,
            "width": 640,
            "id": 1,
        },
        {
            "license": 1,
            "file_name": "COCO_train2014_000000000002.jpg",
            "height": 640,
            "width": 427,
            "id": 2,
        },
        {
            "license": 1,
            "file_name": "COCO_train2014_000000000003.jpg",
            "height": 375,
            "width": 500,
            "id": 3,
        },
    ]
    anns = [
        {
            "segmentation": _poly(10.5, 20.25, 100, 50),
            "area": 5000.0,
            "iscrowd": 0,
            "image_id": 1,
            "bbox": [10.5, 20.25, 100.0, 50.0],
            "category_id": 1,
            "id": 10,
        },
        {
            "segmentation": _poly(200, 100, 40, 40),
            "area": 1600.0,
            "iscrowd": 0,
            "image_id": 1,
            "bbox": [200.0, 100.0, 40.0, 40.0],
            "category_id": 3,
            "id": 11,
        },
        {
            "segmentation": _poly(103.93, 299.99, 134.22, 177.42),
            "area": 20000.0,
            "iscrowd": 0,
            "image_id": 2,
            "bbox": [103.93, 299.99, 134.22, 177.42],
            "category_id": 1,
            "id": 20,
        },
        {
            "segmentation": _poly(0, 0, 10, 10),
            "area": 100.0,
            "iscrowd": 0,
            "image_id": 2,
            "bbox": [0.0, 0.0, 10.0, 10.0],
            "category_id": 1,
            "id": 21,
        },
        {
            "segmentation": _poly(50, 60, 70, 80),
            "area": 5600.0,
            "iscrowd": 0,
            "image_id": 3,
            "bbox": [50.0, 60.0, 70.0, 80.0],
            "category_id": 18,
            "id": 30,
        },
        {
            "segmentation": _poly(5, 5, 0, 30),
            "area": 0.0,
            "iscrowd": 0,
            "image_id": 3,
            "bbox": [5.0, 5.0, 0.0, 30.0],
            "category_id": 18,
            "id": 31,
        },
    ]

    def ref(ref_id, ann, split, sents):
        a = next(x for x in anns if x["id"] == ann)
        sentences = [
            {"tokens": s.lower().split(), "raw": s, "sent_id": sid, "sent": s.lower()}
            for sid, s in sents
        ]
        return {
            "sent_ids": [sid for sid, _ in sents],
            "file_name": f"COCO_train2014_{a['image_id']:012d}_{ann}.jpg",
            "ann_id": ann,
            "ref_id": ref_id,
            "image_id": a["image_id"],
            "split": split,
            "sentences": sentences,
            "category_id": a["category_id"],
        }

    refs = [
        ref(0, 10, "train", [(100, "The man on the LEFT"), (101, "guy in red")]),
        ref(1, 11, "val", [(102, "Small box")]),
        ref(2, 20, "testA", [(103, "the lady with the blue shirt"), (104, "café woman")]),
        ref(3, 30, "testB", [(105, "brown dog")]),
        ref(4, 21, "testAB", [(106, "tiny thing top left")]),
        ref(5, 31, "train", [(107, "a line")]),
    ]
    cats = [
        {"supercategory": "person", "id": 1, "name": "person"},
        {"supercategory": "vehicle", "id": 3, "name": "car"},
        {"supercategory": "animal", "id": 18, "name": "dog"},
    ]
    return {"images": images, "annotations": anns, "categories": cats, "refs": refs}


def write_refer(
    root: Path,
    data: dict | None = None,
    dataset: str = "refcoco",
    split_by: str = "unc",
    py2: bool = True,
) -> Path:
    data = copy.deepcopy(data or refer_data())
    folder = root / dataset
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "instances.json").write_text(
        json.dumps(
            {
                "info": {},
                "images": data["images"],
                "licenses": [],
                "annotations": data["annotations"],
                "categories": data["categories"],
            }
        )
    )
    blob = py2_pickle_dumps(data["refs"]) if py2 else pickle.dumps(data["refs"], protocol=2)
    (folder / f"refs({split_by}).p").write_bytes(blob)
    return root


# ---------------------------------------------------------------- D3

D3_SENTENCES = {
    1: "a dog without leash",
    2: "person holding a torch",
    3: "red car",
    4: "a hat that is not blue",
    **{k: f"description number {k}" for k in range(5, 21)},
}


def d3_data():
    import numpy as np

    sentences = {
        sid: {
            "id": sid,
            "anno_id": [],
            "group_id": [1 if sid <= 4 else 2],
            "is_negative": sid in (1, 4),
            "raw_sent": text,
            "raw_sent_zh": "中文",
        }
        for sid, text in D3_SENTENCES.items()
    }
    groups = {
        1: {
            "id": 1,
            "pos_sent_id": [1, 2, 3],
            "inner_sent_id": [1, 2, 3, 4],
            "outer_sent_id": [],
            "img_id": [100, 101],
            "scene": ["street"],
            "group_name": "street",
            "group_name_zh": "街道",
        },
        2: {
            "id": 2,
            "pos_sent_id": [5],
            "inner_sent_id": list(range(5, 21)),
            "outer_sent_id": [],
            "img_id": [102],
            "scene": ["park"],
            "group_name": "park",
            "group_name_zh": "公园",
        },
    }
    images = {
        100: {
            "id": 100,
            "file_name": "street/100.jpg",
            "height": 480,
            "width": 640,
            "flickr_url": "http://x",
            "anno_id": [1000, 1001],
            "group_id": 1,
            "license": "cc",
        },
        101: {
            "id": 101,
            "file_name": "street/101.jpg",
            "height": 300,
            "width": 400,
            "flickr_url": "http://x",
            "anno_id": [],
            "group_id": 1,
            "license": "cc",
        },
        102: {
            "id": 102,
            "file_name": "park/102.jpg",
            "height": 500,
            "width": 500,
            "flickr_url": "http://x",
            "anno_id": [1002],
            "group_id": 2,
            "license": "cc",
        },
    }
    rle = {"size": [480, 640], "counts": "PPYo01O1N2"}
    annotations = {
        1000: {
            "id": 1000,
            "sent_id": [1, 2],
            "segmentation": [rle],
            "area": 1200,
            "iscrowd": 0,
            "image_id": 100,
            "bbox": np.array([[10, 20, 30, 40]]),
            "group_id": 1,
        },
        1001: {
            "id": 1001,
            "sent_id": [3],
            "segmentation": [rle],
            "area": 800,
            "iscrowd": 0,
            "image_id": 100,
            "bbox": np.array([[100.5, 50.0, 20.0, 40.0]]),
            "group_id": 1,
        },
        1002: {
            "id": 1002,
            "sent_id": [5],
            "segmentation": [rle],
            "area": 100,
            "iscrowd": 0,
            "image_id": 102,
            "bbox": np.array([[0, 0, 10, 10]], dtype=np.int64),
            "group_id": 2,
        },
    }
    for a in annotations.values():
        for sid in a["sent_id"]:
            sentences[sid]["anno_id"].append(a["id"])
    return {"sentences": sentences, "annotations": annotations, "images": images, "groups": groups}


def write_d3(
    folder: Path, data: dict | None = None, protocol: int = 4, numpy1_names: bool = False
) -> Path:
    data = data or d3_data()
    folder.mkdir(parents=True, exist_ok=True)
    for name, obj in data.items():
        blob = pickle.dumps(obj, protocol=protocol)
        if numpy1_names:  # as numpy 1.x wrote them (GLOBAL opcode text at protocol <= 3)
            assert protocol <= 3
            blob = blob.replace(b"numpy._core.multiarray\n", b"numpy.core.multiarray\n")
        (folder / f"{name}.pkl").write_bytes(blob)
    return folder


def d3_json(data: dict | None = None) -> dict:
    """The COCO-style form of the same data (category_id = sent_id)."""
    data = data or d3_data()
    anns = []
    for a in data["annotations"].values():
        for sid in a["sent_id"]:
            anns.append(
                {
                    "id": len(anns),
                    "image_id": a["image_id"],
                    "category_id": sid,
                    "bbox": [float(v) for v in a["bbox"][0]],
                    "area": float(a["area"]),
                    "iscrowd": 0,
                    "segmentation": a["segmentation"],
                }
            )
    images = [
        {k: im[k] for k in ("id", "file_name", "height", "width")} for im in data["images"].values()
    ]
    cats = [
        {"id": sid, "name": s["raw_sent"], "supercategory": "d3"}
        for sid, s in data["sentences"].items()
    ]
    return {"images": images, "annotations": anns, "categories": cats}


# ---------------------------------------------------------------- COCO


def coco_instances() -> dict:
    """Image 1: 11 persons + 2 cars; image 2: 10 dogs + 1 crowd person; image 3: nothing;
    image 4: one zero-width box only."""
    images = [
        {"id": i, "file_name": f"{i:012d}.jpg", "width": 640, "height": 480, "license": 1}
        for i in (1, 2, 3, 4)
    ]
    cats = [
        {"id": 1, "name": "person", "supercategory": "person"},
        {"id": 3, "name": "car", "supercategory": "vehicle"},
        {"id": 18, "name": "dog", "supercategory": "animal"},
    ]
    anns = []

    def add(img, cat, box, crowd=0):
        anns.append(
            {
                "id": 500 + len(anns),
                "image_id": img,
                "category_id": cat,
                "bbox": box,
                "area": box[2] * box[3] * 0.8,
                "iscrowd": crowd,
                "segmentation": {"size": [480, 640], "counts": "abc"} if crowd else _poly(*box),
            }
        )

    for k in range(11):
        add(1, 1, [10.0 + 20 * k, 10.0, 15.0, 40.0])
    add(1, 3, [300.0, 200.0, 100.0, 50.0])
    add(1, 3, [420.0, 210.0, 80.0, 40.0])
    for k in range(10):
        add(2, 18, [5.0 + 30 * k, 100.0, 25.0, 25.0])
    add(2, 1, [0.0, 0.0, 640.0, 100.0], crowd=1)
    add(4, 3, [10.0, 10.0, 0.0, 5.0])
    return {
        "info": {"year": 2017},
        "licenses": [],
        "images": images,
        "annotations": anns,
        "categories": cats,
    }


# ---------------------------------------------------------------- OVDEval


def ovdeval_subset(name: str) -> dict:
    if name in ("celebrity", "logo", "landmark"):
        cats = [
            {"id": 0, "name": "Tom Hanks", "supercategory": name},
            {"id": 1, "name": "Taylor Swift", "supercategory": name},
            {"id": 2, "name": "Keanu Reeves", "supercategory": name},
        ]
        images = [
            {"id": 0, "file_name": f"{name}/0.jpg", "width": 800, "height": 600},
            {"id": 1, "file_name": f"{name}/1.jpg", "width": 640, "height": 640},
        ]
        anns = [
            {
                "id": 0,
                "image_id": 0,
                "category_id": 0,
                "bbox": [10, 10, 100, 200],
                "area": 20000,
                "iscrowd": 0,
            },
            {
                "id": 1,
                "image_id": 1,
                "category_id": 1,
                "bbox": [50, 60, 70, 80],
                "area": 5600,
                "iscrowd": 0,
            },
            {
                "id": 2,
                "image_id": 1,
                "category_id": 2,
                "bbox": [300, 60, 70, 80],
                "area": 5600,
                "iscrowd": 0,
            },
        ]
    else:
        cats = [
            {"id": 0, "name": "computer with screen on"},
            {"id": 1, "name": "computer without screen on"},
            {"id": 2, "name": "dog not on a leash"},
        ]
        images = [
            {
                "id": 0,
                "file_name": f"{name}/a.jpg",
                "width": 640,
                "height": 480,
                "text": ["computer with screen on"],
                "neg_text": ["computer without screen on"],
            },
            {
                "id": 1,
                "file_name": f"{name}/b.jpg",
                "width": 500,
                "height": 400,
                "text": ["computer without screen on"],
                "neg_text": ["computer with screen on"],
            },
        ]
        anns = [
            {
                "id": 0,
                "image_id": 0,
                "category_id": 0,
                "bbox": [1, 2, 300, 200],
                "area": 60000,
                "iscrowd": 0,
            },
            {
                "id": 1,
                "image_id": 1,
                "category_id": 1,
                "bbox": [10, 20, 30, 40],
                "area": 1200,
                "iscrowd": 0,
            },
            {
                "id": 2,
                "image_id": 1,
                "category_id": 2,
                "bbox": [100, 100, 50, 50],
                "area": 2500,
                "iscrowd": 0,
            },
        ]
    return {"images": images, "annotations": anns, "categories": cats}


# ---------------------------------------------------------------- LISA


def write_lisa(folder: Path) -> Path:
    """a: two targets + a larger ignore; b: first shape is an ignore; c: only an ignore."""
    folder.mkdir(parents=True, exist_ok=True)

    def shape(label, pts):
        return {
            "label": label,
            "labels": [label],
            "points": pts,
            "group_id": None,
            "shape_type": "polygon",
            "flags": {},
            "image_name": "x.jpg",
            "mask": None,
        }

    samples = {
        "a": (
            (200, 100),
            {
                "text": ["What keeps the rain off?", "Which object is a shelter from rain?"],
                "is_sentence": True,
                "shapes": [
                    shape("target", [[10, 10], [50.5, 12], [40, 60]]),
                    shape("target", [[120, 30], [150, 35], [149, 90]]),
                    shape("ignore", [[0, 0], [199, 0], [199, 99]]),
                ],
            },
        ),
        "b": (
            (100, 80),
            {
                "text": ["the thing you sit on"],
                "is_sentence": False,
                "shapes": [
                    shape("ignore", [[0, 0], [90, 0], [90, 70]]),
                    shape("target", [[20, 20], [60, 20], [60, 50], [-3, 50]]),
                ],
            },
        ),
        "c": (
            (64, 64),
            {
                "text": ["nothing here"],
                "is_sentence": False,
                "shapes": [shape("ignore", [[1, 1], [5, 1], [5, 5]])],
            },
        ),
    }
    for stem, ((w, h), anno) in samples.items():
        make_image(folder / f"{stem}.jpg", w, h)
        (folder / f"{stem}.json").write_text(json.dumps(anno))
    return folder


# ---------------------------------------------------------------- VLM-R1 REC files


def vlmr1_eval_items() -> list[dict]:
    return [
        {
            "image": "train2014/COCO_train2014_000000581857.jpg",
            "problem": (
                "Please provide the bounding box coordinate of the region this sentence "
                "describes: the lady with the blue shirt."
            ),
            "solution": [103.93, 299.99, 238.15, 477.41],
            "normalized_solution": [243, 468, 557, 745],
            "normal_caption": "the lady with the blue shirt",
            "bbox_list": [[103.93, 299.99, 237.15, 476.41]],
            "width": 427,
            "height": 640,
            "id": 0,
            "original_id": 12,
            "dataset_name": "refcoco",
            "area": 23814.1,
            "iscrowd": 0,
            "image_id": 581857,
            "category_id": 1,
            "text_type": "phrase",
        },
        {
            "image": "train2014/COCO_train2014_000000000009.jpg",
            "problem": (
                "Please provide the bounding box coordinate of the region this sentence "
                "describes: bowl of broccoli."
            ),
            "solution": [1.0, 2.0, 301.0, 202.0],
            "normalized_solution": [1, 4, 470, 420],
            "bbox_list": [[1.0, 2.0, 300.0, 201.0]],
            "width": 640,
            "height": 480,
            "id": 1,
            "dataset_name": "refcoco",
        },
    ]


def vlmr1_train_lines() -> list[dict]:
    return [
        {
            "id": "t0",
            "image": "imgs/a.jpg",
            "conversations": [
                {"from": "human", "value": "<image>the red mug on the left"},
                {"from": "gpt", "value": "[10, 20, 110, 220]"},
            ],
        },
        {
            "id": "t1",
            "image": "imgs/b.jpg",
            "conversations": [
                {
                    "from": "human",
                    "value": (
                        "<image>Please provide the bounding box coordinate of the region this "
                        "sentence describes: a chair."
                    ),
                },
                {"from": "gpt", "value": "<answer>[0.5, 1.5, 30, 40]</answer>"},
            ],
        },
    ]
