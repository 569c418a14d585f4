"""Assets: metadata, download, lineage."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.concurrency import run_in_threadpool

from photogen.api.deps import Caller, IdempotencyKey, Owner, container_of
from photogen.api.errors import ERROR_RESPONSES
from photogen.api.schemas import AssetDetail, DeletedOut, JobOut, Lineage, PrintAdviceIn, UpscaleIn
from photogen.api.shaping import asset_out, job_out, submitted_job, upload_out
from photogen.outputs import download_stem

router = APIRouter(prefix="/v1", responses=ERROR_RESPONSES)


# -- assets --------------------------------------------------------------------------------------

@router.get("/assets/{asset_id}", response_model=AssetDetail, summary="An asset's metadata and full record")
def get_asset(request: Request, owner: Owner, asset_id: str) -> AssetDetail:
    asset = container_of(request).assets.get(owner, asset_id)
    return AssetDetail(**asset_out(asset).model_dump(), record=asset.record)


@router.delete("/assets/{asset_id}", response_model=DeletedOut,
               summary="Delete one image and the upscales made from it (its job and the upload stay)")
def delete_asset(request: Request, owner: Owner, asset_id: str) -> DeletedOut:
    return DeletedOut(deleted=container_of(request).assets.delete_asset(owner, asset_id))


@router.delete("/jobs/{job_id}", response_model=DeletedOut,
               summary="Delete a job with its images and their upscales (a running job stops; the upload stays)")
def delete_job(request: Request, owner: Owner, job_id: str) -> DeletedOut:
    return DeletedOut(deleted=container_of(request).assets.delete_job(owner, job_id))


@router.get("/assets/{asset_id}/content", summary="Download the PNG (no EXIF or GPS; parameters embedded)",
            response_class=Response, responses={200: {"content": {"image/png": {}}, "description": "the PNG file"}})
async def get_asset_content(request: Request, caller: Caller, asset_id: str) -> Response:
    asset, data = await run_in_threadpool(lambda: container_of(request).assets.content(caller.owner(), asset_id))
    name = download_stem(asset.created_at, asset.job_id or asset.upload_id, asset.index, asset.seed, asset.kind) + ".png"
    return Response(data, media_type="image/png", headers={"Content-Disposition": f'attachment; filename="{name}"', "ETag": f'"{asset.sha256}"'})


@router.get("/assets/{asset_id}/lineage", response_model=Lineage,
            summary="Where an asset came from and what was made of it: upload, crop, job, outputs, upscales")
def get_lineage(request: Request, owner: Owner, asset_id: str) -> Lineage:
    found = container_of(request).assets.lineage(owner, asset_id)
    job = job_out(found.job, [a for a in [found.crop, *found.outputs] if a is not None]) if found.job else None
    return Lineage(
        upload=upload_out(found.upload), crop=asset_out(found.crop) if found.crop else None, job=job,
        outputs=[asset_out(a) for a in found.outputs], ancestors=[asset_out(a) for a in found.ancestors],
        upscales=[asset_out(a) for a in found.upscales], graph=found.graph(),
        references=found.references,
    )


@router.post("/assets/{asset_id}/upscale", status_code=202, response_model=JobOut,
             summary="Upscale pass: a separate, recorded job that enlarges an asset x2 or x4")
def upscale_asset(
    request: Request, owner: Owner, asset_id: str, body: UpscaleIn, response: Response,
    idempotency_key: IdempotencyKey = None,
) -> JobOut:
    jobs = container_of(request).jobs
    spec = body.model_dump()
    spec["print"] = body.print.model_dump() if body.print else None
    if body.model is not None:
        spec["model"] = container_of(request).catalogue.resolve(body.model)
    job, created = jobs.submit_upscale(owner, asset_id, spec, idempotency_key=idempotency_key)
    return submitted_job(response, created, job, jobs, owner)


@router.get("/assets/{asset_id}/credentials", summary="Read and validate the asset's Content Credentials (C2PA)")
def get_credentials(request: Request, owner: Owner, asset_id: str) -> dict[str, Any]:
    from dataclasses import asdict

    from photogen.provenance.credentials import development_trust_anchor, read_credentials

    container = container_of(request)
    _, data = container.assets.content(owner, asset_id)
    settings = container.settings
    anchor = None
    if settings.signing_cert is None and (settings.home / "credentials").is_dir():
        anchor = development_trust_anchor(settings.home / "credentials")
    return asdict(read_credentials(data, trust_anchor_pem=anchor))


@router.post("/print-advice", summary="What pixel size and upscale factor a print needs")
def print_advice(body: PrintAdviceIn) -> dict[str, Any]:
    from photogen.services.review import print_advice as advise

    return advise((body.width_px, body.height_px), body.print.model_dump(), body.factor)
