"""REST routes for run reports and suite trends (conventions of api/common.py):

    GET /api/v1/testruns/{id}/report           the report document (JSON, schema orchestra-report/1)
    GET /api/v1/testruns/{id}/report.json      the same, as a download (Content-Disposition)
    GET /api/v1/testruns/{id}/report.html      one self-contained HTML file (no external assets)
    GET /api/v1/testruns/{id}/report.xml       JUnit XML
    GET /api/v1/suites/{id}/trend?limit=30     pass rate and duration of the suite's last runs (1-200)

No other query parameter is accepted; ids are UUIDs (422 naming ``id``), an unknown format is 422
naming ``format``, another tenant's run is 404. Reports are built off the event loop.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from orchestra_app.api.common import check_query, path_uuid, run_blocking
from orchestra_app.domain.errors import ValidationFailed
from orchestra_app.domain.params import parse_int
from orchestra_app.services import reports as report_service
from orchestra_app.services import session as svc

T = TypeVar("T")


async def _run(use_case: Callable[..., T], **kwargs: Any) -> T:
    def work() -> T:
        return svc.run(use_case, svc.current_principal(), **kwargs)

    return await run_blocking(work)


async def report(request: Request) -> JSONResponse:
    check_query(request, ())
    run_id = path_uuid(request, "id")
    body = await _run(report_service.run_report, run_id=run_id)
    return JSONResponse(body)


async def report_file(request: Request) -> Response:
    check_query(request, ())
    run_id = path_uuid(request, "id")
    fmt = str(request.path_params["format"])
    if fmt not in report_service.FORMATS:
        raise ValidationFailed(
            f"unknown report format {fmt[:20]!r} (use report.html, report.json or report.xml)", field="format"
        )
    content, media_type = await _run(report_service.export, run_id=run_id, fmt=fmt)
    filename = f"orchestra-run-{run_id}.{fmt}"
    return Response(
        content,
        media_type=media_type,
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


async def suite_trend(request: Request) -> JSONResponse:
    check_query(request, ("limit",))
    suite_id = path_uuid(request, "id")
    raw = request.query_params.get("limit")
    limit = parse_int(raw, name="limit", default=30, minimum=1, maximum=report_service.MAX_TREND) or 30
    body = await _run(report_service.suite_trend, suite_id=suite_id, limit=limit)
    return JSONResponse(body)


def routes() -> list[BaseRoute]:
    return [
        Route("/v1/testruns/{id}/report", report, methods=["GET"]),
        Route("/v1/testruns/{id}/report.{format}", report_file, methods=["GET"]),
        Route("/v1/suites/{id}/trend", suite_trend, methods=["GET"]),
    ]
