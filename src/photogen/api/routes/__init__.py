"""The /v1 REST endpoints, one module per area. Blocking work runs in FastAPI's thread pool (plain `def` routes).

Route modules import the shared pieces in photogen.api (deps, schemas, shaping, sources), never each other."""

from fastapi import APIRouter

from photogen.api.routes import assets, health, jobs, me, metrics, models, recipes, uploads

router = APIRouter()
for module in (health, uploads, jobs, assets, recipes, me, models, metrics):
    router.include_router(module.router)
