"""Content Credentials for photogen's outputs: which software made them, how, and from which upload."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from photogen.provenance.credentials import (
    TRAINED_ALGORITHMIC_MEDIA,
    SigningIdentity,
    development_identity,
    load_identity,
    sign_png,
)


def signing_identity(cert: Path | None, key: Path | None, home: Path) -> SigningIdentity:
    """The configured certificate, or the development one kept in the home folder (made on first use)."""
    if cert is not None and key is not None:
        return load_identity(cert, key)
    return development_identity(home / "credentials")


class OutputSigner:
    """Signs each output with the upload as its ingredient and the steps that made it as actions."""

    def __init__(self, identity: SigningIdentity) -> None:
        self.identity = identity

    def sign(self, png: bytes, record: dict[str, Any], *, upload_bytes: bytes, upload_name: str,
             upload_format: str) -> bytes:
        actions: list[dict[str, Any]] = [{"action": "c2pa.opened"}]
        crop = record.get("crop")
        if crop:
            left, top, right, bottom = crop["box"]
            actions.append({"action": "c2pa.cropped",
                            "parameters": {"left": left, "top": top, "width": right - left, "height": bottom - top}})
        if record.get("kind") == "upscale":
            actions.append({"action": "c2pa.resized", "parameters": {"upscaler": record["upscale"].get("upscaler"),
                                                                    "factor": record["upscale"].get("factor")}})
        else:
            model = record.get("model", {})
            actions.append({"action": "c2pa.edited", "digitalSourceType": TRAINED_ALGORITHMIC_MEDIA,
                            "parameters": {"description": "image-to-image generation", "model": model.get("id"),
                                           "model_licence": model.get("licence"),
                                           "denoising_strength": record.get("denoising_strength")}})
        return sign_png(
            png, self.identity, title=f"photogen output {record.get('job_id', '')}".strip(), actions=actions,
            ingredient_png_or_jpeg=upload_bytes, ingredient_title=upload_name or "upload",
            ingredient_format=f"image/{upload_format.lower().replace('jpg', 'jpeg')}",
        )
