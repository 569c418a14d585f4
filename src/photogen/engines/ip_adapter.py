"""IP-Adapter for Stable Diffusion 1.x and SDXL: the models people already run, with reference photos.

An IP-Adapter adds a second cross-attention to the UNet that reads a CLIP image encoder's view of the
reference photos; its scale is the request's `reference_strength` (0 leaves the model as it was). The
adapter is part of the model spec, so that the server's catalogue, the CLI and every output's record name it:

    MODEL+ip-adapter=WEIGHTS

MODEL is any SD 1.x or SDXL spec (tiny, a hub id, a folder, a .safetensors file); WEIGHTS is an IP-Adapter
weights file as h94/IP-Adapter publishes them (`models/ip-adapter_sd15.safetensors`,
`models/ip-adapter-plus-face_sd15.safetensors`, `sdxl_models/ip-adapter_sdxl_vit-h.safetensors`, ...). Its
CLIP image encoder is the `image_encoder/` folder beside the file, else `../models/image_encoder/` (where
h94 keeps the ViT-H encoder that its `*_vit-h` SDXL adapters use). In PHOTOGEN_MODELS an entry may also be
written {"model": MODEL, "ip_adapter": WEIGHTS}.

This module reads specs and files without importing torch (API servers describe models without it);
photogen.engines.ip_adapter_img2img loads and runs the adapter.
"""

from __future__ import annotations

import json
import re
import struct
from dataclasses import dataclass, replace
from pathlib import Path

from photogen.domain.errors import ModelNotFound, UnsupportedModel
from photogen.engines.base import Capabilities

ADAPTER_MARK = "+ip-adapter="
MAX_REFERENCES = 4  # reference photos per request; each adds its image tokens to the adapter's attention
DEFAULT_STRENGTH = 0.6  # the adapter's scale when a request gives references without a reference_strength
_CARD_LICENCE = re.compile(r"^license:\s*(\S+)", re.MULTILINE)


def split_spec(spec: str) -> tuple[str, str | None]:
    """(model spec, IP-Adapter weights or None) of a model spec."""
    model, mark, weights = spec.rpartition(ADAPTER_MARK)
    return (model, weights) if mark and model and weights else (spec, None)


def join_spec(model: str, weights: str) -> str:
    return f"{model}{ADAPTER_MARK}{weights}"


@dataclass(frozen=True)
class IPAdapterFiles:
    """An IP-Adapter's weights and its CLIP image encoder, found as h94/IP-Adapter lays them out."""

    weights: Path
    image_encoder: Path
    kind: str  # "IP-Adapter", "IP-Adapter Plus" (resampler: plus and plus-face) or "IP-Adapter Full"
    cross_attention_dim: int  # the UNet's cross-attention width it was made for (768 SD 1.x, 2048 SDXL)

    @classmethod
    def find(cls, weights: str | Path) -> IPAdapterFiles:
        """The adapter named by `weights`; ModelNotFound or UnsupportedModel with a fix when it is not usable."""
        path = Path(weights).expanduser()
        if not path.is_file():
            raise ModelNotFound(f"no IP-Adapter weights file {path.name}",
                                hint="give the path of an IP-Adapter .safetensors file, e.g. "
                                "IP-Adapter/models/ip-adapter_sd15.safetensors")
        if path.suffix.lower() != ".safetensors":
            raise UnsupportedModel(f"{path.name} is not a .safetensors file",
                                   hint="photogen does not load pickled .bin files; use the .safetensors weights")
        encoder = next((folder for folder in (path.parent / "image_encoder", path.parent.parent / "models" /
                                              "image_encoder") if (folder / "config.json").is_file()), None)
        if encoder is None:
            raise ModelNotFound(f"no CLIP image encoder for {path.name}",
                                hint="keep the adapter's image_encoder/ folder beside the weights file, as "
                                "h94/IP-Adapter lays it out (models/image_encoder for the ViT-H adapters)")
        shapes = _tensor_shapes(path)
        kind = _kind(shapes, path.name)
        key = next((name for name in shapes if name.startswith("ip_adapter.") and name.endswith("to_k_ip.weight")),
                   None)
        if key is None:
            raise UnsupportedModel(f"{path.name} holds no IP-Adapter attention weights",
                                   hint="use an IP-Adapter weights file (ip-adapter_*.safetensors)")
        return cls(path.resolve(), encoder.resolve(), kind, shapes[key][1])

    @property
    def licence(self) -> str | None:
        """The adapter's licence from a model card in its folder or the folder above (h94 keeps README.md at the
        top of the repository), where there is one."""
        for folder in (self.weights.parent, self.weights.parent.parent):
            card = folder / "README.md"
            if card.is_file():
                match = _CARD_LICENCE.search(card.read_text(errors="replace"))
                if match:
                    return match.group(1)
        return None

    def describe(self) -> dict[str, str | int | None]:
        """What an output's record says about the adapter (file name, not path)."""
        return {"weights": self.weights.name, "kind": self.kind, "licence": self.licence}


def adapter_capabilities(capabilities: Capabilities) -> Capabilities:
    """An SD model's capabilities once it has an IP-Adapter: reference photos and their strength."""
    return replace(capabilities, max_references=MAX_REFERENCES, reference_strength=True,
                   default_reference_strength=DEFAULT_STRENGTH)


def image_embed_shape(pipeline) -> tuple[int, ...] | None:
    """The shape of one reference photo's embedding as a loaded adapter's projection reads it: CLIP's image
    embedding (IP-Adapter) or the image encoder's hidden states (Plus, Full); None when the UNet has none."""
    projection = getattr(getattr(pipeline, "unet", None), "encoder_hid_proj", None)
    if type(projection).__name__ != "MultiIPAdapterImageProjection":
        return None
    config = pipeline.image_encoder.config
    if type(projection.image_projection_layers[0]).__name__ == "ImageProjection":
        return (config.projection_dim,)
    return ((config.image_size // config.patch_size) ** 2 + 1, config.hidden_size)


def _kind(shapes: dict[str, tuple[int, ...]], name: str) -> str:
    projection = {key.removeprefix("image_proj.") for key in shapes if key.startswith("image_proj.")}
    if "proj.weight" in projection:
        return "IP-Adapter"
    if "latents" in projection:
        return "IP-Adapter Plus"
    if "proj.3.weight" in projection:
        return "IP-Adapter Full"
    if projection:  # FaceID: its projections read insightface's face embedding, not CLIP's view of the photo
        raise UnsupportedModel(f"{name} is an IP-Adapter FaceID, which reads face embeddings photogen does not make",
                               hint="use IP-Adapter Plus Face (ip-adapter-plus-face_sd15.safetensors) for faces")
    raise UnsupportedModel(f"{name} holds no IP-Adapter image projection",
                           hint="use an IP-Adapter weights file (ip-adapter_*.safetensors)")


def _tensor_shapes(path: Path) -> dict[str, tuple[int, ...]]:
    """Tensor names and shapes from a .safetensors header, without loading it."""
    unreadable = UnsupportedModel(f"{path.name} is not a readable safetensors file",
                                  hint="the file may be incomplete; download it again")
    with path.open("rb") as handle:
        prefix = handle.read(8)
        if len(prefix) < 8:
            raise unreadable
        (length,) = struct.unpack("<Q", prefix)
        if not 2 <= length <= min(100_000_000, path.stat().st_size - 8):
            raise unreadable
        try:
            header = json.loads(handle.read(length))
            return {name: tuple(entry["shape"]) for name, entry in header.items() if name != "__metadata__"}
        except (UnicodeDecodeError, ValueError, TypeError, KeyError, AttributeError):
            raise unreadable from None
