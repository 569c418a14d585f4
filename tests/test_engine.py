"""The real diffusers img2img pipeline on the tiny model (CPU, random weights, fixed seeds)."""

import threading

import numpy as np
import pytest

from photogen.domain.errors import IncompatibleBatch
from photogen.domain.params import GenerationRequest
from photogen.engines.base import PreparedRequest
from photogen.engines.cache import ModelCache
from photogen.intake.crop import plan_crop

# Batched and single runs differ only by float summation order; measured here up to 1/255.
BATCH_TOLERANCE = 2  # in 8-bit levels


def prepare(tiny, image, **values):
    request = GenerationRequest(**{"prompt": "a studio portrait", "seed": 11, "steps": 4, "image_strength": 0.5, **values})
    plan = plan_crop(image.size, request.ratio, tiny.info.native_pixels)
    return PreparedRequest(request, plan.apply(image))


@pytest.fixture(scope="module")
def photo(astronaut_array):
    from PIL import Image

    return Image.fromarray(astronaut_array)


def pixels(image):
    return np.asarray(image, dtype=np.int16)


def count_unet_calls(tiny):
    calls = []
    handle = tiny._pipe.unet.register_forward_hook(lambda *args: calls.append(1))
    return calls, handle


@pytest.mark.parametrize(("steps", "image_strength"), [(4, 0.5), (10, 0.7), (6, 0.0), (10, 0.31)])
def test_denoising_steps_equal_int_steps_times_one_minus_strength(tiny, photo, steps, image_strength):
    item = prepare(tiny, photo, steps=steps, image_strength=image_strength)
    reported = []
    calls, handle = count_unet_calls(tiny)
    try:
        tiny.generate([item], on_step=lambda done, total: reported.append((done, total)))
    finally:
        handle.remove()
    expected = int(round(steps * (1 - image_strength), 6))
    assert len(calls) == expected  # one UNet call per step: the CFG pair runs as one batch
    assert reported == [(i, expected) for i in range(1, expected + 1)]


def test_the_same_request_twice_gives_identical_pixels(tiny, photo):
    item = prepare(tiny, photo, num_images=2)
    first, second = tiny.generate([item])[0], tiny.generate([item])[0]
    assert [a.tobytes() for a in first] == [b.tobytes() for b in second]
    assert first[0].tobytes() != first[1].tobytes()  # seeds 11 and 12 differ


def test_image_k_of_a_batch_equals_its_seed_alone(tiny, photo):
    batch = tiny.generate([prepare(tiny, photo, num_images=3)])[0]
    alone = tiny.generate([prepare(tiny, photo, seed=13)])[0][0]
    difference = np.abs(pixels(batch[2]) - pixels(alone)).max()
    assert difference <= BATCH_TOLERANCE
    assert np.abs(pixels(batch[0]) - pixels(alone)).max() > 20  # a different seed is far away


def test_a_batch_of_different_requests_matches_each_run_alone(tiny, photo):
    a = prepare(tiny, photo, prompt="a red coat", seed=5)
    b = prepare(tiny, photo, prompt="a blue coat", negative_prompt="blurry", seed=5, num_images=2)
    together = tiny.generate([a, b])
    assert [len(images) for images in together] == [1, 2]
    assert np.abs(pixels(together[0][0]) - pixels(tiny.generate([a])[0][0])).max() <= BATCH_TOLERANCE
    assert np.abs(pixels(together[1][1]) - pixels(tiny.generate([b])[0][1])).max() <= BATCH_TOLERANCE
    assert together[0][0].tobytes() != together[1][0].tobytes()  # the prompt reached the model


def test_incompatible_requests_are_refused_as_one_batch(tiny, photo):
    with pytest.raises(IncompatibleBatch) as caught:
        tiny.generate([prepare(tiny, photo), prepare(tiny, photo, scheduler="ddim")])
    assert "scheduler" in caught.value.message
    with pytest.raises(IncompatibleBatch):
        tiny.generate([prepare(tiny, photo), prepare(tiny, photo, aspect_ratio="16:9")])


@pytest.fixture(scope="module")
def euler_image(tiny, photo):
    """The euler image every scheduler is compared with, made once for the module."""
    return tiny.generate([prepare(tiny, photo, scheduler="euler", steps=6)])[0][0]


@pytest.mark.parametrize("scheduler", ["euler", "euler_a", "dpmpp_2m", "ddim", "lms", "pndm"])
def test_each_scheduler_runs_and_differs_from_euler(tiny, photo, euler_image, scheduler):
    image = tiny.generate([prepare(tiny, photo, scheduler=scheduler, steps=6)])[0][0]
    euler = euler_image
    assert image.size == euler.size
    assert (scheduler == "euler") == (image.tobytes() == euler.tobytes())


def test_output_has_the_planned_size(tiny, photo):
    item = prepare(tiny, photo, aspect_ratio="16:9")
    image = tiny.generate([item])[0][0]
    assert image.size == item.size
    assert image.size[0] % 8 == 0 and image.size[1] % 8 == 0
    assert image.size[0] > image.size[1]


def test_model_cache_loads_once_under_concurrency(settings):
    from photogen.engines.loader import load_generator

    started = []

    def slow_load(spec):
        started.append(spec)
        return load_generator(spec, settings)

    cache = ModelCache(slow_load)
    results = []
    threads = [threading.Thread(target=lambda: results.append(cache.get("tiny"))) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert cache.loads == 1 and started == ["tiny"]
    assert all(model is results[0] for model in results)
