"""parsedSummary: the protocol-neutral summary of an imported spec (ProtocolSpec.parsedSummary).

Schemas inside operations are kept in their source dialect (``schema_dialect``) with every ``$ref``
rewritten to a local pointer into ``components`` of this summary (external files are bundled in),
so a contract validator can resolve them with ``components`` as the root document.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import unquote

from pydantic import ConfigDict, Field

from orchestra_app.domain.graph import ImportWarning
from orchestra_app.domain.model import DomainModel


class SpecWarning(ImportWarning):
    """An import warning that also names the source file and the JSON pointer of the offending node."""

    pointer: str | None = None
    file: str | None = None


class SourceRef(DomainModel):
    """Where a part of the summary came from: a JSON pointer into the root spec document, or into ``file``
    when the part was bundled in from another file."""

    pointer: str
    file: str | None = None


class Parameter(DomainModel):
    name: str
    location: str = Field(alias="in")  # path, query, header, cookie
    required: bool = False
    schema_: dict[str, Any] | None = Field(default=None, alias="schema")
    description: str | None = None


class MediaBody(DomainModel):
    required: bool = False
    content: dict[str, dict[str, Any] | None] = Field(default_factory=dict)  # media type -> schema


class ResponseSpec(DomainModel):
    description: str | None = None
    headers: dict[str, dict[str, Any]] = Field(default_factory=dict)  # name -> {required, schema}
    content: dict[str, dict[str, Any] | None] = Field(default_factory=dict)  # media type -> schema
    # OpenAPI 3 links: name -> {operationId | operationRef, parameters: {name: runtime expr}, requestBody}
    links: dict[str, dict[str, Any]] | None = None


class Server(DomainModel):
    model_config = ConfigDict(extra="allow")

    url: str  # absolute, or relative to the spec's location ("/api", "/{version}")
    description: str | None = None
    # name -> {"default": str, "enum": [str], "description": str}, as the spec wrote them
    variables: dict[str, Any] = Field(default_factory=dict)


class Operation(DomainModel):
    """One callable thing: an HTTP operation, an AsyncAPI send/receive, a gRPC method."""

    model_config = ConfigDict(extra="allow")

    id: str
    method: str  # HTTP verb; "send"/"receive" for AsyncAPI; "rpc" for gRPC
    path: str  # URL template; channel address; "/pkg.Service/Method"
    summary: str | None = None
    description: str | None = None
    tags: list[str] = Field(default_factory=list)
    parameters: list[Parameter] = Field(default_factory=list)
    request_body: MediaBody | None = None
    responses: dict[str, ResponseSpec] = Field(default_factory=dict)  # "200", "4XX", "default"
    security: list[dict[str, list[str]]] | None = None
    deprecated: bool = False
    synthesized_id: bool = False  # True when operationId was missing and the id was derived
    servers: list[Server] | None = None  # OpenAPI 3 operation- or path-level servers (override the spec's)
    # Where the operation object is in the source document (/paths/~1flows/post).
    source: SourceRef | None = None
    # Where its parts came from, only for parts not at their usual place under their parent (a part
    # reached through a $ref, a parameter by its index); ``part_source`` derives the others. Absent in
    # summaries imported before these were recorded. Keys: see ``part_key``.
    sources: dict[str, SourceRef] = Field(default_factory=dict)


def part_key(*tokens: str) -> str:
    """Key of ``Operation.sources``: ``parameter/query/limit``, ``parameter/query/limit/schema``,
    ``requestBody``, ``request/application/json``, ``response/200``, ``response/200/application/json``,
    ``response/200/header/X-Rate``."""
    return "/".join(tokens)


def _under(parent: SourceRef | None, *tokens: str) -> SourceRef | None:
    if parent is None:
        return None
    return SourceRef(
        pointer=parent.pointer + "".join("/" + escape_pointer_token(t) for t in tokens), file=parent.file
    )


def part_source(swagger: bool, operation: Operation, *tokens: str) -> SourceRef | None:
    """Where a part of ``operation`` is written in the source (see ``part_key`` for the tokens):
    recorded when it is somewhere special, else derived from its parent (``swagger``: Swagger 2 layout)."""
    found = operation.sources.get(part_key(*tokens))
    if found is not None:
        return found
    kind, rest = tokens[0], tokens[1:]
    if kind == "response" and len(rest) == 1:
        return _under(operation.source, "responses", rest[0])
    if kind == "response" and len(rest) == 2:
        response = part_source(swagger, operation, "response", rest[0])
        return _under(response, "schema") if swagger else _under(response, "content", rest[1], "schema")
    if kind == "response" and len(rest) == 3 and rest[1] == "header":
        response = part_source(swagger, operation, "response", rest[0])
        return (
            _under(response, "headers", rest[2])
            if swagger
            else _under(response, "headers", rest[2], "schema")
        )
    if kind == "requestBody" and not swagger:
        return _under(operation.source, "requestBody")
    if kind == "request" and len(rest) == 1 and not swagger:
        return _under(part_source(swagger, operation, "requestBody"), "content", rest[0], "schema")
    if kind == "parameter" and len(rest) == 3 and rest[2] == "schema":
        parameter = part_source(swagger, operation, "parameter", rest[0], rest[1])
        return parameter if swagger else _under(parameter, "schema")
    return None  # parameters (by index) and Swagger body parameters are always recorded


class SpecSummary(DomainModel):
    model_config = ConfigDict(extra="allow")

    protocol: str  # "http", "asyncapi", "grpc"
    format: str  # "openapi", "swagger", "asyncapi", "protobuf"
    spec_version: str | None = None
    title: str | None = None
    version: str | None = None
    schema_dialect: str = "openapi-3.0"  # openapi-3.0 | openapi-3.1 | jsonschema-2020-12 | protobuf
    servers: list[Server] = Field(default_factory=list)
    base_path: str | None = None  # Swagger 2 basePath, as written (OpenAPI 3 carries it in servers)
    source_file: str | None = None  # the root document's name (pointers without a file are into it)
    # "schemas/Pet" -> where that component came from, for components not at their usual place
    # (/components/<kind>/<name>, or /definitions/<name> in Swagger 2): ones bundled from other files.
    component_sources: dict[str, SourceRef] = Field(default_factory=dict)
    operations: list[Operation] = Field(default_factory=list)
    components: dict[str, Any] = Field(default_factory=dict)
    security_schemes: dict[str, Any] = Field(default_factory=dict)
    warnings: list[SpecWarning] = Field(default_factory=list)


_TEMPLATE_VARIABLE = re.compile(r"\{([^{}]+)\}")


def template_variables(template: str) -> list[str]:
    """The ``{name}`` variables of a path template or a server URL, in order (``{a}@{b}`` -> a, b)."""
    return _TEMPLATE_VARIABLE.findall(template)


COMPONENTS_PREFIX = "#/components/"
_MISSING = object()


def resolve_component_ref(components: dict[str, Any], ref: str) -> Any:
    """Follows a summary-local ``#/components/...`` pointer; None when it does not resolve.

    Pointer tokens are percent-encoded (the importer's contract, so names with spaces or brackets
    stay valid URIs) and then ``~1``/``~0`` escaped, so both are undone here, in that order.
    """
    if not ref.startswith(COMPONENTS_PREFIX):
        return None
    node: Any = components
    for token in ref[len(COMPONENTS_PREFIX) :].split("/"):
        key = unquote(token).replace("~1", "/").replace("~0", "~")
        node = node.get(key, _MISSING) if isinstance(node, dict) else _MISSING
        if node is _MISSING:
            return None
    return node


def component_source(summary: SpecSummary, kind: str, name: str) -> SourceRef:
    """Where component ``kind/name`` of the summary came from in the source documents."""
    found = summary.component_sources.get(f"{kind}/{name}")
    if found is not None:
        return found
    if summary.format == "swagger" and kind == "schemas":
        return SourceRef(pointer="/definitions/" + escape_pointer_token(name))
    return SourceRef(pointer=f"/components/{escape_pointer_token(kind)}/{escape_pointer_token(name)}")


def escape_pointer_token(token: str) -> str:
    return token.replace("~", "~0").replace("/", "~1")


def split_component_ref(ref: str) -> list[str] | None:
    """Tokens after ``#/components/`` of a summary-local ref (kind, name, then any deeper tokens)."""
    if not ref.startswith(COMPONENTS_PREFIX):
        return None
    return [
        unquote(token).replace("~1", "/").replace("~0", "~")
        for token in ref[len(COMPONENTS_PREFIX) :].split("/")
    ]
