"""The REST endpoints, one module per area: /v1, and the compatibility paths (the how-to's /v1/image-to-image,
OpenAI's /v1/images/edits, AUTOMATIC1111's /sdapi/v1). Blocking work runs in FastAPI's thread pool (plain `def`
routes, or run_in_threadpool in the `async def` routes that wait for a job).

Route modules import the shared pieces in photogen.api (deps, schemas, compat_schemas, shaping, sources, results),
never each other."""

from fastapi import APIRouter

# Each submodule by its own name, so the package never imports itself.
import photogen.api.routes.assets as assets
import photogen.api.routes.avatars as avatars
import photogen.api.routes.health as health
import photogen.api.routes.identities as identities
import photogen.api.routes.image_to_image as image_to_image
import photogen.api.routes.jobs as jobs
import photogen.api.routes.me as me
import photogen.api.routes.metrics as metrics
import photogen.api.routes.models as models
import photogen.api.routes.openai_images as openai_images
import photogen.api.routes.recipes as recipes
import photogen.api.routes.restorations as restorations
import photogen.api.routes.sdapi as sdapi
import photogen.api.routes.uploads as uploads

router = APIRouter()
for module in (health, uploads, identities, avatars, jobs, assets, recipes, me, models, metrics, image_to_image,
               openai_images, sdapi, restorations):
    router.include_router(module.router)
