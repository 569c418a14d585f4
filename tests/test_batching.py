"""Batches with different guidance, the engine's own denoising loop against the stock pipelines,
progress and cancel inside a batch, and the optimisations on the CPU (tiny models, fixed seeds)."""

from __future__ import annotations

import functools

import numpy as np
import pytest
import torch
from PIL import Image

from photogen.config import Settings
from photogen.domain.params import GenerationRequest
from photogen.engines.base import ModelInfo, PreparedRequest, batch_key, check_compatible
from photogen.engines.diffusers_img2img import DiffusersImg2ImgGenerator
from photogen.engines.optimize import EngineOptions, UNetRunner, apply_optimizations, measure_memory
from photogen.engines.schedulers import build_scheduler
from photogen.engines.tiny import build_tiny_pipeline
from photogen.engines.tokenizer import VOCAB_SIZE, clip_tokenizer
from photogen.intake.crop import plan_crop

# Batched and single runs differ only by float summation order (see test_engine.py).
BATCH_TOLERANCE = 2  # in 8-bit levels


@pytest.fixture(scope="module")
def photo(astronaut_array) -> Image.Image:
    return Image.fromarray(astronaut_array)


def prepare(generator, image, **values) -> PreparedRequest:
    """A request at 64x64 unless it names its size or ratio (`native=True`: the model's native size)."""
    values = {"prompt": "a studio portrait", "seed": 11, "steps": 4, "image_strength": 0.5, **values}
    if not values.pop("native", False) and "aspect_ratio" not in values:
        values.setdefault("width", 64)
        values.setdefault("height", 64)
    request = GenerationRequest(**values)
    explicit = (request.width, request.height) if request.width else None
    plan = plan_crop(image.size, request.ratio, generator.info.native_pixels, explicit)
    return PreparedRequest(request, plan.apply(image))


def pixels(image: Image.Image) -> np.ndarray:
    return np.asarray(image, dtype=np.int16)


def largest_difference(a: Image.Image, b: Image.Image) -> int:
    return int(np.abs(pixels(a) - pixels(b)).max())


def flat(results: list[list[Image.Image]]) -> list[Image.Image]:
    return [image for images in results for image in images]


def stock_pipeline_images(generator, batch: list[PreparedRequest]) -> list[Image.Image]:
    """The same batch through diffusers' own img2img __call__, as photogen ran it before its own loop."""
    first = batch[0].request
    prompts, negatives, images, generators = [], [], [], []
    for item in batch:
        for seed in item.request.seeds():
            prompts.append(item.request.prompt)
            negatives.append(item.request.negative_prompt)
            images.append(item.image)
            generators.append(torch.Generator("cpu").manual_seed(seed))
    pipe = generator._pipe
    pipe.scheduler = build_scheduler(first.scheduler, generator.scheduler_config)
    with torch.inference_mode():
        return pipe(
            prompt=prompts,
            negative_prompt=negatives,
            image=images,
            strength=min(1.0, (first.denoising_steps + 0.5) / first.steps),
            num_inference_steps=first.steps,
            guidance_scale=first.guidance,
            generator=generators,
            output_type="pil",
        ).images


def count_unet_calls(generator):
    calls: list[int] = []
    handle = generator._pipe.unet.register_forward_hook(lambda *args: calls.append(1))
    return calls, handle


# ---------------------------------------------------------------- tiny SDXL


def _text_encoder(hidden: int, act: str, projection: bool):
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection

    config = CLIPTextConfig(
        bos_token_id=49406,
        eos_token_id=49407,
        pad_token_id=49407,
        hidden_size=hidden,
        intermediate_size=37,
        num_attention_heads=4,
        num_hidden_layers=2,
        vocab_size=VOCAB_SIZE,
        max_position_embeddings=77,
        hidden_act=act,
        projection_dim=32,
    )
    return CLIPTextModelWithProjection(config) if projection else CLIPTextModel(config)


def tiny_sdxl_pipeline():
    """SDXL in miniature: two text encoders (32 and 64 wide), pooled text and size conditioning."""
    from diffusers import EulerDiscreteScheduler, StableDiffusionXLImg2ImgPipeline, UNet2DConditionModel

    base = build_tiny_pipeline(seed=2)
    torch.manual_seed(2)
    unet = UNet2DConditionModel(
        sample_size=32,
        block_out_channels=(32, 64),
        layers_per_block=2,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
        attention_head_dim=(2, 4),
        use_linear_projection=True,
        cross_attention_dim=96,
        transformer_layers_per_block=(1, 2),
        addition_embed_type="text_time",
        addition_time_embed_dim=8,
        projection_class_embeddings_input_dim=80,  # pooled 32 + 6 size ids x 8
    )
    scheduler = EulerDiscreteScheduler(
        beta_start=0.00085,
        beta_end=0.012,
        beta_schedule="scaled_linear",
        timestep_spacing="leading",
        steps_offset=1,
    )
    pipe = StableDiffusionXLImg2ImgPipeline(
        vae=base.vae,
        text_encoder=_text_encoder(32, "quick_gelu", False),
        text_encoder_2=_text_encoder(64, "gelu", True),
        tokenizer=clip_tokenizer(),
        tokenizer_2=clip_tokenizer("!"),
        unet=unet,
        scheduler=scheduler,
        requires_aesthetics_score=False,
    )
    for module in pipe.components.values():
        if isinstance(module, torch.nn.Module):
            module.eval()  # as loaded models are
    pipe.set_progress_bar_config(disable=True)
    return pipe


def generator_for(
    pipe, name: str, family: str, options: EngineOptions | None = None
) -> DiffusersImg2ImgGenerator:
    applied = apply_optimizations(pipe, options, "cpu") if options is not None else {}
    side = pipe.unet.config.sample_size * pipe.vae_scale_factor
    info = ModelInfo(
        name, family, "tiny", random_weights=True, native_pixels=side * side, extra={"optimizations": applied}
    )
    return DiffusersImg2ImgGenerator(pipe, info, "cpu")


@pytest.fixture(scope="module")
def sdxl():
    return generator_for(tiny_sdxl_pipeline(), "tiny-sdxl", "sdxl")


# ---------------------------------------------------------------- the loop equals the stock pipelines


@pytest.mark.parametrize("scheduler", ["default", "euler_a", "dpmpp_2m"])
@pytest.mark.parametrize("guidance", [7.0, 1.0])
def test_sd1_batches_give_the_stock_pipelines_pixels_exactly(tiny, photo, scheduler, guidance):
    batch = [
        prepare(tiny, photo, seed=3, num_images=2, scheduler=scheduler, guidance=guidance),
        prepare(
            tiny,
            photo,
            prompt="a red coat",
            negative_prompt="blurry",
            seed=9,
            scheduler=scheduler,
            guidance=guidance,
        ),
    ]
    ours, stock = flat(tiny.generate(batch)), stock_pipeline_images(tiny, batch)
    assert [image.tobytes() for image in ours] == [image.tobytes() for image in stock]


@pytest.mark.parametrize("guidance", [5.0, 1.0])
def test_sdxl_batches_give_the_stock_pipelines_pixels_exactly(sdxl, photo, guidance):
    batch = [
        prepare(sdxl, photo, seed=3, num_images=2, guidance=guidance),
        prepare(sdxl, photo, prompt="a red coat", negative_prompt="blurry", seed=9, guidance=guidance),
    ]
    ours, stock = flat(sdxl.generate(batch)), stock_pipeline_images(sdxl, batch)
    assert [image.tobytes() for image in ours] == [image.tobytes() for image in stock]


# ---------------------------------------------------------------- mixed guidance


def test_guidance_does_not_keep_requests_apart(tiny, photo):
    batch = [prepare(tiny, photo, guidance=g) for g in (1.0, 4.0, 7.5)]
    assert len({batch_key(item) for item in batch}) == 1
    check_compatible(batch)  # does not raise


@pytest.mark.parametrize("model", ["tiny", "sdxl"])
def test_a_mixed_guidance_batch_equals_each_request_alone(request, photo, model):
    generator = request.getfixturevalue(model)
    batch = [
        prepare(generator, photo, guidance=7.5, seed=5),
        prepare(generator, photo, guidance=3.0, seed=5, prompt="a blue coat", num_images=2),
        prepare(generator, photo, guidance=1.0, seed=5),  # no guidance: the prompt row alone
        prepare(generator, photo, guidance=0.0, seed=6, negative_prompt="blurry"),
    ]
    together = generator.generate(batch)
    assert [len(images) for images in together] == [1, 2, 1, 1]
    for item, images in zip(batch, together):
        alone = generator.generate([item])[0]
        for mixed, single in zip(images, alone):
            assert largest_difference(mixed, single) <= BATCH_TOLERANCE
    # the scales reached the images: same seed and prompt, different guidance, far apart
    assert largest_difference(together[0][0], together[2][0]) > 10


def test_guidance_one_or_below_skips_the_negative_pass(tiny, photo):
    calls, handle = count_unet_calls(tiny)
    shapes: list[int] = []
    pre = tiny._pipe.unet.register_forward_pre_hook(lambda module, args: shapes.append(args[0].shape[0]))
    try:
        tiny.generate([prepare(tiny, photo, guidance=1.0), prepare(tiny, photo, guidance=0.5, seed=3)])
        tiny.generate([prepare(tiny, photo, guidance=1.0), prepare(tiny, photo, guidance=6.0, seed=3)])
    finally:
        handle.remove()
        pre.remove()
    assert len(calls) == 4  # two steps per batch
    assert shapes == [2, 2, 3, 3]  # 2 prompt rows; then 1 negative + 2 prompt rows


# ---------------------------------------------------------------- progress and cancel


def test_progress_is_reported_once_per_step_for_the_whole_batch(tiny, photo):
    reported: list[tuple[int, int]] = []
    batch = [prepare(tiny, photo, steps=10, image_strength=0.3, guidance=g) for g in (2.0, 9.0)]
    tiny.generate(batch, on_step=lambda done, total: reported.append((done, total)))
    assert reported == [(i, 7) for i in range(1, 8)]


class StopHere(Exception):
    pass


def test_raising_from_on_step_stops_the_batch_and_leaves_the_model_usable(tiny, photo):
    batch = [prepare(tiny, photo, steps=10, image_strength=0.3, guidance=g) for g in (2.0, 9.0)]

    def cancel_after_two(done: int, total: int) -> None:
        if done == 2:
            raise StopHere()

    calls, handle = count_unet_calls(tiny)
    try:
        with pytest.raises(StopHere):
            tiny.generate(batch, on_step=cancel_after_two)
    finally:
        handle.remove()
    assert len(calls) == 2  # of 7 steps
    again = tiny.generate(batch)  # the lock was released and nothing is left half-set
    assert [image.tobytes() for image in flat(again)] == [
        image.tobytes() for image in flat(tiny.generate(batch))
    ]


# ---------------------------------------------------------------- optimisations on the CPU


def test_settings_carry_the_optimisation_switches(tmp_path):
    settings = Settings(home=tmp_path, compile="off", channels_last="on", compile_batch_sizes=[1, 4])
    options = EngineOptions.from_settings(settings)
    assert (options.compile, options.channels_last, options.compile_batch_sizes) == ("off", "on", (1, 4))
    assert EngineOptions.from_settings(None) == EngineOptions()


def test_auto_switches_are_off_on_the_cpu_and_reported(tiny, photo):
    applied = tiny.info.extra["optimizations"]
    assert applied["device"] == "cpu" and applied["attention"] == "sdpa"
    assert (applied["compile"], applied["channels_last"], applied["fuse_qkv"]) == ("off", "off", "off")
    assert applied["vae_tiling"] == f"above {2 * 128} px"  # twice the native side: native outputs untiled


@functools.cache
def forced_generator() -> DiffusersImg2ImgGenerator:
    options = EngineOptions(compile="off", channels_last="on", fuse_qkv="on", vae_tiling="on")
    return generator_for(build_tiny_pipeline(), "tiny-forced", "sd1", options)


def test_forced_optimisations_apply_on_the_cpu_without_changing_results(tiny, photo):
    forced = forced_generator()
    applied = forced.info.extra["optimizations"]
    assert (applied["channels_last"], applied["fuse_qkv"], applied["compile"]) == ("on", "on", "off")
    assert applied["vae_tiling"] == "above 128 px"  # the VAE's own tile size: 64x64 outputs stay whole
    assert forced._pipe.unet.conv_in.weight.is_contiguous(memory_format=torch.channels_last)
    batch = [prepare(tiny, photo, guidance=7.5), prepare(tiny, photo, guidance=3.0, seed=4)]
    for fast, plain in zip(flat(forced.generate(batch)), flat(tiny.generate(batch))):
        assert largest_difference(fast, plain) <= BATCH_TOLERANCE


def test_memory_is_not_measured_off_cuda(tiny):
    assert measure_memory(tiny, [1, 2]) is None


def test_compiled_unet_is_warmed_per_bucket_and_never_recompiles_for_a_request(tiny, photo):
    compiles, runs = [], []

    def counting_backend(graph, example_inputs):  # compiles nothing: counts graphs made and run
        compiles.append(tuple(example_inputs[0].shape) if example_inputs else ())

        def run(*args):
            runs.append(1)
            return graph.forward(*args)

        return run

    pipe = build_tiny_pipeline()
    pipe.unet.register_to_config(sample_size=32)  # a 64x64 native size keeps the test quick
    options = EngineOptions(compile="on", max_batch_images=1, compile_backend=counting_backend)
    compiled = generator_for(pipe, "tiny-compiled", "sd1", options)
    record = compiled.info.extra["optimizations"]["compile"]
    assert record["unet_batch_sizes"] == [2] and record["latent_sizes"] == [[32, 32]]
    assert len(compiles) == 1 and len(runs) == 3  # one graph for the one bucket, warmed three times

    single = prepare(compiled, photo, guidance=7.5)  # 64x64, the warmed size: the CFG pair is 2 rows
    unguided = prepare(compiled, photo, guidance=1.0, seed=4)  # 1 row, padded to the 2-row graph
    wide = prepare(compiled, photo, width=96, height=64)  # a size that was not warmed: runs eagerly
    pair = prepare(compiled, photo, num_images=2)  # 4 rows, more than any bucket: runs eagerly
    items = (single, unguided, wide, pair)
    results = [compiled.generate([item])[0] for item in items]
    assert len(compiles) == 1  # nothing compiled while a request waited
    assert len(runs) == 3 + 2 + 2  # two steps each for the two warmed-shape requests
    for item, images in zip(items, results):
        for image, plain in zip(images, tiny.generate([item])[0]):
            assert largest_difference(image, plain) <= BATCH_TOLERANCE


def test_a_compiler_failure_leaves_the_model_running_uncompiled(tiny, photo):
    def broken_backend(graph, example_inputs):
        raise RuntimeError("no compiler here")

    pipe = build_tiny_pipeline()
    pipe.unet.register_to_config(sample_size=32)
    options = EngineOptions(compile="on", max_batch_images=1, compile_backend=broken_backend)
    generator = generator_for(pipe, "tiny-broken", "sd1", options)
    assert generator.info.extra["optimizations"]["compile"].startswith("failed: ")
    item = prepare(generator, photo)
    assert generator.generate([item])[0][0].tobytes() == tiny.generate([item])[0][0].tobytes()


def test_an_eager_runner_calls_the_unet_as_it_is(tiny):
    runner = UNetRunner(tiny._pipe.unet, "off")
    assert not runner.compiled and runner.buckets == []
