"""The /v1 REST endpoints, one module per area. Blocking work runs in FastAPI's thread pool (plain `def` routes)."""

from fastapi import APIRouter

from photogen.api import routes_assets, routes_jobs, routes_me, routes_models, routes_recipes, routes_uploads

router = APIRouter()
for module in (routes_uploads, routes_jobs, routes_assets, routes_recipes, routes_me, routes_models):
    router.include_router(module.router)
