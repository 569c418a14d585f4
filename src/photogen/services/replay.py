"""Replay: make an output again from the record embedded in its PNG and compare pixel hashes."""

from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from PIL import Image

from photogen.config import Settings
from photogen.domain.errors import SourceNotFound
from photogen.domain.params import GenerationRequest
from photogen.engines.cache import ModelCache
from photogen.engines.loader import load_generator
from photogen.outputs import max_difference, pixel_sha256, read_record
from photogen.runner.records import software_versions
from photogen.runner.replay import verdict_for
from photogen.services.generation import GenerationService, Source


@dataclass(frozen=True)
class ReplayVerdict:
    identical: bool
    expected: str
    actual: str
    max_difference: int
    replayed: Path | None
    notes: list[str] = field(default_factory=list)

    @property
    def verdict(self) -> str:
        """identical, close or different: the words the server's replay comparison uses."""
        return verdict_for(self.max_difference)


def find_source(output: Path, record: dict, given: Path | None, settings: Settings) -> Source:
    """The recorded source, found where it was given, recorded or beside the output; its hash must match."""
    candidates = [given] if given else []
    sidecar = output.with_suffix(".json")
    if not given and sidecar.is_file():
        recorded = json.loads(sidecar.read_text()).get("source_path")
        if recorded:
            candidates.append(Path(recorded))
    if not given:
        candidates.append(output.parent / record["source"]["name"])
    for candidate in candidates:
        if candidate.is_file():
            source = Source.from_path(candidate, settings)
            if source.decoded.sha256 != record["source"]["sha256"]:
                raise SourceNotFound(
                    f"{candidate} is not the recorded source (its sha256 differs)",
                    hint=f"pass --source with the original {record['source']['name']}",
                )
            return source
    raise SourceNotFound(
        f"the source {record['source']['name']} was not found", hint="pass --source PATH to the original photo"
    )


def replay_output(settings: Settings, output: Path, *, source: Path | None = None, out_dir: Path | None = None) -> ReplayVerdict:
    record = read_record(output)
    src = find_source(output, record, source, settings)
    # The whole original request runs again, so image k is made in the same batch as before.
    request = GenerationRequest.parse(record["request"])
    service = GenerationService(settings, ModelCache(lambda spec: load_generator(spec, settings)))
    with tempfile.TemporaryDirectory() as scratch:
        result = service.generate(src, request, out_dir or Path(scratch))
        replayed = result.outputs[record["index"]]
        with Image.open(output) as recorded_image, Image.open(replayed.png) as new_image:
            expected = pixel_sha256(recorded_image)
            actual = pixel_sha256(new_image)
            difference = max_difference(recorded_image, new_image)
    notes = _environment_notes(record, replayed.record)
    if expected != record["pixel_sha256"]:
        notes.insert(0, "the file's pixels no longer match the hash in its record: it was edited after photogen wrote it")
    return ReplayVerdict(
        identical=actual == expected,
        expected=expected,
        actual=actual,
        max_difference=difference,
        replayed=replayed.png if out_dir else None,
        notes=notes,
    )


def _environment_notes(recorded: dict, replayed: dict) -> list[str]:
    """What changed between the two runs that could explain a difference."""
    notes = []
    now = software_versions()
    for name, version in recorded["software"].items():
        if now.get(name) != version:
            notes.append(f"{name} was {version}, now {now.get(name)}")
    if recorded["model"].get("revision") != replayed["model"].get("revision"):
        notes.append(f"model revision was {recorded['model'].get('revision')}, now {replayed['model'].get('revision')}")
    if not notes:
        notes.append("same software and model revision; a different device or thread count can change low bits")
    return notes
