"""Checks every state-changing use case runs first: the caller's role and the upload size."""

from __future__ import annotations

from orchestra_app.domain.errors import ErrorKind, OrchestraError, PermissionDenied
from orchestra_app.domain.tenancy import Principal, Role
from orchestra_app.settings import get_settings


def require(principal: Principal, *roles: Role) -> None:
    """ORG_ADMIN passes every check; otherwise one of ``roles`` is needed."""
    if not principal.has(*roles):
        wanted = ", ".join(r.value for r in roles)
        raise PermissionDenied(f"this action needs one of the roles {wanted}")


def check_upload(data: bytes, filename: str) -> None:
    limit = get_settings().max_upload_bytes
    if len(data) > limit:
        raise OrchestraError(
            f"file is {len(data)} bytes, above the {limit}-byte upload limit",
            kind=ErrorKind.TOO_LARGE,
            file=filename,
        )
