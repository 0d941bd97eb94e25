import pytest

from vlmr1_cli.models.base import PixelLimits
from vlmr1_cli.models.qwen2_5_vl import Qwen25VL


@pytest.mark.parametrize("size", [(640, 480), (427, 640), (98, 70), (30, 20), (4000, 3000)])
def test_qwen25_frame_round_trip(size):
    fam = Qwen25VL()
    limits = PixelLimits(3136, 12845056, 28)
    inp = fam.input_size(*size, limits)
    assert inp[0] % 28 == 0 and inp[1] % 28 == 0
    box = (size[0] * 0.1, size[1] * 0.2, size[0] * 0.7, size[1] * 0.9)
    there = fam.to_model_frame(box, size, inp)
    back = fam.from_model_frame(there, size, inp)
    assert back == pytest.approx(box)


def test_qwen25_frame_is_resized_pixels():
    fam = Qwen25VL()
    inp = fam.input_size(640, 480, PixelLimits(3136, 12845056, 28))
    assert inp == (644, 476)
    assert fam.to_model_frame((640, 480, 640, 480), (640, 480), inp) == pytest.approx(
        (644, 476, 644, 476)
    )
    assert fam.frame_name == "qwen25_abs"
