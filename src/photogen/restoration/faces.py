"""The faces' pass: gentle, at high preservation, with identity measured before and after.

Each detected face (photogen.intake.faces) gets, inside a feathered ellipse around it:
- with a loaded image-to-image model: an img2img pass at image strength `FACE_IMAGE_STRENGTH` (denoising
  0.15) in tiles at the scan's own resolution, seamlessly blended;
- without one: OpenCV's non-local-means denoise at a low strength, which evens grain and leaves features.

Identity similarity (photogen.scoring.identity, SFace) is measured between each face before the pass and
after it; a face whose similarity falls below the drift threshold is flagged and keeps its pixels from before
the pass (the pass is undone there). The result records every face's similarity and whether it drifted.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from PIL import Image

from photogen.domain.params import MAX_SEED, GenerationRequest
from photogen.engines.base import Generator, InterruptCheck, PreparedRequest
from photogen.intake.faces import Face, FaceDetector
from photogen.restoration.tiling import tiled
from photogen.scoring.identity import IdentityScorer

FACE_IMAGE_STRENGTH = 0.85
FACE_STEPS = 20
MIN_FACE_STEPS = 7  # at image strength 0.85, the fewest steps that still run one denoising step
FACE_PROMPT = "a restored portrait photograph, natural skin, sharp eyes"
DENOISE_H = 4  # OpenCV non-local means strength (luma and colour): grain evened, features kept
MAX_FACES = 8
MARGIN = 0.25  # the face box grown by this share on each side


def face_region(face: Face, size: tuple[int, int]) -> tuple[int, int, int, int]:
    x, y, w, h = face.full_box()
    left, top = max(0, int(x - MARGIN * w)), max(0, int(y - MARGIN * h))
    right, bottom = min(size[0], int(np.ceil(x + w * (1 + MARGIN)))), min(size[1], int(np.ceil(y + h * (1 + MARGIN))))
    return left, top, right, bottom


def ellipse_weight(width: int, height: int) -> np.ndarray:
    """1 inside the ellipse filling the box (to 70% of its radii), falling smoothly to 0 at its edge."""
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    r = np.sqrt(((xs + 0.5 - width / 2) / (width / 2)) ** 2 + ((ys + 0.5 - height / 2) / (height / 2)) ** 2)
    t = np.clip((1.0 - r) / 0.3, 0.0, 1.0)
    return (np.sin(t * np.pi / 2) ** 2).astype(np.float32)


def face_pass(rgb: np.ndarray, *, detector: FaceDetector, scorer: IdentityScorer,
              generator: Generator | None = None, seed: int = 0, steps: int = FACE_STEPS,
              interrupt: InterruptCheck | None = None) -> tuple[np.ndarray, dict[str, Any]]:
    """The image after the faces' pass and its record (faces, method, identity before/after per face)."""
    faces = detector.detect(rgb)[:MAX_FACES]
    use_model = generator is not None and generator.capabilities.image_strength
    record: dict[str, Any] = {"faces": [], "method": "model" if use_model else "opencv_denoise"}
    if use_model:
        record.update(model=generator.info.id, image_strength=FACE_IMAGE_STRENGTH, steps=steps, seed=seed)
    else:
        record.update(denoise_h=DENOISE_H)
    out = rgb.copy()
    size = (rgb.shape[1], rgb.shape[0])
    for index, face in enumerate(faces):
        left, top, right, bottom = face_region(face, size)
        if right - left < 16 or bottom - top < 16:
            continue
        crop = np.ascontiguousarray(rgb[top:bottom, left:right])
        if use_model:
            passed = _model_pass(crop, generator, (seed + 1000 * index) % (MAX_SEED + 1), steps, interrupt)
        else:
            passed = _denoise(crop)
        weight = ellipse_weight(right - left, bottom - top)[..., None]
        blended = np.clip(np.rint(crop * (1 - weight) + passed * weight), 0, 255).astype(np.uint8)
        before = scorer.embed_face(rgb, face)
        moved = Face(box=(face.box[0] - left, face.box[1] - top, face.box[2], face.box[3]),
                     landmarks=tuple((x - left, y - top) for x, y in face.landmarks), score=face.score)
        after = scorer.embed_face(blended, moved)
        similarity = scorer.similarity(before, after)
        drift = similarity < scorer.threshold
        if not drift:
            out[top:bottom, left:right] = blended
        record["faces"].append({"box": [left, top, right - left, bottom - top], "similarity": round(similarity, 4),
                                "threshold": scorer.threshold, "drift": drift, "kept": not drift})
    record["drift"] = any(face["drift"] for face in record["faces"])
    return out, record


def _denoise(crop: np.ndarray) -> np.ndarray:
    import cv2

    bgr = cv2.cvtColor(crop, cv2.COLOR_RGB2BGR)
    return cv2.cvtColor(cv2.fastNlMeansDenoisingColored(bgr, None, DENOISE_H, DENOISE_H, 5, 15),
                        cv2.COLOR_BGR2RGB).astype(np.float32)


def _model_pass(crop: np.ndarray, generator: Generator, seed: int, steps: int,
                interrupt: InterruptCheck | None) -> np.ndarray:
    tile = max(generator.native_size((1.0, 1.0)))
    tile = min(tile, max(64, (max(crop.shape[:2]) + 7) // 8 * 8))
    counter = [0]

    def work(pixels: np.ndarray, _box: tuple[int, int, int, int]) -> np.ndarray:
        request = GenerationRequest(prompt=FACE_PROMPT, image_strength=FACE_IMAGE_STRENGTH, steps=max(steps, MIN_FACE_STEPS),
                                    seed=(seed + counter[0]) % (MAX_SEED + 1), width=pixels.shape[1],
                                    height=pixels.shape[0], model=generator.info.id)
        counter[0] += 1
        images = generator.generate([PreparedRequest(request=request, image=Image.fromarray(pixels, "RGB"))],
                                    None, interrupt)
        return np.asarray(images[0][0].convert("RGB"))

    blended, _ = tiled(crop, tile, work, lambda box: True)
    return blended[: crop.shape[0], : crop.shape[1]]
