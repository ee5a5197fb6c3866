"""Page routers, one per area of the app."""

from fastapi import APIRouter

from popweave.web.pages import admin, auth, dashboard, organisations, patients, worklist

router = APIRouter(include_in_schema=False)
for _m in (auth, worklist, patients, organisations, dashboard, admin):
    router.include_router(_m.router)

__all__ = ["router"]
