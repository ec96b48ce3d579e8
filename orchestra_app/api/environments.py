"""REST routes for environments and connection profiles (mounted by api/v1.py, api/common.py conventions).

    GET    /api/v1/environments                  list by name: q (part of the name), limit, offset
    POST   /api/v1/environments                  create from JSON -> 201
    POST   /api/v1/environments/import           an environment file (raw YAML body; ?filename, ?name)
                                                 -> 201 created, 200 updated or unchanged
    GET    /api/v1/environments/{id}             one environment (secrets as references only)
    PUT    /api/v1/environments/{id}             replace its content; body ``version`` = the version
                                                 edited (a newer stored one -> 409)
    DELETE /api/v1/environments/{id}             delete (?version as above); runs keep their pinned copy
    POST   /api/v1/environments/{id}/clone       {"name": ...} -> 201
    GET    /api/v1/environments/{id}/export      the orchestra-environment/1 file (text/yaml)
    GET    /api/v1/profiles                      connection profiles: kind (db|kafka|queue), limit, offset
    POST   /api/v1/profiles/{kind}               {"name", "settings"} -> 201
    GET    /api/v1/profiles/{kind}/{id}          one profile
    PUT    /api/v1/profiles/{kind}/{id}          replace name and settings
    DELETE /api/v1/profiles/{kind}/{id}          delete (409 while an environment maps it)

Secrets are written and answered as references ({"secret": NAME} and the environment's ``secrets``
map NAME -> {"env": VAR} | {"file": PATH}); a literal password or token is refused with the field
named (services/environments.py). Every write runs in ``svc.write``'s unit of work, off the event loop.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from orchestra_app.api.common import PAGE_PARAMS, check_query, page_request, page_response, path_uuid
from orchestra_app.api.runs import MAX_BODY, _body, _call
from orchestra_app.domain.errors import ValidationFailed
from orchestra_app.domain.params import parse_choice, parse_int, parse_text
from orchestra_app.services import environments as env_service

KINDS = tuple(env_service.KINDS)


def _json(body: Any, status_code: int = 200) -> JSONResponse:
    if isinstance(body, BaseModel):
        body = body.model_dump(mode="json", by_alias=True)
    return JSONResponse(body, status_code=status_code)


def _kind(request: Request) -> str:
    return parse_choice(request.path_params["kind"], name="kind", choices=KINDS, default=KINDS[0])


def _version(request: Request) -> int | None:
    return parse_int(request.query_params.get("version"), name="version", minimum=1, maximum=2**31 - 1)


async def environments(request: Request) -> Response:
    """GET lists the environments, POST creates one (one route, so a 405 names both methods)."""
    if request.method == "POST":
        check_query(request, ())
        view = await _call(env_service.create_environment, write=True, data=await _body(request))
        return _json(view, 201)
    check_query(request, ("q", *PAGE_PARAMS))
    page = page_request(request)
    query = parse_text(request.query_params.get("q"), name="q", max_length=env_service.MAX_NAME)
    listing = await _call(env_service.list_environments, limit=page.limit, offset=page.offset, query=query)
    return page_response(request, page, listing.items, listing.total)


async def environment(request: Request) -> Response:
    if request.method == "PUT":
        check_query(request, ())
        view = await _call(
            env_service.update_environment,
            write=True,
            environment_id=path_uuid(request, "id"),
            data=await _body(request),
        )
        return _json(view)
    if request.method == "DELETE":
        check_query(request, ("version",))
        version = _version(request)
        result = await _call(
            env_service.delete_environment,
            write=True,
            environment_id=path_uuid(request, "id"),
            version=version,
        )
        return _json(result)
    check_query(request, ())
    view = await _call(env_service.get_environment, environment_id=path_uuid(request, "id"))
    return _json(view)


async def clone(request: Request) -> Response:
    check_query(request, ())
    environment_id = path_uuid(request, "id")
    body = await _body(request)
    if not isinstance(body, dict) or set(body) - {"name"}:
        extra = sorted(set(body) - {"name"}) if isinstance(body, dict) else []
        raise ValidationFailed(
            f"unknown field {extra[0]!r}" if extra else 'send {"name": "..."}',
            field=extra[0] if extra else "body",
        )
    if "name" not in body:
        raise ValidationFailed("name the copy", field="name")
    view = await _call(
        env_service.clone_environment, write=True, environment_id=environment_id, name=body["name"]
    )
    return _json(view, 201)


async def export(request: Request) -> Response:
    check_query(request, ())
    text = await _call(env_service.export_environment, environment_id=path_uuid(request, "id"))
    return Response(text, media_type="application/yaml; charset=utf-8")


async def _raw(request: Request) -> bytes:
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY:
            raise ValidationFailed(f"request body is above {MAX_BODY} bytes", field="body")
        chunks.append(chunk)
    raw = b"".join(chunks)
    if not raw.strip():
        raise ValidationFailed("send the environment file (YAML) as the body", field="body")
    return raw


async def import_file(request: Request) -> Response:
    check_query(request, ("filename", "name"))
    params = request.query_params
    filename = parse_text(params.get("filename"), name="filename", max_length=255, default="environment.yaml")
    name = parse_text(params.get("name"), name="name", max_length=env_service.MAX_NAME)
    raw = await _raw(request)
    # environ={} (the service's default for the API): ${VAR} never reads this server's variables
    result = await _call(env_service.import_environment, write=True, text=raw, filename=filename, name=name)
    body = {
        "environment": result.environment.model_dump(mode="json", by_alias=True),
        "created": result.created,
        "changed": result.changed,
        "profilesCreated": list(result.profiles_created),
        "profilesUpdated": list(result.profiles_updated),
    }
    return _json(body, 201 if result.created else 200)


async def profiles(request: Request) -> Response:
    check_query(request, ("kind", *PAGE_PARAMS))
    page = page_request(request)
    raw_kind = request.query_params.get("kind")
    kind = parse_choice(raw_kind, name="kind", choices=KINDS, default="") or None
    listing = await _call(env_service.list_profiles, kind=kind, limit=page.limit, offset=page.offset)
    return page_response(request, page, listing.items, listing.total)


async def create_profile(request: Request) -> Response:
    check_query(request, ())
    kind = _kind(request)
    view = await _call(env_service.create_profile, write=True, kind=kind, data=await _body(request))
    return _json(view, 201)


async def profile(request: Request) -> Response:
    check_query(request, ())
    kind = _kind(request)
    profile_id = path_uuid(request, "id")
    if request.method == "PUT":
        view = await _call(
            env_service.update_profile,
            write=True,
            kind=kind,
            profile_id=profile_id,
            data=await _body(request),
        )
        return _json(view)
    if request.method == "DELETE":
        return _json(await _call(env_service.delete_profile, write=True, kind=kind, profile_id=profile_id))
    return _json(await _call(env_service.get_profile, kind=kind, profile_id=profile_id))


def routes() -> list[BaseRoute]:
    """Relative to ``/api`` (api/v1.py mounts them before the generic collection route)."""
    return [
        Route("/v1/environments", environments, methods=["GET", "POST"]),
        Route("/v1/environments/import", import_file, methods=["POST"]),
        Route("/v1/environments/{id}", environment, methods=["GET", "PUT", "DELETE"]),
        Route("/v1/environments/{id}/clone", clone, methods=["POST"]),
        Route("/v1/environments/{id}/export", export, methods=["GET"]),
        Route("/v1/profiles", profiles, methods=["GET"]),
        Route("/v1/profiles/{kind}", create_profile, methods=["POST"]),
        Route("/v1/profiles/{kind}/{id}", profile, methods=["GET", "PUT", "DELETE"]),
    ]
