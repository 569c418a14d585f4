import pytest
from PIL import Image

from photogen.intake.crop import centred_box, native_size, plan_crop


@pytest.mark.parametrize("ratio", [(1, 1), (4, 5), (16, 9), (9, 16), (2, 3)])
@pytest.mark.parametrize("pixels", [512 * 512, 1024 * 1024])
def test_native_size_is_near_the_family_budget_in_multiples_of_8(ratio, pixels):
    width, height = native_size(ratio, pixels)
    assert width % 8 == 0 and height % 8 == 0
    assert abs(width * height - pixels) / pixels < 0.05
    assert abs(width / height - ratio[0] / ratio[1]) < 0.03


def test_sd1_and_sdxl_square_sizes():
    assert native_size((1, 1), 512 * 512) == (512, 512)
    assert native_size((1, 1), 1024 * 1024) == (1024, 1024)
    assert native_size((4, 5), 512 * 512) == (456, 576)


@pytest.mark.parametrize(
    ("size", "ratio", "box"),
    [((1000, 500), (1, 1), (250, 0, 750, 500)), ((600, 1000), (3, 4), (0, 100, 600, 900)), ((640, 480), (4, 3), (0, 0, 640, 480))],
)
def test_centred_box(size, ratio, box):
    assert centred_box(size, ratio) == box


def test_plan_crop_cuts_at_the_output_ratio_without_stretching():
    plan = plan_crop((1024, 683), (4, 5), 512 * 512)
    left, top, right, bottom = plan.box
    out_w, out_h = plan.output_size
    assert abs((right - left) / (bottom - top) - out_w / out_h) < 0.01
    assert (left + right) / 2 == pytest.approx(512, abs=1)
    image = plan.apply(Image.new("RGB", (1024, 683), "white"))
    assert image.size == plan.output_size


def test_plan_crop_keeps_the_source_ratio_when_none_is_asked():
    plan = plan_crop((900, 600), None, 512 * 512)
    assert plan.output_size == native_size((900, 600), 512 * 512)


def test_explicit_size_wins():
    plan = plan_crop((900, 600), None, 512 * 512, explicit_size=(256, 512))
    assert plan.output_size == (256, 512)
    left, top, right, bottom = plan.box
    assert (right - left) * 2 == bottom - top
