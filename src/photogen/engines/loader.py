"""Turn a model name into a loaded generator: a tiny model, a hub id, a diffusers folder or a single file, each
optionally with an IP-Adapter (`MODEL+ip-adapter=WEIGHTS`, see photogen.engines.ip_adapter)."""

from __future__ import annotations

import contextlib
import hashlib
import json
import re
from dataclasses import dataclass, replace
from pathlib import Path

from photogen.config import Settings
from photogen.domain.errors import ModelNotFound, PhotogenError, UnsupportedModel
from photogen.domain.licences import CommercialTerms, commercial_terms, with_adapter
from photogen.engines.base import Capabilities, Generator, ModelFamily, ModelInfo, img2img_capabilities
from photogen.engines.families import family_for_checkpoint, family_for_folder, family_named
from photogen.engines.ip_adapter import ADAPTER_MARK, IPAdapterFiles, adapter_capabilities, split_spec
from photogen.engines.tiny import (
    TINY_MARKER,
    TINY_NAMES,
    TINY_NATIVE_SIDE,
    ensure_tiny_model,
    tiny_config_folder,
    tiny_description,
)

_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")


@dataclass(frozen=True)
class ModelLocation:
    """Where a model's files are once resolved; `id` is what outputs record."""

    id: str
    source: str  # "tiny", "hub", "folder" or "single_file"
    path: Path
    revision: str | None = None


@dataclass(frozen=True)
class ModelFacts:
    """What a model is, read from its configs without loading its weights."""

    source: str  # "tiny", "hub", "folder" or "single_file"
    available: bool  # its files are here (a hub model: in the local cache)
    family: str | None = None
    licence: str | None = None
    native_side: int | None = None
    random_weights: bool = False
    capabilities: Capabilities | None = None  # what requests for it may use; None when its configs cannot be read
    ip_adapter: str | None = None  # the kind of IP-Adapter it runs with ("IP-Adapter", "IP-Adapter Plus", ...)
    ip_adapter_licence: str | None = None  # the adapter's licence, where a model card beside it says

    @property
    def commercial_use(self) -> CommercialTerms:
        terms = commercial_terms(self.licence)
        return terms if self.ip_adapter is None else with_adapter(terms, self.ip_adapter, self.ip_adapter_licence)


def is_hub_id(spec: str) -> bool:
    """Whether `spec` reads as a hub id (owner/name) rather than a local path that exists."""
    spec = split_spec(spec)[0]
    return bool(_HUB_ID.match(spec)) and not spec.endswith(".safetensors") and not Path(spec).expanduser().exists()


def cache_key(spec: str) -> str:
    """Names that mean the same model share one cache entry (paths are made absolute)."""
    spec, adapter = split_spec(spec)
    if adapter is not None:
        return f"{cache_key(spec)}{ADAPTER_MARK}{Path(adapter).expanduser().resolve()}"
    if spec in TINY_NAMES or _HUB_ID.match(spec) and not Path(spec).exists():
        return spec
    return str(Path(spec).expanduser().resolve())


def locate(spec: str, settings: Settings) -> ModelLocation:
    if spec in TINY_NAMES:
        with quiet_progress():
            return ModelLocation(spec, "tiny", ensure_tiny_model(settings.models_dir, spec))
    path = Path(spec).expanduser()
    if path.is_dir():
        if not (path / "model_index.json").is_file():
            raise ModelNotFound(
                f"{path} is a folder but not a diffusers model (no model_index.json)",
                hint="point at the folder that holds model_index.json, or at a .safetensors file",
            )
        return ModelLocation(path.resolve().name, "folder", path.resolve())
    if path.is_file():
        if path.suffix.lower() != ".safetensors":
            raise UnsupportedModel(
                f"{path.name} is not a .safetensors file",
                hint="photogen does not load pickled .ckpt/.pt files; convert them to .safetensors first",
            )
        return ModelLocation(path.name, "single_file", path.resolve(), revision=_file_digest(path))
    if _HUB_ID.match(spec) and not spec.endswith(".safetensors"):
        folder = _download(spec, settings)
        return ModelLocation(spec, "hub", folder, revision=folder.name)
    raise ModelNotFound(
        f"no model {spec!r}: not a tiny model ({', '.join(TINY_NAMES)}), not an existing folder or .safetensors "
        "file, not a hub id",
        hint="check the path, or name a hub model as owner/name",
    )


@contextlib.contextmanager
def quiet_progress():
    """No progress bars while reading local files (they flash by); downloads keep theirs."""
    import diffusers
    import transformers
    from huggingface_hub.utils import are_progress_bars_disabled

    hub_bars_were_off = are_progress_bars_disabled()
    diffusers.utils.logging.disable_progress_bar()
    transformers.utils.logging.disable_progress_bar()
    try:
        yield
    finally:
        diffusers.utils.logging.enable_progress_bar()
        if not hub_bars_were_off:
            transformers.utils.logging.enable_progress_bar()


def load_generator(spec: str, settings: Settings) -> Generator:
    """Load the model `spec` names, on the configured device and precision."""
    spec, adapter = split_spec(spec)
    files = IPAdapterFiles.find(adapter) if adapter is not None else None  # before the model: a quick refusal
    location = locate(spec, settings)
    with quiet_progress():
        return _load_located(location, settings, files)


def _load_located(location: ModelLocation, settings: Settings, adapter: IPAdapterFiles | None = None) -> Generator:
    device, dtype = settings.resolved_device(), settings.resolved_dtype()
    extra = {} if adapter is None else {"ip_adapter": adapter}
    if location.source == "single_file":
        from photogen.engines.single_file import read_header

        header = read_header(location.path)  # names and shapes only; refuses damaged files
        family = family_for_checkpoint(header.shapes)
        info = _info(location, _takes_adapter(family, adapter), adapter)
        cache_dir = settings.home / "cache" / "single-file-configs"
        return family.load_single_file(
            location.path, info, device=device, dtype=dtype, cache_dir=cache_dir, options=settings, **extra
        )
    model_index = json.loads((location.path / "model_index.json").read_text())
    family = family_for_folder(model_index, location.path)
    info = _info(location, _takes_adapter(family, adapter), adapter)
    return family.load_folder(location.path, info, device=device, dtype=dtype, options=settings, **extra)


def _takes_adapter(family: ModelFamily, adapter: IPAdapterFiles | None) -> str:
    """The family's name, once it is known to take the adapter asked for."""
    if adapter is not None and not getattr(family, "takes_ip_adapter", False):
        raise UnsupportedModel(f"an IP-Adapter works with Stable Diffusion models, not with a {family.name} model",
                               hint="drop the +ip-adapter= part; edit models take references by themselves")
    return family.name


def _info(location: ModelLocation, family: str, adapter: IPAdapterFiles | None = None) -> ModelInfo:
    marker = location.path / TINY_MARKER if location.path.is_dir() else None
    if marker is not None and marker.is_file():
        described = json.loads(marker.read_text())
        info = ModelInfo(
            id=location.id,
            family=family,
            source=location.source,
            revision=f"tiny-v{described['version']}",
            licence=described.get("licence"),
            random_weights=bool(described.get("random_weights")),
            commercial_use=commercial_terms(described.get("licence")),
        )
    else:
        licence = _licence(location.path)
        info = ModelInfo(
            id=location.id,
            family=family,
            source=location.source,
            revision=location.revision,
            licence=licence,
            commercial_use=commercial_terms(licence),
        )
    if adapter is None:
        return info
    return replace(info, id=f"{info.id}{ADAPTER_MARK}{adapter.weights.name}",
                   commercial_use=with_adapter(info.commercial_use, adapter.kind, adapter.licence))


def _licence(path: Path) -> str | None:
    """The licence of a model card's front matter, where the folder has one: its `license:` tag, or its
    `license_name:` when the tag is `other` (as FLUX.1 [dev] and other custom licences are tagged)."""
    card = path / "README.md" if path.is_dir() else None
    if card is None or not card.is_file():
        return None
    text = card.read_text(errors="replace")
    match = re.search(r"^license:\s*(\S+)", text, re.MULTILINE)
    named = re.search(r"^license_name:\s*(\S+)", text, re.MULTILINE)
    if match and match.group(1).lower() == "other" and named:
        return named.group(1)
    return match.group(1) if match else None


def _file_digest(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 22), b""):
            digest.update(chunk)
    return f"sha256:{digest.hexdigest()}"


def _download(repo_id: str, settings: Settings) -> Path:
    """Fetch a diffusers repository once into the usual hub cache, with a progress bar."""
    from diffusers import DiffusionPipeline

    try:
        return Path(DiffusionPipeline.download(repo_id, local_files_only=settings.offline,
                                               cache_dir=settings.hub_cache))
    except Exception as exc:  # hub client errors have many types: network, auth, not found
        where = "in the local cache" if settings.offline else "on the hub or in the local cache"
        raise ModelNotFound(
            f"model {repo_id!r} was not found {where} ({type(exc).__name__})",
            hint="check the id and your network, or pass a local folder or .safetensors file",
        ) from None


def inspect_model(spec: str, settings: Settings) -> ModelFacts:
    """Family, licence, native size and capabilities of the model `spec` names, from its configs alone: no
    weights are loaded and nothing is downloaded (a hub model not yet in the local cache is reported
    unavailable). A tiny model not built yet is described from the configs it will be built from."""
    spec, adapter = split_spec(spec)
    if adapter is not None:
        return _with_adapter_facts(inspect_model(spec, settings), adapter)
    if spec in TINY_NAMES:
        folder = settings.models_dir / spec
        if (folder / TINY_MARKER).is_file():
            return _folder_facts(ModelLocation(spec, "tiny", folder))
        described = tiny_description(spec)
        if spec == "tiny":
            side, capabilities = TINY_NATIVE_SIDE, img2img_capabilities(TINY_NATIVE_SIDE**2)
        else:
            capabilities = family_named(described["family"]).capabilities_of(tiny_config_folder(spec))
            side = round(capabilities.native_pixels**0.5)
        return ModelFacts("tiny", True, family=described["family"], licence=described["licence"],
                          native_side=side, random_weights=True, capabilities=capabilities)
    path = Path(spec).expanduser()
    if path.is_dir():
        return _folder_facts(ModelLocation(path.name, "folder", path))
    if path.is_file():
        return _single_file_facts(path, settings)
    if is_hub_id(spec):
        from huggingface_hub import snapshot_download

        try:
            with quiet_progress():
                folder = Path(snapshot_download(spec, local_files_only=True, cache_dir=settings.hub_cache))
        except (OSError, ValueError):  # not in the local cache, or not a valid id
            return ModelFacts("hub", False)
        return _folder_facts(ModelLocation(spec, "hub", folder))
    return ModelFacts("single_file" if path.suffix.lower() == ".safetensors" else "folder", False)


def _with_adapter_facts(facts: ModelFacts, adapter: str) -> ModelFacts:
    """A model's facts once an IP-Adapter is added: references and their strength, where the family takes it
    and its files are there (else the model is unavailable: it would fail to load)."""
    try:
        files = IPAdapterFiles.find(adapter)
    except PhotogenError:
        return replace(facts, available=False, capabilities=None, ip_adapter="IP-Adapter")
    takes = facts.family is not None and getattr(family_named(facts.family), "takes_ip_adapter", False)
    capabilities = adapter_capabilities(facts.capabilities) if takes and facts.capabilities else None
    return replace(facts, available=facts.available and takes, capabilities=capabilities, ip_adapter=files.kind,
                   ip_adapter_licence=files.licence)


def _folder_facts(location: ModelLocation) -> ModelFacts:
    try:
        model_index = json.loads((location.path / "model_index.json").read_text())
        family = family_for_folder(model_index, location.path)
        capabilities = family.capabilities_of(location.path)
    except (OSError, ValueError, KeyError, PhotogenError):
        return ModelFacts(location.source, False)
    info = _info(location, family.name)
    side = round(capabilities.native_pixels**0.5)
    return ModelFacts(location.source, True, family=family.name, licence=info.licence, native_side=side,
                      random_weights=info.random_weights, capabilities=capabilities)


def _single_file_facts(path: Path, settings: Settings) -> ModelFacts:
    from photogen.engines.single_file import config_folder_for, read_header

    try:
        family = family_for_checkpoint(read_header(path).shapes).name
        configs = config_folder_for(path, cache_dir=settings.home / "cache" / "single-file-configs")
    except (OSError, ValueError, PhotogenError):
        return ModelFacts("single_file", False)
    facts = _folder_facts(ModelLocation(path.name, "single_file", configs))
    return ModelFacts("single_file", facts.available, family=family,
                      native_side=facts.native_side, capabilities=facts.capabilities)
