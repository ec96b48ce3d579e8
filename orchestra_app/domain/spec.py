"""parsedSummary: the protocol-neutral summary of an imported spec (ProtocolSpec.parsedSummary).

Schemas inside operations are kept in their source dialect (``schema_dialect``) with every ``$ref``
rewritten to a local pointer into ``components`` of this summary (external files are bundled in),
so a contract validator can resolve them with ``components`` as the root document.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import unquote

from pydantic import ConfigDict, Field

from orchestra_app.domain.graph import ImportWarning
from orchestra_app.domain.model import DomainModel


class SpecWarning(ImportWarning):
    """An import warning that also names the source file and the JSON pointer of the offending node."""

    pointer: str | None = None
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


class Server(DomainModel):
    model_config = ConfigDict(extra="allow")

    url: str
    description: str | None = None


class SpecSummary(DomainModel):
    model_config = ConfigDict(extra="allow")

    protocol: str  # "http", "asyncapi", "grpc"
    format: str  # "openapi", "swagger", "asyncapi", "protobuf"
    spec_version: str | None = None
    title: str | None = None
    version: str | None = None
    schema_dialect: str = "openapi-3.0"  # openapi-3.0 | openapi-3.1 | jsonschema-2020-12 | protobuf
    servers: list[Server] = Field(default_factory=list)
    operations: list[Operation] = Field(default_factory=list)
    components: dict[str, Any] = Field(default_factory=dict)
    security_schemes: dict[str, Any] = Field(default_factory=dict)
    warnings: list[SpecWarning] = Field(default_factory=list)


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
