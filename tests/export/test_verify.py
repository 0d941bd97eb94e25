"""The merge check's comparison: dtype-aware, scale-free, and strict about non-finite logits."""

from __future__ import annotations

import pytest

from vlmr1_cli.errors import UserError
from vlmr1_cli.export import verify

torch = pytest.importorskip("torch")


def _pair(rel_err: float, scale: float = 20.0):
    g = torch.Generator().manual_seed(0)
    ref = torch.randn(1, 30, 64, generator=g)
    ref = ref / ref.abs().max() * scale
    cand = ref.clone()
    cand[0, 5, 7] += rel_err * scale
    return ref, cand


def test_rounding_sized_error_passes_bf16_but_not_fp32():
    ref, cand = _pair(0.01)
    assert verify.compare(ref, cand, "bfloat16").passed
    assert verify.compare(ref, cand, "float16").passed
    assert not verify.compare(ref, cand, "float32").passed


def test_error_is_relative_to_the_logit_scale():
    for scale in (0.5, 50.0):
        res = verify.compare(*_pair(0.2, scale), "bfloat16")
        assert res.error == pytest.approx(0.2, rel=1e-4)
        assert not res.passed


def test_identical_logits_pass_every_dtype():
    ref, _ = _pair(0.0)
    for dtype in verify.TOLERANCES:
        assert verify.compare(ref, ref.clone(), dtype).error == 0.0


def test_non_finite_logits_fail():
    ref, cand = _pair(0.0)
    cand[0, 0, 0] = float("inf")
    res = verify.compare(ref, cand, "float16")
    assert not res.passed and res.error == float("inf")


def test_explicit_tolerance_overrides_the_default():
    ref, cand = _pair(0.01)
    assert verify.compare(ref, cand, "float32", tolerance=0.02).passed


def test_shape_mismatch_is_a_user_error():
    with pytest.raises(UserError, match="shapes differ"):
        verify.compare(torch.zeros(1, 3, 4), torch.zeros(1, 4, 4), "float32")


def test_require_names_the_failure():
    res = verify.compare(*_pair(0.5), "float32")
    with pytest.raises(
        UserError, match="merge check failed: the merged model .* nothing was written"
    ):
        verify.require(res, "the merged model")


def test_sample_input_goes_through_the_processor(tiny_model):
    from vlmr1_cli.models.registry import family_for_path

    proc = family_for_path(tiny_model).load_processor(str(tiny_model))
    inputs = verify.sample_inputs(proc)
    assert inputs["pixel_values"].shape[0] > 0
    image_id = proc.tokenizer.convert_tokens_to_ids("<|image_pad|>")
    assert int((inputs["input_ids"] == image_id).sum()) > 0  # the image really is in the prompt
