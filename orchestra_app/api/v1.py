"""REST API v1 (Starlette), mounted into the Reflex app through api_transformer."""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from orchestra_app.db.engine import get_engine
from orchestra_app.services.health import check_health
from orchestra_app.settings import get_settings


async def health(_request: Request) -> JSONResponse:
    body = check_health(engine=get_engine(), settings=get_settings())
    return JSONResponse(body, status_code=200 if body["status"] == "ok" else 503)


def create_api() -> Starlette:
    return Starlette(routes=[Route("/api/v1/health", health, methods=["GET"])])
