"""Error hierarchy of Orchestra: every failure a user can see is an OrchestraError.

    OrchestraError                  root; carries kind, message and where it happened
    ├── ImportError_                a process/spec file could not be read (file, line, column, pointer)
    ├── ValidationFailed            stored data or a command failed validation (field)
    ├── NotFound                    a row does not exist in the caller's tenant
    ├── PermissionDenied            the principal lacks the role for the use case
    └── ConfigurationError          settings/environment are unusable

Callers branch on ``ErrorKind``; the CLI, REST API and UI render ``str(error)`` and never a traceback.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any


class ErrorKind(StrEnum):
    NOT_XML = "not_xml"
    NOT_BPMN = "not_bpmn"
    NO_PROCESS = "no_process"
    UNSAFE_XML = "unsafe_xml"
    TOO_LARGE = "too_large"
    SYNTAX = "syntax"
    UNKNOWN_FORMAT = "unknown_format"
    INVALID_SPEC = "invalid_spec"
    UNRESOLVED_REF = "unresolved_ref"
    IO = "io"
    VALIDATION = "validation"
    NOT_FOUND = "not_found"
    PERMISSION_DENIED = "permission_denied"
    CONFIGURATION = "configuration"
    CONFLICT = "conflict"
    TIMEOUT = "timeout"  # a bounded piece of work (an import) ran past its time budget
    METHOD_NOT_ALLOWED = "method_not_allowed"
    BUSY = "busy"  # too much work in flight: retry later
    INTERNAL = "internal"  # our bug: logged with a traceback, shown only as an id to quote


class OrchestraError(Exception):
    """Root of all user-facing errors; ``str()`` names the offending file/line/field."""

    kind: ErrorKind = ErrorKind.VALIDATION

    def __init__(
        self,
        message: str,
        *,
        kind: ErrorKind | None = None,
        file: str | None = None,
        line: int | None = None,
        column: int | None = None,
        pointer: str | None = None,
        field: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        if kind is not None:
            self.kind = kind
        self.file = file
        self.line = line
        self.column = column
        self.pointer = pointer
        self.field = field

    def __reduce__(self) -> tuple[Any, ...]:
        # Keeps kind and location across pickling (imports run in a child process and come back).
        return (_rebuild, (type(self), self.message, self.to_dict()))

    def location(self) -> str:
        parts: list[str] = []
        if self.file:
            where = self.file
            if self.line is not None:
                where += f":{self.line}"
                if self.column is not None:
                    where += f":{self.column}"
            parts.append(where)
        if self.pointer is not None:
            parts.append(f"at {self.pointer or '/'}")
        if self.field:
            parts.append(f"field {self.field}")
        return " ".join(parts)

    def __str__(self) -> str:
        loc = self.location()
        return f"{loc}: {self.message}" if loc else self.message

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"kind": str(self.kind), "message": self.message}
        for key in ("file", "line", "column", "pointer", "field"):
            value = getattr(self, key)
            if value is not None:
                data[key] = value
        return data


def _rebuild(cls: type[OrchestraError], message: str, data: dict[str, Any]) -> OrchestraError:
    fields = {k: data.get(k) for k in ("file", "line", "column", "pointer", "field")}
    return cls(message, kind=ErrorKind(data["kind"]), **fields)


class ImportError_(OrchestraError):  # noqa: N801 - trailing underscore avoids shadowing the builtin
    """A process or spec document could not be imported."""

    kind = ErrorKind.SYNTAX


class ValidationFailed(OrchestraError):
    kind = ErrorKind.VALIDATION


class NotFound(OrchestraError):
    kind = ErrorKind.NOT_FOUND


class PermissionDenied(OrchestraError):
    kind = ErrorKind.PERMISSION_DENIED


class ConfigurationError(OrchestraError):
    kind = ErrorKind.CONFIGURATION


class Conflict(OrchestraError):
    kind = ErrorKind.CONFLICT
