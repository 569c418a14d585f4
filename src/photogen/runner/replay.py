"""The replay verdict: how far a made-again output is from the original, the same words on server and CLI."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from PIL import Image

from photogen.outputs import max_difference

CLOSE_LEVELS = 2  # a replay within this many 8-bit levels of the original counts as close


def verdict_for(difference: int) -> str:
    """identical (no pixel differs), close (no channel by more than CLOSE_LEVELS), else different."""
    return "identical" if difference == 0 else "close" if difference <= CLOSE_LEVELS else "different"


def compare_outputs(replayed: Iterable[tuple[int, Image.Image]],
                    originals: dict[int, tuple[str, Callable[[], Image.Image]]]) -> dict[str, Any]:
    """Each replayed output (index, image) against the original of the same index: (its id, a way to open it)."""
    verdicts = []
    for index, image in replayed:
        original = originals.get(index)
        if original is None:
            verdicts.append({"index": index, "verdict": "missing", "max_difference": None})
            continue
        original_id, open_original = original
        difference = max_difference(open_original(), image)
        verdicts.append({"index": index, "verdict": verdict_for(difference), "max_difference": difference,
                         "original_asset_id": original_id})
    return {"outputs": verdicts, "all_identical": all(v["verdict"] == "identical" for v in verdicts)}
