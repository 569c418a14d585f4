"""Consistency scores for review: one flat record per output, and sorting a batch by them.

A record reads:

    {"identity": 0.91 | None,             # SFace cosine similarity to the source's face; None without faces
     "identity_note": "same person",      # or "identity drift", "no face in the source", "no face in the output"
     "identity_threshold": 0.363,
     "identity_drift": False,
     "structure": 0.64,                   # SSIM on luma at the working size
     "fix": None}                         # or "identity drift: raise image strength"
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from photogen.domain.errors import InvalidRequest
from photogen.scoring.identity import FaceEmbedding, IdentityScore, IdentityScorer, default_identity_scorer
from photogen.scoring.structure import StructureSource

IDENTITY_DRIFT_FIX = "identity drift: raise image strength"
SORT_KEYS = ("identity", "structure")


def score_output(
    source_crop_rgb: np.ndarray, output_rgb: np.ndarray, scorer: IdentityScorer | None = None
) -> dict[str, Any]:
    """Scores of one output against the crop it was made from (both RGB uint8)."""
    return score_outputs(source_crop_rgb, [output_rgb], scorer)[0]


_FIND = object()


def score_outputs(
    source_crop_rgb: np.ndarray, outputs_rgb: Sequence[np.ndarray], scorer: IdentityScorer | None = None,
    *, source_face: FaceEmbedding | None | object = _FIND, structure: StructureSource | None = None,
) -> list[dict[str, Any]]:
    """Scores of each output of a batch; the source's face is found and embedded once (or given as
    `source_face`, None for a source without one), and so is its half of SSIM (or given as `structure`)."""
    scorer = scorer or default_identity_scorer()
    source = scorer.embed(source_crop_rgb) if source_face is _FIND else source_face
    structure = structure or StructureSource(source_crop_rgb)
    return [_record(scorer, source, structure, output) for output in outputs_rgb]


def sort_by(scores: Sequence[Mapping[str, Any]], key: str, *, descending: bool = True) -> list[int]:
    """Indices of `scores`, best first by `key` ("identity" or "structure"); records without that score
    (no face) come last, in their original order. The sort is stable, so ties keep batch order."""
    if key not in SORT_KEYS:
        raise InvalidRequest(f"cannot sort by {key!r}", hint=f"sort by one of: {', '.join(SORT_KEYS)}")
    scored = [i for i, record in enumerate(scores) if record.get(key) is not None]
    unscored = [i for i, record in enumerate(scores) if record.get(key) is None]
    scored.sort(key=lambda i: float(scores[i][key]), reverse=descending)
    return scored + unscored


def _record(
    scorer: IdentityScorer, source: FaceEmbedding | None, structure: StructureSource, output_rgb: np.ndarray
) -> dict[str, Any]:
    identity: IdentityScore = scorer.compare(source, scorer.embed(output_rgb) if source is not None else None)
    return {
        "identity": None if identity.similarity is None else round(identity.similarity, 4),
        "identity_note": identity.note,
        "identity_threshold": identity.threshold,
        "identity_drift": identity.drift,
        "structure": round(structure.similarity(output_rgb), 4),
        "fix": IDENTITY_DRIFT_FIX if identity.drift else None,
    }
