"""Outputs that explain themselves: PNG files carrying their parameters twice, plus a JSON sidecar.

Inside each PNG:
- a `photogen` text chunk: JSON with everything needed to make the image again;
- a `parameters` text chunk in the form other SD tools read (prompt, negative prompt, then one
  line of `Key: value` pairs).
The embedded data holds nothing that changes between two identical runs (no times, no job ids), so
the same request gives byte-identical PNG files. Times, the job id and the source's path go in the
sidecar `<name>.json`, which repeats the embedded record.
"""

from __future__ import annotations

import hashlib
import io
import json
import re
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from PIL import Image, PngImagePlugin

from photogen.domain.errors import MetadataMissing

SCHEMA = "photogen.output/1"
# zlib level 1: on generated 512x512 images a third of level 6's encode time (Pillow, one core) for files about
# 10% larger; the encode runs once per output on the worker, between the model and the job's end.
PNG_COMPRESS_LEVEL = 1


def pixel_sha256(image: Image.Image) -> str:
    """A hash of the decoded RGB pixels and size: equal for equal images whatever the file encoding."""
    rgb = image.convert("RGB")
    digest = hashlib.sha256(f"{rgb.width}x{rgb.height}:".encode())
    digest.update(rgb.tobytes())
    return digest.hexdigest()


def max_difference(a: Image.Image, b: Image.Image) -> int:
    """The largest difference of any channel of any pixel, in 8-bit levels (255 when sizes differ)."""
    import numpy as np

    if a.size != b.size:
        return 255
    left, right = np.asarray(a.convert("RGB"), np.int16), np.asarray(b.convert("RGB"), np.int16)
    return int(np.abs(left - right).max())


def parameters_text(record: dict[str, Any]) -> str:
    """The `parameters` text other SD tools write and read."""
    request = record["request"]
    width, height = record["size"]
    pairs = [
        ("Steps", request["steps"]),
        ("Sampler", record["sampler"]),
        ("CFG scale", request["guidance"]),
        ("Seed", record["seed"]),
        ("Size", f"{width}x{height}"),
        ("Model", record["model"]["id"]),
        ("Denoising strength", record["denoising_strength"]),
        ("Image strength", record["image_strength"]),
        ("Version", f"photogen {record['software']['photogen']}"),
    ]
    lines = [request["prompt"]]
    if request["negative_prompt"]:
        lines.append(f"Negative prompt: {request['negative_prompt']}")
    # edit models have no strength: what a model does not have is left out, not written as None
    lines.append(", ".join(f"{key}: {_quote(value)}" for key, value in pairs if value is not None))
    return "\n".join(lines)


def _quote(value: Any) -> str:
    text = str(value)
    return json.dumps(text) if ("," in text or ":" in text) and not text.startswith("photogen ") else text


_PAIR = re.compile(r'\s*([\w ]+):\s*("(?:\\.|[^\\"])*"|[^,]*)(?:,|$)')


def parse_parameters(text: str) -> dict[str, Any]:
    """Read a `parameters` text back: {'prompt', 'negative_prompt', and each Key: value as a string}."""
    lines = text.split("\n")
    settings_line = lines[-1] if len(lines) > 1 else ""
    body = lines[:-1] if settings_line else lines
    negative = [i for i, line in enumerate(body) if line.startswith("Negative prompt: ")]
    cut = negative[0] if negative else len(body)
    parsed: dict[str, Any] = {
        "prompt": "\n".join(body[:cut]),
        "negative_prompt": "\n".join(body[cut:]).removeprefix("Negative prompt: "),
    }
    for key, value in _PAIR.findall(settings_line):
        parsed[key.strip()] = json.loads(value) if value.startswith('"') else value.strip()
    return parsed


def encode_png(image: Image.Image, record: dict[str, Any]) -> bytes:
    info = PngImagePlugin.PngInfo()
    if "sampler" in record:  # generated images; grids and upscales carry only their own record
        info.add_text("parameters", parameters_text(record))
    info.add_text("photogen", json.dumps(record, sort_keys=True, ensure_ascii=False))
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", pnginfo=info, optimize=False, compress_level=PNG_COMPRESS_LEVEL)
    return buffer.getvalue()


def read_record(path: Path) -> dict[str, Any]:
    """The embedded `photogen` record of an output PNG."""
    try:
        with Image.open(path) as image:
            text = image.text.get("photogen") if hasattr(image, "text") else None
    except (OSError, ValueError) as exc:
        raise MetadataMissing(f"{path.name} could not be read as an image ({type(exc).__name__})") from None
    if not text:
        raise MetadataMissing(
            f"{path.name} carries no photogen record",
            hint="replay works on PNG files written by photogen, with their text chunks intact",
        )
    record = json.loads(text)
    if record.get("schema") != SCHEMA:
        raise MetadataMissing(f"{path.name} has an unknown record schema {record.get('schema')!r}")
    return record


def download_stem(created: datetime, job_id: str, index: int, seed: int | None = None, kind: str = "output") -> str:
    """The one name scheme for every image photogen hands out: files the CLI writes, API downloads
    (Content-Disposition) and the entries of an export zip. DATE-TIME (UTC) _ JOB (8 hex) _ INDEX [_sSEED]
    [_KIND], so names sort by time and say which job, image and seed they are:
    20261126-101500_3f2a9c1e_00_s1234 (an output), 20261126-101501_5b0c2d9e_00_upscale, ..._00_crop."""
    if created.tzinfo is not None:
        created = created.astimezone(timezone.utc)
    stem = f"{created:%Y%m%d-%H%M%S}_{job_id[:8]}_{index:02d}"
    if seed is not None:
        stem += f"_s{seed}"
    if kind != "output":
        stem += f"_{kind}"
    return stem


def output_stem(created: datetime, job_id: str, index: int, seed: int) -> str:
    """An output's name in the one scheme (download_stem): 20261126-101500_3f2a9c1e_00_s1234."""
    return download_stem(created, job_id, index, seed)


@dataclass(frozen=True)
class WrittenOutput:
    png: Path
    sidecar: Path
    record: dict[str, Any]


def write_output(
    out_dir: Path, stem: str, image: Image.Image, record: dict[str, Any], extra: dict[str, Any]
) -> WrittenOutput:
    """Write `<stem>.png` and `<stem>.json`; the sidecar is the record plus `extra` and the file hash.

    Each file is written under a temporary name and renamed into place, so a crash leaves no
    half-written output behind.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    data = encode_png(image, record)
    png = out_dir / f"{stem}.png"
    sidecar = out_dir / f"{stem}.json"
    sidecar_data = {**record, **extra, "file": {"name": png.name, "sha256": hashlib.sha256(data).hexdigest()}}
    _atomic_write(png, data)
    _atomic_write(sidecar, json.dumps(sidecar_data, indent=2, sort_keys=True, ensure_ascii=False).encode())
    return WrittenOutput(png, sidecar, record)


def _atomic_write(path: Path, data: bytes) -> None:
    partial = path.with_name(f".{path.name}.partial")
    partial.write_bytes(data)
    partial.replace(path)
