"""The server's model catalogue: the only models API requests may name, and how the server loads them.

The operator configures it (`PHOTOGEN_MODELS`, ids to hub ids, folders or .safetensors files); `tiny`
and the default model are always in it. Requests carry catalogue ids, never paths: the worker turns
an id into its spec here, so nothing a client sends reaches the filesystem or the hub, and load
errors reach clients without the server's paths.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path

from photogen.config import Settings
from photogen.domain.errors import PhotogenError
from photogen.domain.licences import CommercialTerms
from photogen.domain.params import GenerationRequest
from photogen.engines.base import Capabilities, Generator
from photogen.engines.controls import check_controls, fit_request
from photogen.engines.loader import inspect_model, is_hub_id, load_generator

log = logging.getLogger("photogen.models")


class ModelNotAllowed(PhotogenError):
    code = "model_not_allowed"


@dataclass(frozen=True)
class ModelDescription:
    """A catalogue entry as clients may see it: no path, no hub cache location."""

    id: str
    default: bool
    source: str
    available: bool
    family: str | None
    licence: str | None
    random_weights: bool
    native_size: tuple[int, int] | None
    capabilities: Capabilities | None  # None when its configs cannot be read (not downloaded, damaged)
    commercial_use: CommercialTerms  # the licence's terms for paid and client work, in plain words


class ModelCatalogue:
    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._specs: dict[str, str] = {"tiny": "tiny", **settings.models}
        self.default_id = _default_id(settings.default_model, self._specs)
        self._specs.setdefault(self.default_id, settings.default_model)
        self._default_spec = settings.default_model
        self._capabilities: dict[str, Capabilities] = {}  # read once per model, from its configs
        self._capabilities_lock = threading.Lock()

    def ids(self) -> list[str]:
        return sorted(self._specs)

    def resolve(self, name: str | None) -> str:
        """The catalogue id a request's `model` stands for (None: the default), or ModelNotAllowed."""
        if name is None or name == self._default_spec:
            return self.default_id
        if name in self._specs:
            return name
        raise ModelNotAllowed(
            "this server does not offer that model",
            hint=f"name one of: {', '.join(self.ids())} (GET /v1/models describes them)",
        )

    def check(self, model_id: str) -> None:
        """`model_id` is an id of this catalogue (stored requests carry ids, never aliases or paths)."""
        if model_id not in self._specs:
            raise ModelNotAllowed(
                "this server does not offer that model",
                hint=f"name one of: {', '.join(self.ids())} (GET /v1/models describes them)",
            )

    def load(self, model_id: str) -> Generator:
        """Load a catalogue model for the worker; errors name the id, never the files behind it."""
        spec = self._specs.get(model_id)
        if spec is None:
            raise ModelNotAllowed(f"model {model_id!r} is not in this server's catalogue",
                                  hint=f"name one of: {', '.join(self.ids())}")
        try:
            return load_generator(spec, self._settings)
        except PhotogenError as exc:
            log.error("model %s could not be loaded: %s", model_id, exc)
            raise PhotogenError(f"model {model_id!r} could not be loaded ({exc.code})", code=exc.code,
                                hint="the server's log has the cause; tell the operator") from None
        except Exception:  # library errors carry file names and paths; the log keeps them
            log.exception("model %s could not be loaded", model_id)
            raise PhotogenError(f"model {model_id!r} could not be loaded", code="model_load_failed",
                                hint="the server's log has the cause; tell the operator") from None

    def describe(self) -> list[ModelDescription]:
        """Every model in the catalogue, read from its configs: no weights are loaded, nothing downloaded."""
        described = []
        for model_id in self.ids():
            facts = inspect_model(self._specs[model_id], self._settings)
            side = facts.native_side
            described.append(ModelDescription(
                id=model_id, default=model_id == self.default_id, source=facts.source, available=facts.available,
                family=facts.family, licence=facts.licence, random_weights=facts.random_weights,
                native_size=(side, side) if side else None, capabilities=facts.capabilities,
                commercial_use=facts.commercial_use,
            ))
        return described

    def capabilities(self, model_id: str) -> Capabilities | None:
        """What requests for a catalogue model may use, from its configs (read once); None while they cannot be
        read (a hub model not downloaded yet): the worker then checks the request on the loaded model."""
        with self._capabilities_lock:
            known = self._capabilities.get(model_id)
        if known is not None or model_id not in self._specs:
            return known
        capabilities = inspect_model(self._specs[model_id], self._settings).capabilities
        if capabilities is not None:
            with self._capabilities_lock:
                self._capabilities[model_id] = capabilities
        return capabilities

    def fit(self, request: GenerationRequest, given: Collection[str]) -> GenerationRequest:
        """A new request made to fit its model: the controls the caller set (`given`) are checked, the rest
        follow the model (photogen.engines.controls.fit_request). Raises UnsupportedControl (422)."""
        capabilities = self.capabilities(request.model)
        return request if capabilities is None else fit_request(request, given, capabilities, request.model)

    def check_controls(self, request: GenerationRequest) -> None:
        """Refuse a request (a variation, a replay, a sweep's variant) that uses a control its model lacks."""
        capabilities = self.capabilities(request.model)
        if capabilities is not None:
            check_controls(request, capabilities, request.model)


def _default_id(spec: str, specs: dict[str, str]) -> str:
    """The id the default model is offered under: its own name, or its file name when it is a path."""
    if spec in specs:
        return spec
    for model_id, configured in specs.items():
        if configured == spec:
            return model_id
    if spec == "tiny" or is_hub_id(spec):
        return spec
    name = Path(spec).expanduser().name or "default"
    return name if name not in specs else "default"
