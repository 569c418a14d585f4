"""Scores of an output made with reference photos: is it still the person of the set, and did the head turn?

Beside the review scores every output carries (identity and structure against the crop the model saw,
`photogen.scoring.review`), an output of a job with references or an identity set gets:

    {"identity_set": {"best": 0.71, "mean": 0.58,    # SFace cosine similarity to each reference's face:
                      "references": 3,              #   the closest one, and the mean over those with a face
                      "threshold": 0.363, "drift": False},
     "angle": {"requested": 15, "source_yaw": -2.1,  # a head turn: asked for, the source's yaw,
               "measured_yaw": 11.8, "turned": 13.9, #   the output's yaw and how far it moved
               "reached": True},                     #   within ANGLE_TOLERANCE degrees of the request
     "drift": ["identity_set"]}                      # every flag raised: identity, identity_set, angle

Yaw comes from YuNet's five landmarks (`photogen.intake.faces.Face.yaw_degrees`), as in the identity set's
coverage report, so the requested and measured turns are in the same degrees.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from photogen.scoring.identity import IDENTITY_DRIFT_THRESHOLD, IdentityScorer, default_identity_scorer

ANGLE_TOLERANCE = 10.0  # degrees: a measured turn this close to the requested one counts as reached


def reference_embeddings(images_rgb: Sequence[np.ndarray], scorer: IdentityScorer | None = None) -> list[np.ndarray]:
    """The SFace embedding of the largest face of each reference image (images without a face give none)."""
    scorer = scorer or default_identity_scorer()
    found = (scorer.embed(rgb) for rgb in images_rgb)
    return [embedding.vector for embedding in found if embedding is not None]


def face_yaw(rgb: np.ndarray) -> float | None:
    """The yaw in degrees of the largest face in the pixels (None without a face)."""
    from photogen.intake.faces import default_detector

    faces = default_detector().detect(rgb)
    return None if not faces else round(float(faces[0].yaw_degrees), 2)


def reference_scores(output_rgb: np.ndarray, embeddings: Sequence[np.ndarray] | None, *,
                     angle: int | None = None, source_yaw: float | None = None,
                     threshold: float = IDENTITY_DRIFT_THRESHOLD, identity_drift: bool = False,
                     scorer: IdentityScorer | None = None) -> dict[str, Any]:
    """The reference scores of one output (RGB uint8): identity against `embeddings` (the set's or the
    references' faces; None: the job has none) and, for a head turn of `angle` degrees, the measured yaw."""
    scores: dict[str, Any] = {}
    flags = ["identity"] if identity_drift else []
    if embeddings is not None:
        scorer = scorer or default_identity_scorer()
        output = scorer.embed(output_rgb) if embeddings else None
        similarities = [float(np.dot(output.vector, vector)) for vector in embeddings] if output is not None else []
        best = max(similarities) if similarities else None
        drift = best is not None and best < threshold
        scores["identity_set"] = {
            "best": None if best is None else round(best, 4),
            "mean": round(sum(similarities) / len(similarities), 4) if similarities else None,
            "references": len(embeddings),
            "threshold": threshold,
            "drift": drift,
            "note": ("no face among the references" if not embeddings else "no face in the output"
                     if output is None else "identity drift" if drift else "same person"),
        }
        if drift:
            flags.append("identity_set")
    if angle is not None:
        measured = face_yaw(output_rgb)
        turned = None if measured is None or source_yaw is None else round(measured - source_yaw, 2)
        reached = turned is not None and abs(turned - angle) <= ANGLE_TOLERANCE
        scores["angle"] = {"requested": angle, "source_yaw": source_yaw, "measured_yaw": measured,
                           "turned": turned, "reached": reached}
        if not reached:
            flags.append("angle")
    scores["drift"] = flags
    return scores
