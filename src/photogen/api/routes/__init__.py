"""The /v1 REST endpoints, one module per area. Blocking work runs in FastAPI's thread pool (plain `def` routes).

Route modules import the shared pieces in photogen.api (deps, schemas, shaping, sources), never each other."""

from fastapi import APIRouter

# Each submodule by its own name, so the package never imports itself.
import photogen.api.routes.assets as assets
import photogen.api.routes.health as health
import photogen.api.routes.identities as identities
import photogen.api.routes.jobs as jobs
import photogen.api.routes.me as me
import photogen.api.routes.metrics as metrics
import photogen.api.routes.models as models
import photogen.api.routes.recipes as recipes
import photogen.api.routes.uploads as uploads

router = APIRouter()
for module in (health, uploads, identities, jobs, assets, recipes, me, models, metrics):
    router.include_router(module.router)
