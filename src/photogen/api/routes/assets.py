"""Assets: metadata, download, lineage."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response

from photogen.api.deps import IdempotencyKey, Owner, container_of
from photogen.api.errors import ERROR_RESPONSES
from photogen.api.schemas import AssetDetail, JobOut, Lineage, PrintAdviceIn, UpscaleIn
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


@router.get("/assets/{asset_id}/lineage", response_model=Lineage,
            summary="Where an asset came from and what was made of it: upload, crop, job, outputs, upscales")
def get_lineage(request: Request, owner: Owner, asset_id: str) -> Lineage:
    from photogen.services.lineage import lineage

    container = container_of(request)
    rows = lineage(container.db, owner, asset_id)
    job = job_out(rows.job, [a for a in [rows.crop, *rows.outputs] if a is not None]) if rows.job else None
    return Lineage(
        upload=upload_out(rows.upload), crop=asset_out(rows.crop) if rows.crop else None, job=job,
        outputs=[asset_out(a) for a in rows.outputs], ancestors=[asset_out(a) for a in rows.ancestors],
        upscales=[asset_out(a) for a in rows.upscales], graph=rows.graph(),
    )


@router.post("/assets/{asset_id}/upscale", status_code=202, response_model=JobOut,
             summary="Upscale pass: a separate, recorded job that enlarges an asset x2 or x4")
def upscale_asset(
    request: Request, owner: Owner, asset_id: str, body: UpscaleIn,
    idempotency_key: IdempotencyKey = None,
) -> JobOut:
    spec = body.model_dump()
    spec["print"] = body.print.model_dump() if body.print else None
    if body.model is not None:
        spec["model"] = container_of(request).catalogue.resolve(body.model)
    job, _created = container_of(request).jobs.submit_upscale(owner, asset_id, spec, idempotency_key=idempotency_key)
    return job_out(job, [])


@router.get("/assets/{asset_id}/credentials", summary="Read and validate the asset's Content Credentials (C2PA)")
def get_credentials(request: Request, owner: Owner, asset_id: str) -> dict[str, Any]:
    from dataclasses import asdict

    from photogen.provenance.credentials import development_trust_anchor, read_credentials

    container = container_of(request)
    row = _asset(request, owner, asset_id)
    settings = container.settings
    anchor = None
    if settings.signing_cert is None and (settings.home / "credentials").is_dir():
        anchor = development_trust_anchor(settings.home / "credentials")
    return asdict(read_credentials(container.blobs.get(row.blob_key), trust_anchor_pem=anchor))


@router.post("/print-advice", summary="What pixel size and upscale factor a print needs")
def print_advice(body: PrintAdviceIn) -> dict[str, Any]:
    from photogen.services.review import print_advice as advise

    return advise((body.width_px, body.height_px), body.print.model_dump(), body.factor)
