import hashlib

from vlmr1_cli.data.loader import load_records
from vlmr1_cli.data.shapes import COLORS, HELD_OUT, generate_shapes


def _digest(folder):
    h = hashlib.sha256()
    for p in sorted(folder.rglob("*")):
        if p.is_file():
            h.update(p.name.encode())
            h.update(p.read_bytes())
    return h.hexdigest()


def test_same_seed_same_bytes(tmp_path):
    generate_shapes(tmp_path / "a", train=6, eval=3, ood=3, seed=5)
    generate_shapes(tmp_path / "b", train=6, eval=3, ood=3, seed=5)
    generate_shapes(tmp_path / "c", train=6, eval=3, ood=3, seed=6)
    assert _digest(tmp_path / "a") == _digest(tmp_path / "b") != _digest(tmp_path / "c")


def test_records_valid_and_held_out_pairs_only_out_of_domain(shapes_data):
    from PIL import Image

    train = load_records(shapes_data / "train.jsonl")
    ood = load_records(shapes_data / "eval_ood.jsonl")
    pairs = load_records(shapes_data / "eval_ood_pairs.jsonl")
    held = {f"the {c} {s}" for c, s in HELD_OUT}
    assert not any(r["problem"] in held for r in train)
    assert all(r["problem"] in held for r in ood + pairs)
    # eval_ood adds distractors; eval_ood_pairs keeps the in-domain shape counts
    assert {r["num_shapes"] for r in ood} <= {2, 3} and {r["num_shapes"] for r in pairs} <= {1, 2}
    assert len(pairs) == len(ood) == 8
    for r in train[:5]:
        with Image.open(r["_image_paths"][0]) as im:
            assert list(im.size) == r["image_sizes"][0]
            # the named target is really drawn there: its centre pixel has the named colour
            x1, y1, x2, y2 = r["solution"]
            color = r["problem"].split()[1]
            assert (
                im.convert("RGB").getpixel((int(x1 + x2) // 2, int(y1 + y2) // 2)) == COLORS[color]
            )
        assert 0 <= r["solution"][0] < r["solution"][2] <= r["image_sizes"][0][0]
