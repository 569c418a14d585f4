"""Models: the server's catalogue, the only models requests may name."""

from __future__ import annotations

from fastapi import APIRouter, Request

from photogen.api.deps import Owner, container_of
from photogen.api.errors import ERROR_RESPONSES
from photogen.api.schemas import ModelCapabilities, ModelOut

router = APIRouter(prefix="/v1", responses=ERROR_RESPONSES)


@router.get("/models", response_model=list[ModelOut],
            summary="Models this server offers, with what requests for each may use (read from configs, not loaded)")
def list_models(request: Request, _owner: Owner) -> list[ModelOut]:
    return [
        ModelOut(
            id=m.id, default=m.default, source=m.source, available=m.available, family=m.family, licence=m.licence,
            random_weights=m.random_weights,
            capabilities=ModelCapabilities(image_strength=m.image_strength, negative_prompt=m.negative_prompt,
                                           schedulers=list(m.schedulers),
                                           native_size=list(m.native_size) if m.native_size else None),
        )
        for m in container_of(request).catalogue.describe()
    ]
