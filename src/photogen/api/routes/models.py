"""Models: the server's catalogue, the only models requests may name."""

from __future__ import annotations

from fastapi import APIRouter, Request

from photogen.api.deps import Owner, container_of
from photogen.api.errors import ERROR_RESPONSES
from photogen.api.schemas import CommercialUseOut, ModelCapabilities, ModelOut
from photogen.services.catalogue import ModelDescription

router = APIRouter(prefix="/v1", responses=ERROR_RESPONSES)


@router.get("/models", response_model=list[ModelOut],
            summary="Models this server offers, with what requests for each may use (read from configs, not loaded)")
def list_models(request: Request, _owner: Owner) -> list[ModelOut]:
    return [
        ModelOut(
            id=m.id, default=m.default, source=m.source, available=m.available, family=m.family, licence=m.licence,
            random_weights=m.random_weights, capabilities=_capabilities(m),
            commercial_use=CommercialUseOut(**m.commercial_use.as_dict()),
        )
        for m in container_of(request).catalogue.describe()
    ]


def _capabilities(model: ModelDescription) -> ModelCapabilities:
    """What requests may use; a model whose configs cannot be read offers nothing until they can."""
    native = list(model.native_size) if model.native_size else None
    caps = model.capabilities
    if caps is None:
        return ModelCapabilities(image_strength=False, negative_prompt=False, schedulers=[], native_size=native)
    return ModelCapabilities(
        image_strength=caps.image_strength, negative_prompt=caps.negative_prompt, schedulers=list(caps.schedulers),
        native_size=native, size_multiple=caps.size_multiple, max_references=caps.max_references,
        reference_strength=caps.reference_strength, default_reference_strength=caps.default_reference_strength,
        guidance=caps.guidance, prompt_kind=caps.prompt_kind,
        default_guidance=caps.default_guidance, default_steps=caps.default_steps, min_steps=caps.min_steps,
        max_angle=caps.max_angle,
    )
