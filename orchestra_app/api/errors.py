"""OrchestraError -> JSON error response (``{"error": {kind, message, field, ..., text}}``)."""

from __future__ import annotations

from starlette.responses import JSONResponse

from orchestra_app.domain.errors import ErrorKind, OrchestraError

STATUS_BY_KIND = {
    ErrorKind.NOT_FOUND: 404,
    ErrorKind.PERMISSION_DENIED: 403,
    ErrorKind.TOO_LARGE: 413,
    ErrorKind.CONFLICT: 409,
    ErrorKind.CONFIGURATION: 500,
}


def error_response(exc: OrchestraError) -> JSONResponse:
    return JSONResponse(
        {"error": {**exc.to_dict(), "text": str(exc)}}, status_code=STATUS_BY_KIND.get(exc.kind, 400)
    )
