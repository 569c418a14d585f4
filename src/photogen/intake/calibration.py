"""Degrade real photos step by step and print what each preflight check measures: how the thresholds were set.

    python -m photogen.intake.calibration            # table of measured values (needs scikit-image, matplotlib)
    python -m photogen.intake.calibration --identity # also SFace identity similarity against the clean face

The degradations are the ones the tests use, so the thresholds and the tests agree on what "degraded" means.
Every function takes and returns RGB uint8 arrays (HxWx3) unless it says otherwise.
"""

from __future__ import annotations

import argparse
import io

import numpy as np
from PIL import Image

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


_COLUMNS = ("sharpness", "face_sharpness", "exposure", "clipped_shadows", "clipped_highlights", "contrast",
            "noise", "blockiness", "backlight", "face_resolution", "face_cutoff", "face_tilt", "face_turn")  # fmt: skip


def main(argv: list[str] | None = None) -> None:
    from photogen.intake.decode import decode_image
    from photogen.intake.preflight import preflight

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--identity", action="store_true", help="add SFace similarity to the clean face")
    args = parser.parse_args(argv)
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
