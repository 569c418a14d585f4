"""Assets: metadata, download, lineage."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from photogen.api.app import Owner, container_of
from photogen.api.errors import ERROR_RESPONSES
from photogen.api.schemas import (
    AssetDetail,
    Lineage,
)
from photogen.api.shaping import asset_out, job_out, upload_out
from photogen.services.uploads import NotFound
from photogen.store.tables import Asset

router = APIRouter(prefix="/v1", responses=ERROR_RESPONSES)


# -- assets --------------------------------------------------------------------------------------

def _asset(request: Request, owner: str, asset_id: str) -> Asset:
    with container_of(request).db.session() as session:
        row = session.get(Asset, asset_id)
    if row is None or row.owner != owner:
        raise NotFound(f"no asset {asset_id}", hint="asset ids are listed on their job")
    return row


@router.get("/assets/{asset_id}", response_model=AssetDetail, summary="An asset's metadata and full record")
def get_asset(request: Request, owner: Owner, asset_id: str) -> AssetDetail:
    row = _asset(request, owner, asset_id)
    return AssetDetail(**asset_out(row).model_dump(), record=row.record)


@router.get("/assets/{asset_id}/content", summary="Download the PNG (no EXIF or GPS; parameters embedded)",
            response_class=Response, responses={200: {"content": {"image/png": {}}, "description": "the PNG file"}})
def get_asset_content(request: Request, owner: Owner, asset_id: str) -> Response:
    row = _asset(request, owner, asset_id)
    data = container_of(request).blobs.get(row.blob_key)
    name = f"{row.job_id[:8] if row.job_id else row.upload_id[:8]}_{row.kind}_{row.index:02d}.png"
    return Response(data, media_type="image/png", headers={"Content-Disposition": f'attachment; filename="{name}"', "ETag": f'"{row.sha256}"'})


@router.get("/assets/{asset_id}/lineage", response_model=Lineage, summary="Upload, crop, job and outputs of an asset")
def get_lineage(request: Request, owner: Owner, asset_id: str) -> Lineage:
    container = container_of(request)
    row = _asset(request, owner, asset_id)
    upload = container.uploads.get(owner, row.upload_id)
    job = container.jobs.get(owner, row.job_id) if row.job_id else None
    assets = container.jobs.assets(owner, job.id) if job else []
    crop = next((a for a in assets if a.kind == "crop"), None)
    return Lineage(
        upload=upload_out(upload), crop=asset_out(crop) if crop else None, job=job_out(job, assets) if job else None,
        outputs=[asset_out(a) for a in assets if a.kind == "output"],
    )
