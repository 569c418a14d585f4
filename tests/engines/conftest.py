"""The instruction-edit families on their tiny random-weight models (CPU, fixed seeds)."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from photogen.intake.decode import DecodedImage, decode_image

# Batched and single runs differ only by float summation order.
BATCH_TOLERANCE = 2  # in 8-bit levels


def pixels(image: Image.Image) -> np.ndarray:
    return np.asarray(image, dtype=np.int16)


def difference(a: Image.Image, b: Image.Image) -> int:
    return int(np.abs(pixels(a) - pixels(b)).max())


def decoded(image: Image.Image) -> DecodedImage:
    """A photo as the runner receives it: encoded, then decoded (with its sha256)."""
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return decode_image(buffer.getvalue())


def prepare_item(model, photos, make_request, *, references=(), source="source", **values):
    """`make_request(**values)` prepared for `model` as the runner does: `photos[source]` cropped for it, and each
    of `photos[name]` for `references` decoded and named in the request by its sha256."""
    from photogen.runner.generate import prepare_request

    refs = [decoded(photos[name]) for name in references]
    if refs:
        values["references"] = [ref.sha256 for ref in refs]
    item, _plan = prepare_request(decoded(photos[source]), make_request(**values), model, refs)
    return item


def run(model, item):
    """The images of one prepared request, run alone."""
    return model.generate([item])[0]


@pytest.fixture(scope="session")
def klein(models):
    return models.get("tiny-flux2-klein")


@pytest.fixture(scope="session")
def kontext(models):
    return models.get("tiny-flux-kontext")


@pytest.fixture(scope="session")
def qwen_edit(models):
    return models.get("tiny-qwen-image-edit-plus")


@pytest.fixture(scope="session")
def photos(astronaut_array):
    """A portrait source and two different references (public-domain photos from scikit-image)."""
    from skimage import data

    return {
        "source": Image.fromarray(astronaut_array),
        "coffee": Image.fromarray(data.coffee()),
        "cat": Image.fromarray(data.chelsea()),
    }
