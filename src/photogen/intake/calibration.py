"""Degrade real photos step by step and print what each preflight check measures: how the thresholds were set.

    python -m photogen.intake.calibration            # table of measured values (needs scikit-image, matplotlib)
    python -m photogen.intake.calibration --identity # also SFace identity similarity against the clean face
    python -m photogen.intake.calibration --faults   # the fault checks on covered faces, coloured light, filters,
                                                     # enlarged thumbnails, beside clean variations

The degradations are the ones the tests use, so the thresholds and the tests agree on what "degraded" means.
Every function takes and returns RGB uint8 arrays (HxWx3) unless it says otherwise; the faults drawn on a face
take the `Face` YuNet found in the clean photo.
"""

from __future__ import annotations

import argparse
import io

import numpy as np
from PIL import Image

from photogen.intake.faces import Face

GAMMA = 2.2  # sRGB is treated as a plain 2.2 power curve when changing exposure


def blur(rgb: np.ndarray, sigma: float) -> np.ndarray:
    import cv2

    return cv2.GaussianBlur(rgb, (0, 0), sigma) if sigma > 0 else rgb.copy()


def exposure(rgb: np.ndarray, stops: float) -> np.ndarray:
    """Brighter (+) or darker (-) by `stops`, in linear light, clipped like a sensor."""
    linear = (rgb.astype(np.float32) / 255.0) ** GAMMA * (2.0**stops)
    return (np.clip(linear, 0.0, 1.0) ** (1.0 / GAMMA) * 255.0 + 0.5).astype(np.uint8)


def backlight(
    rgb: np.ndarray, face_box: tuple[float, float, float, float], subject_stops: float = -2.0,
    background_stops: float = 1.0,
) -> np.ndarray:  # fmt: skip
    """A window behind the person: the person (face, and the body below it) darker, the rest brighter."""
    import cv2

    height, width = rgb.shape[:2]
    x, y, w, h = face_box
    mask = np.zeros((height, width), np.float32)
    cv2.ellipse(
        mask, (round(x + w / 2), round(y + h / 2)), (round(0.75 * w), round(0.8 * h)), 0, 0, 360, 1.0, -1
    )
    mask[round(y + h) :, max(0, round(x - 0.75 * w)) : round(x + 1.75 * w)] = 1.0
    mask = cv2.GaussianBlur(mask, (0, 0), 0.1 * w)[..., None]
    linear = (rgb.astype(np.float32) / 255.0) ** GAMMA
    gain = 2.0 ** (mask * subject_stops + (1.0 - mask) * background_stops)
    return (np.clip(linear * gain, 0.0, 1.0) ** (1.0 / GAMMA) * 255.0 + 0.5).astype(np.uint8)


def contrast(rgb: np.ndarray, factor: float) -> np.ndarray:
    """Tones pulled towards their mean (factor 1 keeps them): haze, a washed-out scan."""
    mean = rgb.astype(np.float32).mean()
    return np.clip((rgb.astype(np.float32) - mean) * factor + mean + 0.5, 0, 255).astype(np.uint8)


def noise(rgb: np.ndarray, sigma: float, seed: int = 0) -> np.ndarray:
    generator = np.random.default_rng(seed)
    noisy = rgb.astype(np.float32) + generator.normal(0.0, sigma, rgb.shape).astype(np.float32)
    return np.clip(noisy + 0.5, 0, 255).astype(np.uint8)


def jpeg_bytes(rgb: np.ndarray, quality: int, **save_options: object) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(rgb).save(buffer, "JPEG", quality=quality, **save_options)
    return buffer.getvalue()


def jpeg(rgb: np.ndarray, quality: int) -> np.ndarray:
    """The pixels after a JPEG round trip at `quality`."""
    with Image.open(io.BytesIO(jpeg_bytes(rgb, quality))) as image:
        return np.asarray(image.convert("RGB"))


def downscale(rgb: np.ndarray, long_side: int) -> np.ndarray:
    import cv2

    factor = long_side / max(rgb.shape[:2])
    size = (max(1, round(rgb.shape[1] * factor)), max(1, round(rgb.shape[0] * factor)))
    return cv2.resize(rgb, size, interpolation=cv2.INTER_AREA)


def cut_face(rgb: np.ndarray, face_box: tuple[float, float, float, float], share: float) -> np.ndarray:
    """Crop the photo so its left edge runs through the face, leaving `share` of the face's width outside."""
    x = face_box[0] + share * face_box[2]
    return np.ascontiguousarray(rgb[:, max(0, round(x)) :])


def tilt(rgb: np.ndarray, degrees: float) -> np.ndarray:
    """Rotate about the centre (edges mirrored, so no black corners)."""
    import cv2

    height, width = rgb.shape[:2]
    matrix = cv2.getRotationMatrix2D((width / 2, height / 2), degrees, 1.0)
    return cv2.warpAffine(
        rgb, matrix, (width, height), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT_101
    )


def colour_cast(rgb: np.ndarray, gains: tuple[float, float, float]) -> np.ndarray:
    """Coloured light: each channel scaled in linear light (magenta club light: (1.3, 0.65, 1.3))."""
    linear = (rgb.astype(np.float32) / 255.0) ** GAMMA * np.array(gains, np.float32)
    return (np.clip(linear, 0.0, 1.0) ** (1.0 / GAMMA) * 255.0 + 0.5).astype(np.uint8)


def face_exposure(rgb: np.ndarray, face_box: tuple[float, float, float, float], stops: float) -> np.ndarray:
    """The face alone darker (-) or brighter (+) by `stops`; the rest of the photo (a bright suit) unchanged."""
    import cv2

    x, y, w, h = face_box
    mask = np.zeros(rgb.shape[:2], np.float32)
    cv2.ellipse(
        mask, (round(x + w / 2), round(y + h / 2)), (round(0.55 * w), round(0.62 * h)), 0, 0, 360, 1.0, -1
    )
    mask = cv2.GaussianBlur(mask, (0, 0), 0.06 * w)[..., None]
    linear = (rgb.astype(np.float32) / 255.0) ** GAMMA * 2.0 ** (mask * stops)
    return (np.clip(linear, 0.0, 1.0) ** (1.0 / GAMMA) * 255.0 + 0.5).astype(np.uint8)


def sunglasses(rgb: np.ndarray, face: Face) -> np.ndarray:
    """Dark lenses over both eye landmarks, joined by a bridge, a little lighter at the bottom."""
    import cv2

    height, width = rgb.shape[:2]
    (rx, ry), (lx, ly) = face.landmarks[0], face.landmarks[1]
    distance = face.eye_distance
    mask = np.zeros((height, width), np.float32)
    for x, y in ((rx, ry), (lx, ly)):
        cv2.ellipse(mask, (round(x), round(y)), (round(0.42 * distance), round(0.3 * distance)), face.roll_degrees,
                    0, 360, 1.0, -1)  # fmt: skip
    cv2.line(mask, (round(rx), round(ry - 0.1 * distance)), (round(lx), round(ly - 0.1 * distance)), 1.0,
             max(1, round(0.06 * distance)))  # fmt: skip
    rows = np.arange(height, dtype=np.float32)[:, None, None]
    shade = 18.0 + 22.0 * np.clip((rows - (ry - 0.3 * distance)) / (0.6 * distance), 0.0, 1.0)
    lenses = np.broadcast_to(shade * np.array([1.0, 1.0, 1.15], np.float32), rgb.shape)
    return _blend(rgb, lenses, cv2.GaussianBlur(mask, (0, 0), 0.02 * distance) * 0.97)


def hair(rgb: np.ndarray, face: Face, region: str = "eyes", seed: int = 0) -> np.ndarray:
    """A lock of dark brown hair across the eyes or the mouth: strands as noise smeared along the lock."""
    import cv2

    height, width = rgb.shape[:2]
    distance = face.eye_distance
    start, end = _across(face, region)
    noise = np.random.default_rng(seed).normal(0.0, 1.0, (height, width)).astype(np.float32)
    length = max(3, round(0.8 * distance)) | 1
    kernel = np.zeros((length, length), np.float32)
    angle, centre = np.arctan2(end[1] - start[1], end[0] - start[0]), length // 2
    reach = (centre * np.cos(angle), centre * np.sin(angle))
    cv2.line(kernel, (round(centre - reach[0]), round(centre - reach[1])),
             (round(centre + reach[0]), round(centre + reach[1])), 1.0, 1)  # fmt: skip
    strands = cv2.filter2D(noise, -1, kernel / kernel.sum())
    strands = np.clip(0.5 + 0.25 * (strands - strands.mean()) / (strands.std() + 1e-6), 0.0, 1.0)[..., None]
    layer = np.array([28, 20, 14], np.float32) * (1 - strands) + np.array([105, 75, 50], np.float32) * strands
    return _blend(rgb, layer, _band((height, width), start, end, 0.7 * distance, 0.05 * distance))


def hand(rgb: np.ndarray, face: Face, region: str = "mouth", seed: int = 0) -> np.ndarray:
    """A hand (a band of the face's own skin colour, softly shaded and grained) across the eyes or the mouth."""
    import cv2

    height, width = rgb.shape[:2]
    distance = face.eye_distance
    x, y, w, h = face.box
    cheek = rgb[round(y + 0.55 * h) : round(y + 0.65 * h), round(x + 0.15 * w) : round(x + 0.3 * w)]
    skin = np.median(cheek.reshape(-1, 3), axis=0).astype(np.float32)
    start, end = _across(face, region)
    thickness = 0.8 * distance
    angle = np.arctan2(end[1] - start[1], end[0] - start[0])
    rows, cols = np.mgrid[0:height, 0:width].astype(np.float32)
    middle = ((start[0] + end[0]) / 2, (start[1] + end[1]) / 2)
    across = ((cols - middle[0]) * -np.sin(angle) + (rows - middle[1]) * np.cos(angle)) / thickness
    shade = 1.04 - 0.5 * np.clip(across, -0.5, 0.5) ** 2  # rounded like the back of a hand
    grain = cv2.GaussianBlur(np.random.default_rng(seed).normal(0.0, 2.5, (height, width)).astype(np.float32),
                             (0, 0), 0.7)  # fmt: skip
    layer = np.clip(skin * shade[..., None] + grain[..., None], 0, 255)
    return _blend(rgb, layer, _band((height, width), start, end, thickness, 0.04 * distance))


def mask(rgb: np.ndarray, face: Face) -> np.ndarray:
    """A light blue surgical mask from the middle of the nose to below the chin, with pleats."""
    import cv2

    height, width = rgb.shape[:2]
    x, y, w, h = face.box
    top = face.landmarks[2][1] - 0.1 * h
    cover = np.zeros((height, width), np.float32)
    outline = np.array([[x + 0.02 * w, top], [x + 0.98 * w, top], [x + 0.95 * w, y + 1.02 * h],
                        [x + 0.5 * w, y + 1.1 * h], [x + 0.05 * w, y + 1.02 * h]], np.int32)  # fmt: skip
    cv2.fillPoly(cover, [outline], 1.0)
    rows = np.arange(height, dtype=np.float32)[:, None, None]
    pleats = 1.0 - 0.06 * (np.sin((rows - top) / (0.08 * h) * 2 * np.pi) > 0.7)
    layer = np.broadcast_to(np.array([165, 200, 225], np.float32) * pleats, rgb.shape)
    return _blend(rgb, layer, cv2.GaussianBlur(cover, (0, 0), 0.01 * w))


def smooth_skin(
    rgb: np.ndarray, face_box: tuple[float, float, float, float], strength: float = 1.0
) -> np.ndarray:
    """A beauty filter's skin smoothing: two bilateral passes inside the face, blended in by `strength`."""
    import cv2

    x, y, w, h = face_box
    inside = np.zeros(rgb.shape[:2], np.float32)
    cv2.ellipse(
        inside, (round(x + w / 2), round(y + h / 2)), (round(0.5 * w), round(0.6 * h)), 0, 0, 360, 1.0, -1
    )
    inside = cv2.GaussianBlur(inside, (0, 0), 0.05 * w)[..., None] * strength
    diameter = max(5, round(w / 12)) | 1
    smooth = rgb
    for _ in range(2):
        smooth = cv2.bilateralFilter(smooth, diameter, 40, diameter)
    return np.clip(rgb * (1 - inside) + smooth * inside + 0.5, 0, 255).astype(np.uint8)


def sharpen(rgb: np.ndarray, amount: float, radius: float) -> np.ndarray:
    """Unsharp mask: the photo plus `amount` times its difference from a Gaussian blur of `radius`."""
    import cv2

    pixels = rgb.astype(np.float32)
    return np.clip(
        pixels + amount * (pixels - cv2.GaussianBlur(pixels, (0, 0), radius)) + 0.5, 0, 255
    ).astype(np.uint8)


def saturate(rgb: np.ndarray, factor: float) -> np.ndarray:
    """Saturation (HSV) times `factor`, as a 'vivid' filter does."""
    import cv2

    hsv = cv2.cvtColor(rgb, cv2.COLOR_RGB2HSV).astype(np.float32)
    hsv[..., 1] = np.clip(hsv[..., 1] * factor, 0, 255)
    return cv2.cvtColor(hsv.astype(np.uint8), cv2.COLOR_HSV2RGB)


def enlarge(rgb: np.ndarray, small_side: int, long_side: int, resample: str = "bicubic") -> np.ndarray:
    """A thumbnail blown up: shrunk to `small_side` (long side), then enlarged with Pillow to `long_side`."""
    small = downscale(rgb, small_side)
    factor = long_side / max(small.shape[:2])
    size = (round(small.shape[1] * factor), round(small.shape[0] * factor))
    filters = {"bicubic": Image.Resampling.BICUBIC, "bilinear": Image.Resampling.BILINEAR,
               "nearest": Image.Resampling.NEAREST, "lanczos": Image.Resampling.LANCZOS}  # fmt: skip
    return np.asarray(Image.fromarray(small).resize(size, filters[resample]))


def animated_bytes(frames: list[np.ndarray], image_format: str, duration_ms: int = 120) -> bytes:
    """An animation (GIF, PNG as APNG, or WEBP) of the given frames, looping."""
    buffer = io.BytesIO()
    images = [Image.fromarray(frame) for frame in frames]
    options: dict[str, object] = {
        "save_all": True,
        "append_images": images[1:],
        "duration": duration_ms,
        "loop": 0,
    }
    if image_format == "WEBP":
        options["lossless"] = True
    images[0].save(buffer, image_format, **options)
    return buffer.getvalue()


def _blend(rgb: np.ndarray, layer: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    weight = alpha[..., None].astype(np.float32)
    mixed = rgb.astype(np.float32) * (1.0 - weight) + layer.astype(np.float32) * weight
    return np.clip(mixed + 0.5, 0, 255).astype(np.uint8)


def _band(shape: tuple[int, int], start: tuple[float, float], end: tuple[float, float], thickness: float,
          feather: float) -> np.ndarray:  # fmt: skip
    import cv2

    band = np.zeros(shape, np.float32)
    cv2.line(
        band,
        (round(start[0]), round(start[1])),
        (round(end[0]), round(end[1])),
        1.0,
        max(1, round(thickness)),
    )
    return cv2.GaussianBlur(band, (0, 0), feather) if feather > 0 else band


def _across(face: Face, region: str) -> tuple[tuple[float, float], tuple[float, float]]:
    """A line through both eyes (or both mouth corners), reaching 0.9 eye distances beyond them."""
    first, second = (
        (face.landmarks[0], face.landmarks[1]) if region == "eyes" else (face.landmarks[3], face.landmarks[4])
    )
    dx, dy = second[0] - first[0], second[1] - first[1]
    length = max(float(np.hypot(dx, dy)), 1e-6)
    reach = 0.9 * face.eye_distance
    ux, uy = dx / length, dy / length
    return (first[0] - reach * ux, first[1] - reach * uy), (second[0] + reach * ux, second[1] + reach * uy)


def sample_photos() -> dict[str, np.ndarray]:
    """The real photographs shipped with scikit-image and matplotlib (test dependencies)."""
    import matplotlib.cbook
    from skimage import data

    with Image.open(matplotlib.cbook.get_sample_data("grace_hopper.jpg", asfileobj=False)) as image:
        grace = np.asarray(image.convert("RGB"))
    return {
        "astronaut": data.astronaut(),
        "grace_hopper": grace,
        "coffee": data.coffee(),
        "chelsea": data.chelsea(),
        "rocket": data.rocket(),
        "camera": np.repeat(data.camera()[..., None], 3, axis=2),
    }


def _degradations(face: tuple[float, float, float, float] | None) -> list[tuple[str, object]]:
    steps: list[tuple[str, object]] = [("clean", lambda rgb: rgb)]
    steps += [(f"blur {s}", lambda rgb, s=s: blur(rgb, s)) for s in (1, 1.5, 2, 3, 4, 5)]
    steps += [(f"stops {s:+g}", lambda rgb, s=s: exposure(rgb, s)) for s in (-3, -2, -1, 1, 2)]
    steps += [(f"contrast x{f}", lambda rgb, f=f: contrast(rgb, f)) for f in (0.5, 0.33, 0.15)]
    steps += [(f"noise {s}", lambda rgb, s=s: noise(rgb, s)) for s in (5, 10, 15, 25, 40)]
    steps += [(f"jpeg q{q}", lambda rgb, q=q: jpeg(rgb, q)) for q in (90, 50, 30, 20, 10)]
    steps += [(f"long side {n}", lambda rgb, n=n: downscale(rgb, n)) for n in (400, 300, 200, 120)]
    if face is not None:
        steps += [("backlight -2/+1", lambda rgb: backlight(rgb, face)),
                  ("backlight -1/+0.5", lambda rgb: backlight(rgb, face, -1.0, 0.5))]  # fmt: skip
        steps += [(f"cut {s:.0%}", lambda rgb, s=s: cut_face(rgb, face, s)) for s in (0.1, 0.25, 0.4, 0.6)]
        steps += [(f"tilt {d}", lambda rgb, d=d: tilt(rgb, d)) for d in (10, 20, 25, 30)]
    return steps


def _fault_degradations(face: Face | None) -> list[tuple[str, object]]:
    """Clean variations (which must not trip the fault checks) and the faults the fault checks are for."""
    steps: list[tuple[str, object]] = [("clean", lambda rgb: rgb)]
    steps += [(f"blur {s}", lambda rgb, s=s: blur(rgb, s)) for s in (1, 1.5, 2)]
    steps += [(f"stops {s:+g}", lambda rgb, s=s: exposure(rgb, s)) for s in (-2, 1)]
    steps += [("contrast x0.33", lambda rgb: contrast(rgb, 0.33))]
    steps += [(f"noise {s}", lambda rgb, s=s: noise(rgb, s)) for s in (10, 25)]
    steps += [(f"jpeg q{q}", lambda rgb, q=q: jpeg(rgb, q)) for q in (50, 20)]
    steps += [("long side 300", lambda rgb: downscale(rgb, 300))]
    casts = {"magenta": (1.3, 0.65, 1.3), "green": (0.75, 1.2, 0.75), "blue": (0.75, 0.9, 1.45),
             "tungsten": (1.25, 1.0, 0.55)}  # fmt: skip
    steps += [(f"{name} light", lambda rgb, g=gains: colour_cast(rgb, g)) for name, gains in casts.items()]
    steps += [
        (f"sharpen {a:g}/{r:g}", lambda rgb, a=a, r=r: sharpen(rgb, a, r))
        for a, r in ((1, 1), (1.5, 2), (2, 2))
    ]
    steps += [(f"saturate x{f:g}", lambda rgb, f=f: saturate(rgb, f)) for f in (1.3, 1.6, 2)]
    steps += [(f"150>1024 {how}", lambda rgb, how=how: enlarge(rgb, 150, 1024, how))
              for how in ("bicubic", "bilinear", "lanczos", "nearest")]  # fmt: skip
    steps += [("300>1024 bicubic", lambda rgb: enlarge(rgb, 300, 1024))]
    if face is not None:
        steps += [("sunglasses", lambda rgb: sunglasses(rgb, face)), ("mask", lambda rgb: mask(rgb, face))]
        steps += [(f"{what} over {where}", lambda rgb, cover=cover, where=where: cover(rgb, face, where))
                  for what, cover in (("hair", hair), ("hand", hand)) for where in ("eyes", "mouth")]  # fmt: skip
        steps += [
            (f"face {s:+g} stops", lambda rgb, s=s: face_exposure(rgb, face.box, s)) for s in (-2, -3, -4)
        ]
        steps += [(f"smooth skin {f:g}", lambda rgb, f=f: smooth_skin(rgb, face.box, f)) for f in (0.5, 1)]
        steps += [("beauty filter", lambda rgb: sharpen(smooth_skin(rgb, face.box), 2, 2))]
    return steps


_FAULT_COLUMNS = ("face_occlusion", "face_exposure", "face_colour", "skin_smoothing", "sharpening_halos",
                  "saturation", "effective_resolution")  # fmt: skip
_COLUMNS = ("sharpness", "face_sharpness", "exposure", "clipped_shadows", "clipped_highlights", "contrast",
            "noise", "blockiness", "backlight", "face_resolution", "face_cutoff", "face_tilt", "face_turn")  # fmt: skip


def main(argv: list[str] | None = None) -> None:
    from photogen.intake.decode import decode_image
    from photogen.intake.preflight import preflight

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--identity", action="store_true", help="add SFace similarity to the clean face")
    parser.add_argument(
        "--faults",
        action="store_true",
        help="the fault checks (occlusion, face light and colour, filters, enlargement) instead",
    )
    args = parser.parse_args(argv)
    if args.faults:
        _print_faults()
        return
    identity = _IdentityProbe() if args.identity else None
    print("photo         degradation        " + " ".join(f"{name[:10]:>10}" for name in _COLUMNS)
          + ("   identity" if identity else ""))  # fmt: skip
    for name, clean in sample_photos().items():
        clean_report = preflight(decode_image(png_bytes(clean)))
        face = clean_report.faces[0].box if clean_report.faces else None
        for label, degrade in _degradations(face):
            pixels = degrade(clean)  # type: ignore[operator]
            report = preflight(decode_image(png_bytes(pixels)))
            values = []
            for column in _COLUMNS:
                check = report.check(column)
                values.append(f"{check.value:>10}" if check is not None else f"{'-':>10}")
            extra = f"   {identity.similarity(clean, pixels):8.2f}" if identity and face is not None else ""
            print(f"{name:13s} {label:18s} " + " ".join(values) + extra)
    if identity:
        print("\nidentity similarity by face height (clean face shrunk, then enlarged back):")
        for name, clean in sample_photos().items():
            report = preflight(decode_image(png_bytes(clean)))
            if report.faces:
                row = []
                for height in (64, 48, 40, 36, 32, 28, 24, 20):
                    factor = height / report.faces[0].height
                    small = downscale(clean, max(8, round(max(clean.shape[:2]) * factor)))
                    import cv2

                    back = cv2.resize(small, (clean.shape[1], clean.shape[0]), interpolation=cv2.INTER_CUBIC)
                    row.append(f"{height}px {identity.similarity(clean, back):.2f}")
                print(f"{name:13s} " + "  ".join(row))


def _print_faults() -> None:
    """The fault checks' values on clean variations and on each fault; '*' marks a finding (warn or block)."""
    from photogen.intake.decode import decode_image
    from photogen.intake.preflight import preflight

    print("photo         degradation        " + " ".join(f"{name[:12]:>13}" for name in _FAULT_COLUMNS))
    for name, clean in sample_photos().items():
        clean_report = preflight(decode_image(png_bytes(clean)))
        face = clean_report.faces[0] if clean_report.faces else None
        for label, degrade in _fault_degradations(face):
            report = preflight(decode_image(png_bytes(degrade(clean))))  # type: ignore[operator]
            values = []
            for column in _FAULT_COLUMNS:
                check = report.check(column)
                mark = "*" if check is not None and check.level.value != "ok" else " "
                values.append(f"{check.value:>12}{mark}" if check is not None else f"{'-':>12} ")
            print(f"{name:13s} {label:18s} " + " ".join(values))


class _IdentityProbe:
    """SFace cosine similarity between the largest face of two images (the calibration's ground truth)."""

    def __init__(self) -> None:
        import cv2

        from photogen.intake.faces import _packaged_model

        self._cv2 = cv2
        self._recognizer = cv2.FaceRecognizerSF.create(
            str(_packaged_model("face_recognition_sface_2021dec_int8bq.onnx")), ""
        )
        self._detector = cv2.FaceDetectorYN.create(
            str(_packaged_model("face_detection_yunet_2023mar_int8bq.onnx")), "", (320, 320), 0.5, 0.3, 5000
        )

    def similarity(self, reference: np.ndarray, other: np.ndarray) -> float:
        first, second = self._feature(reference), self._feature(other)
        if first is None or second is None:
            return float("nan")
        return float(self._recognizer.match(first, second, self._cv2.FaceRecognizerSF_FR_COSINE))

    def _feature(self, rgb: np.ndarray) -> np.ndarray | None:
        bgr = self._cv2.cvtColor(rgb, self._cv2.COLOR_RGB2BGR)
        self._detector.setInputSize((bgr.shape[1], bgr.shape[0]))
        _, rows = self._detector.detect(bgr)
        if rows is None:
            return None
        return self._recognizer.feature(self._recognizer.alignCrop(bgr, rows[0]))


def png_bytes(rgb: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(rgb).save(buffer, "PNG", compress_level=1)
    return buffer.getvalue()


if __name__ == "__main__":
    main()
