"""OpenAPI 3.0/3.1 and Swagger 2.0 (converted to 3.0 shapes) -> SpecSummary."""

from __future__ import annotations

import re
from typing import Any

from orchestra_app.domain.errors import ErrorKind, ImportError_
from orchestra_app.domain.spec import (
    MediaBody,
    Operation,
    Parameter,
    ResponseSpec,
    Server,
    SourceRef,
    SpecSummary,
    part_key,
    part_source,
    template_variables,
)
from orchestra_app.importers.refs import Bundler, RefError, RefResolver, Warnings, pointer

METHODS_3 = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
METHODS_2 = ("get", "put", "post", "delete", "options", "head", "patch")
COMPONENT_KINDS = (
    "schemas",
    "responses",
    "parameters",
    "examples",
    "requestBodies",
    "headers",
    "securitySchemes",
    "links",
    "callbacks",
    "pathItems",
)
# Swagger 2 parameter fields that are JSON Schema keywords (they become the parameter's schema).
_SWAGGER_SCHEMA_FIELDS = (
    "type",
    "format",
    "items",
    "default",
    "maximum",
    "exclusiveMaximum",
    "minimum",
    "exclusiveMinimum",
    "maxLength",
    "minLength",
    "pattern",
    "maxItems",
    "minItems",
    "uniqueItems",
    "enum",
    "multipleOf",
)
_FORM_TYPES = ("multipart/form-data", "application/x-www-form-urlencoded")
_SLUG_RE = re.compile(r"[^A-Za-z0-9]+")


def synthesize_operation_id(method: str, path: str) -> str:
    """Stable id for an operation without operationId: ``get /pets/{id}`` -> ``get_pets_id``."""
    slug = _SLUG_RE.sub("_", path).strip("_")
    return f"{method}_{slug}" if slug else method


Where = list[Any]
Sources = dict[tuple[str, ...], SourceRef]  # part_key tokens -> where the part is


class OpenApiImporter:
    """One import run over one root document (and the files it refers to)."""

    def __init__(self, doc: dict[str, Any], resolver: RefResolver, warnings: Warnings) -> None:
        self.doc = doc
        self.resolver = resolver
        self.warnings = warnings
        self.swagger = "swagger" in doc and "openapi" not in doc
        version = str(doc.get("swagger" if self.swagger else "openapi", "")).strip()
        self.spec_version = version
        if self.swagger:
            if version != "2.0":
                warnings.add("unsupported_version", f"swagger {version!r} read as 2.0", ["swagger"])
            self.dialect = "openapi-3.0"
            prefixes: dict[tuple[str, ...], str] = {("definitions",): "schemas"}
        else:
            if version.startswith("3.0"):
                self.dialect = "openapi-3.0"
            elif version.startswith("3.1"):
                self.dialect = "openapi-3.1"
            else:
                warnings.add("unsupported_version", f"openapi {version!r} read as 3.1", ["openapi"])
                self.dialect = "openapi-3.1"
            prefixes = {("components", kind): kind for kind in COMPONENT_KINDS}
        self.bundler = Bundler(resolver, warnings, root_prefixes=prefixes, fixup=self._fixup)
        self.seen_ids: dict[str, int] = {}

    # ---------------------------------------------------------------------------------------- helpers

    def warn(self, code: str, message: str, where: Where, uri: str | None = None) -> None:
        self.warnings.add(code, message, where, self.resolver.display(uri or self.resolver.root_uri))

    def source(self, where: Where, uri: str) -> SourceRef:
        """Where a node is: a pointer into the root document, or into the file it was bundled from."""
        file = None if uri == self.resolver.root_uri else self.resolver.display(uri)
        return SourceRef(pointer=pointer(where), file=file)

    def deref(self, node: Any, uri: str, where: Where) -> tuple[Any, str, Where]:
        """Inline a structural ``$ref`` (path item, operation, parameter, response...); None when broken."""
        try:
            target, turi, tokens = self.resolver.deref(node, uri)
        except RefError as exc:
            self.warn(exc.code, exc.message, [*where, "$ref"], uri)
            return None, uri, where
        return target, turi, (list(tokens) if tokens is not None else where)

    def schema(self, node: Any, uri: str, where: Where) -> dict[str, Any] | None:
        if node is None:
            return None
        if isinstance(node, bool):  # 3.1 allows true/false schemas
            return {} if node else {"not": {}}
        if not isinstance(node, dict):
            self.warn("invalid_schema", f"schema is a {type(node).__name__}, not an object", where, uri)
            return None
        copied = self.bundler.copy(node, uri, where)
        return copied if isinstance(copied, dict) else None

    def _fixup(self, node: dict[str, Any], where: Where, uri: str) -> dict[str, Any]:
        """Dialect repairs applied to every copied object (cheap checks; most objects pass untouched)."""
        if self.swagger:
            if node.get("type") == "file":
                node = {k: v for k, v in node.items() if k != "type"}
                node["type"] = "string"
                node["format"] = "binary"
            if node.get("x-nullable") is True:
                node = dict(node)
                node["nullable"] = True
            disc = node.get("discriminator")
            if isinstance(disc, str):
                node = dict(node)
                node["discriminator"] = {"propertyName": disc}
        elif self.dialect == "openapi-3.1":
            for bound, limit in (("exclusiveMinimum", "minimum"), ("exclusiveMaximum", "maximum")):
                flag = node.get(bound)
                if isinstance(flag, bool):
                    self.warn(
                        "boolean_exclusive_bound",
                        f"boolean {bound} is OpenAPI 3.0 style; converted to the 3.1 number form",
                        [*where, bound],
                        uri,
                    )
                    node = dict(node)
                    del node[bound]
                    if flag and limit in node:
                        node[bound] = node.pop(limit)
        return node

    # ------------------------------------------------------------------------------------------ main

    def run(self) -> SpecSummary:
        doc = self.doc
        info: dict[str, Any] = doc["info"] if isinstance(doc.get("info"), dict) else {}
        if not isinstance(doc.get("info"), dict):
            self.warn("missing_info", "no info object", ["info"])
        servers = self._servers_2() if self.swagger else self._servers_3(doc.get("servers"), ["servers"])
        root_security = self._security(doc.get("security"), ["security"])
        operations: list[Operation] = []
        root_uri = self.resolver.root_uri
        paths = doc.get("paths")
        if paths is not None:
            paths, _, _ = self._root_section(paths, "paths")
        if isinstance(paths, dict):
            operations = self._paths(paths, root_uri, ["paths"], root_security)
        elif paths is not None:
            self.warn("invalid_paths", "paths is not an object", ["paths"])
        summary = SpecSummary(
            protocol="http",
            format="swagger" if self.swagger else "openapi",
            spec_version=self.spec_version,
            title=_text(info.get("title")),
            version=_text(info.get("version")),
            schema_dialect=self.dialect,
            servers=servers,
            base_path=self._base_path_2() if self.swagger else None,
            source_file=self.resolver.display_name,
            operations=operations,
        )
        webhooks = doc.get("webhooks")
        if isinstance(webhooks, dict) and not self.swagger:
            hooks = self._paths(webhooks, root_uri, ["webhooks"], root_security, webhook=True)
            summary.webhooks = [op.to_json_dict() for op in hooks]  # type: ignore[attr-defined]
        summary.security_schemes = self._security_schemes()
        summary.components = self._components()
        summary.component_sources = {
            f"{kind}/{name}": self.source(list(tokens), uri)
            for (kind, name), (uri, tokens) in self.bundler.bundled_origins().items()
        }
        return summary

    def _root_section(self, node: Any, key: str) -> tuple[Any, str, Where]:
        try:
            return self.resolver.deref(node, self.resolver.root_uri)[0], self.resolver.root_uri, [key]
        except RefError as exc:
            raise ImportError_(
                f"{key} cannot be read: {exc.message}",
                kind=ErrorKind.UNRESOLVED_REF,
                file=self.resolver.display_name,
                pointer=f"/{key}/$ref",
            ) from None

    def _components(self) -> dict[str, Any]:
        root = self.doc
        if self.swagger:
            defs = root.get("definitions")
            if isinstance(defs, dict):
                for name in defs:
                    self.bundler.add_root_component("schemas", name)
        else:
            comps = root.get("components")
            if isinstance(comps, dict):
                for kind in COMPONENT_KINDS:
                    section = comps.get(kind)
                    if isinstance(section, dict):
                        for name in section:
                            self.bundler.add_root_component(kind, name)
        out = self.bundler.finish()
        out.setdefault("schemas", {})
        if self.swagger and isinstance(root.get("securityDefinitions"), dict):
            out["securitySchemes"] = self._security_schemes()
        return out

    # --------------------------------------------------------------------------------------- servers

    def _servers_3(self, node: Any, where: Where) -> list[Server]:
        if node is None:
            return []
        if not isinstance(node, list):
            self.warn("invalid_servers", "servers is not a list", where)
            return []
        out: list[Server] = []
        for i, raw in enumerate(node):
            s, _, _ = self.deref(raw, self.resolver.root_uri, [*where, i])  # refs here are a common quirk
            if s is None:
                continue
            if not isinstance(s, dict) or not isinstance(s.get("url"), str):
                self.warn("invalid_server", "server without a url", [*where, i])
                continue
            variables = self._server_variables(s, [*where, i])
            out.append(Server(url=s["url"], description=_text(s.get("description")), variables=variables))
        return out

    def _server_variables(self, server: dict[str, Any], where: Where) -> dict[str, Any]:
        """The server's variables, with a warning for each one a URL cannot be built from."""
        raw = server.get("variables")
        if raw is not None and not isinstance(raw, dict):
            self.warn("invalid_server_variables", "server variables is not an object", [*where, "variables"])
            raw = None
        variables: dict[str, Any] = dict(raw or {})
        for name in template_variables(server["url"]):
            if name not in variables:
                self.warn(
                    "undefined_server_variable",
                    f"server url {server['url']!r} uses {{{name}}} but defines no variable {name!r}; "
                    "set it per environment (options.serverVariables)",
                    [*where, "url"],
                )
        for name, var in variables.items():
            vwhere = [*where, "variables", name]
            if not isinstance(var, dict) or not isinstance(var.get("default"), str | int | float):
                self.warn(
                    "server_variable_without_default",
                    f"server variable {name!r} has no default; "
                    "set it per environment (options.serverVariables)",
                    vwhere,
                )
                continue
            enum = var.get("enum")
            if isinstance(enum, list) and enum and str(var["default"]) not in [str(e) for e in enum]:
                self.warn(
                    "server_variable_default_not_in_enum",
                    f"server variable {name!r}: default {var['default']!r} is not one of its enum {enum}",
                    [*vwhere, "default"],
                )
        return variables

    def _base_path_2(self) -> str | None:
        base = self.doc.get("basePath")
        if base is None:
            return None
        if not isinstance(base, str):
            self.warn("invalid_base_path", "basePath is not a string; ignored", ["basePath"])
            return None
        if not base.startswith("/"):
            self.warn("invalid_base_path", f"basePath {base!r} does not start with '/'", ["basePath"])
        return base

    def _servers_2(self) -> list[Server]:
        host = self.doc.get("host")
        base = self.doc.get("basePath") or ""
        if not isinstance(base, str):
            base = ""
        schemes = self.doc.get("schemes")
        if not isinstance(schemes, list) or not schemes:
            schemes = ["https"]
        if not isinstance(host, str) or not host:
            return [Server(url=base or "/")]
        return [Server(url=f"{scheme}://{host}{base}") for scheme in schemes if isinstance(scheme, str)]

    # ---------------------------------------------------------------------------------------- security

    def _security(self, node: Any, where: Where, uri: str | None = None) -> list[dict[str, list[str]]] | None:
        if node is None:
            return None
        if not isinstance(node, list) or not all(isinstance(r, dict) for r in node):
            self.warn("invalid_security", "security is not a list of requirement objects", where, uri)
            return None
        return [
            {str(k): [str(s) for s in v] if isinstance(v, list) else [] for k, v in r.items()} for r in node
        ]

    def _security_schemes(self) -> dict[str, Any]:
        if not self.swagger:
            comps = self.doc.get("components")
            schemes = comps.get("securitySchemes") if isinstance(comps, dict) else None
            if not isinstance(schemes, dict):
                return {}
            out: dict[str, Any] = {}
            for name, scheme in schemes.items():
                target, _, _ = self.deref(
                    scheme, self.resolver.root_uri, ["components", "securitySchemes", name]
                )
                if isinstance(target, dict):
                    out[name] = target
            return out
        defs = self.doc.get("securityDefinitions")
        if not isinstance(defs, dict):
            return {}
        flows = {"implicit": "implicit", "password": "password", "application": "clientCredentials"}
        flows["accessCode"] = "authorizationCode"
        result: dict[str, Any] = {}
        for name, d in defs.items():
            if not isinstance(d, dict):
                continue
            kind = d.get("type")
            if kind == "basic":
                result[name] = {"type": "http", "scheme": "basic"}
            elif kind == "apiKey":
                result[name] = {"type": "apiKey", "name": d.get("name"), "in": d.get("in")}
            elif kind == "oauth2":
                flow: dict[str, Any] = {"scopes": d.get("scopes") or {}}
                for key in ("authorizationUrl", "tokenUrl"):
                    if key in d:
                        flow[key] = d[key]
                result[name] = {"type": "oauth2", "flows": {flows.get(str(d.get("flow")), "implicit"): flow}}
            else:
                self.warn(
                    "invalid_security_scheme",
                    f"unknown security type {kind!r}",
                    ["securityDefinitions", name],
                )
                result[name] = d
            if "description" in d:
                result[name]["description"] = d["description"]
        return result

    # ------------------------------------------------------------------------------------------ paths

    def _paths(
        self,
        paths: dict[str, Any],
        uri: str,
        where: Where,
        root_security: list[dict[str, list[str]]] | None,
        *,
        webhook: bool = False,
    ) -> list[Operation]:
        methods = METHODS_2 if self.swagger else METHODS_3
        ops: list[Operation] = []
        for path, raw_item in paths.items():
            if path.startswith("x-"):
                continue
            item, iuri, iwhere = self.deref(raw_item, uri, [*where, path])
            if item is None:
                continue
            if not isinstance(item, dict):
                self.warn("invalid_path_item", "path item is not an object", iwhere, iuri)
                continue
            if not webhook and not path.startswith("/"):
                self.warn("invalid_path", f"path {path!r} does not start with '/'", [*where, path])
            for method in methods:
                if method not in item:
                    continue
                op, ouri, owhere = self.deref(item[method], iuri, [*iwhere, method])
                if op is None:
                    continue
                if not isinstance(op, dict):
                    self.warn("invalid_operation", "operation is not an object", owhere, ouri)
                    continue
                ops.append(self._operation(method, path, item, iuri, iwhere, op, ouri, owhere, root_security))
        return ops

    def _operation(
        self,
        method: str,
        path: str,
        item: dict[str, Any],
        iuri: str,
        iwhere: Where,
        op: dict[str, Any],
        ouri: str,
        owhere: Where,
        root_security: list[dict[str, list[str]]] | None,
    ) -> Operation:
        raw_id = op.get("operationId")
        synthesized = not (isinstance(raw_id, str) and raw_id.strip())
        op_id = synthesize_operation_id(method, path) if synthesized else str(raw_id)
        n = self.seen_ids.get(op_id, 0) + 1
        self.seen_ids[op_id] = n
        if n > 1:
            if not synthesized:
                self.warn(
                    "duplicate_operation_id",
                    f"operationId {op_id!r} is used more than once; this one is renamed {op_id}_{n}",
                    [*owhere, "operationId"],
                    ouri,
                )
            op_id = f"{op_id}_{n}"
            self.seen_ids.setdefault(op_id, 1)
        sources: Sources = {}
        param_lists = [(item.get("parameters"), iuri, [*iwhere, "parameters"])]
        param_lists.append((op.get("parameters"), ouri, [*owhere, "parameters"]))
        parameters, body = self._parameters(param_lists, op, sources)
        self._check_path_parameters(op_id, path, parameters, owhere, ouri)
        if not self.swagger and "requestBody" in op:
            body = self._request_body(op["requestBody"], ouri, [*owhere, "requestBody"], sources)
        security = self._security(op.get("security"), [*owhere, "security"], ouri)
        tags = op.get("tags")
        operation = Operation(
            id=op_id,
            method=method,
            path=path,
            summary=_text(op.get("summary")),
            description=_text(op.get("description")),
            tags=[str(t) for t in tags] if isinstance(tags, list) else [],
            parameters=parameters,
            request_body=body,
            responses=self._responses(op.get("responses"), op, ouri, [*owhere, "responses"], sources),
            security=security if "security" in op else root_security,
            deprecated=op.get("deprecated") is True,
            synthesized_id=synthesized,
            source=self.source(owhere, ouri),
        )
        # Only what cannot be derived from its parent is kept (a fifth of a big spec's summary otherwise);
        # parents first, so a child under a relocated parent is derived from where that parent really is.
        for tokens, ref in sorted(sources.items(), key=lambda item: len(item[0])):
            if part_source(self.swagger, operation, *tokens) != ref:
                operation.sources[part_key(*tokens)] = ref
        if not self.swagger:
            servers = op.get("servers") or item.get("servers")
            if servers:
                where = [*owhere, "servers"] if op.get("servers") else [*iwhere, "servers"]
                operation.servers = self._servers_3(servers, where) or None
        return operation

    def _check_path_parameters(
        self, op_id: str, path: str, parameters: list[Parameter], owhere: Where, ouri: str
    ) -> None:
        """Path parameters and ``{...}`` variables of the path must agree; mismatches are spec defects.

        A declared path parameter that matches no variable can never be sent: it is kept (documented)
        but made optional, and the HTTP plugin ignores it. A variable without a declared parameter is
        still filled from the step's ``pathParams``.
        """
        names = set(template_variables(path))
        declared = set()
        for param in parameters:
            if param.location != "path":
                continue
            declared.add(param.name)
            if param.name not in names:
                param.required = False
                self.warn(
                    "path_parameter_not_in_path",
                    f"operation {op_id}: path parameter {param.name!r} matches no {{...}} in {path!r}; "
                    "it is ignored when sending",
                    [*owhere, "parameters"],
                    ouri,
                )
        for name in sorted(names - declared):
            self.warn(
                "undeclared_path_variable",
                f"operation {op_id}: {{{name}}} in {path!r} has no path parameter; "
                "its value comes from the step's pathParams, unchecked",
                [*owhere, "parameters"],
                ouri,
            )

    # ------------------------------------------------------------------------------------- parameters

    def _parameters(
        self, lists: list[tuple[Any, str, Where]], op: dict[str, Any], sources: Sources
    ) -> tuple[list[Parameter], MediaBody | None]:
        merged: dict[tuple[str, str], Parameter] = {}
        body: MediaBody | None = None
        form: dict[str, tuple[dict[str, Any], bool]] = {}
        for plist, uri, where in lists:
            if plist is None:
                continue
            if not isinstance(plist, list):
                self.warn("invalid_parameters", "parameters is not a list", where, uri)
                continue
            for i, raw in enumerate(plist):
                p, puri, pwhere = self.deref(raw, uri, [*where, i])
                if p is None:
                    continue
                if (
                    not isinstance(p, dict)
                    or not isinstance(p.get("name"), str)
                    or not isinstance(p.get("in"), str)
                ):
                    self.warn("invalid_parameter", "parameter without name or in", pwhere, puri)
                    continue
                loc = p["in"]
                if self.swagger and loc == "body":
                    content = {
                        mt: self.schema(p.get("schema"), puri, [*pwhere, "schema"])
                        for mt in self._media(op, "consumes")
                    }
                    for mt in content:
                        sources[("request", mt)] = self.source([*pwhere, "schema"], puri)
                    body = MediaBody(required=p.get("required") is True, content=content)
                    continue
                if self.swagger and loc == "formData":
                    form[p["name"]] = (
                        self._swagger_param_schema(p, puri, pwhere, allow_file=True),
                        p.get("required") is True,
                    )
                    continue
                if loc not in ("path", "query", "header", "cookie"):
                    self.warn(
                        "invalid_parameter", f"parameter location {loc!r} is not known", [*pwhere, "in"], puri
                    )
                schema: dict[str, Any] | None
                swhere: Where | None = None
                if self.swagger:
                    schema = self._swagger_param_schema(p, puri, pwhere, allow_file=False)
                    swhere = [*pwhere, "schema"] if isinstance(p.get("schema"), dict) else pwhere
                elif "schema" in p:
                    swhere = [*pwhere, "schema"]
                    schema = self.schema(p["schema"], puri, swhere)
                elif isinstance(p.get("content"), dict) and p["content"]:
                    mt, media = next(iter(p["content"].items()))
                    swhere = [*pwhere, "content", mt, "schema"]
                    schema = self.schema(
                        media.get("schema") if isinstance(media, dict) else None, puri, swhere
                    )
                else:
                    schema = None
                sources[("parameter", loc, p["name"])] = self.source(pwhere, puri)
                if swhere is not None:
                    sources[("parameter", loc, p["name"], "schema")] = self.source(swhere, puri)
                merged[(p["name"], loc)] = Parameter(
                    name=p["name"],
                    location=loc,
                    required=loc == "path" or p.get("required") is True,
                    schema_=schema,
                    description=_text(p.get("description")),
                )
        if form:
            body = self._form_body(form, op)
        return list(merged.values()), body

    def _swagger_param_schema(
        self, p: dict[str, Any], uri: str, where: Where, *, allow_file: bool
    ) -> dict[str, Any]:
        raw = {k: p[k] for k in _SWAGGER_SCHEMA_FIELDS if k in p}
        if "schema" in p and isinstance(p["schema"], dict):  # a non-body parameter with a schema: take it
            raw = p["schema"]
        if raw.get("type") == "file" and not allow_file:
            self.warn(
                "file_type_outside_form",
                "type: file outside formData; read as a binary string",
                [*where, "type"],
                uri,
            )
        return self.schema(raw, uri, where) or {}

    def _form_body(self, form: dict[str, tuple[dict[str, Any], bool]], op: dict[str, Any]) -> MediaBody:
        props = {name: schema for name, (schema, _) in form.items()}
        required = [name for name, (_, req) in form.items() if req]
        schema: dict[str, Any] = {"type": "object", "properties": props}
        if required:
            schema["required"] = required
        consumes = [
            mt for mt in self._media(op, "consumes", default=[]) if mt.split(";")[0].strip() in _FORM_TYPES
        ]
        if not consumes:
            has_file = any(s.get("format") == "binary" for s in props.values())
            consumes = ["multipart/form-data" if has_file else "application/x-www-form-urlencoded"]
        return MediaBody(required=bool(required), content={mt: schema for mt in consumes})

    def _media(self, op: dict[str, Any], key: str, default: list[str] | None = None) -> list[str]:
        value = op.get(key, self.doc.get(key))
        if isinstance(value, list) and value and all(isinstance(v, str) for v in value):
            return list(value)
        return ["application/json"] if default is None else default

    # ------------------------------------------------------------------------------------- bodies

    def _request_body(self, node: Any, uri: str, where: Where, sources: Sources) -> MediaBody | None:
        rb, ruri, rwhere = self.deref(node, uri, where)
        if rb is None:
            return None
        if not isinstance(rb, dict):
            self.warn("invalid_request_body", "requestBody is not an object", rwhere, ruri)
            return None
        sources[("requestBody",)] = self.source(rwhere, ruri)
        return MediaBody(
            required=rb.get("required") is True,
            content=self._content(rb.get("content"), ruri, [*rwhere, "content"], sources, ("request",)),
        )

    def _content(
        self,
        node: Any,
        uri: str,
        where: Where,
        sources: Sources | None = None,
        key: tuple[str, ...] = (),
    ) -> dict[str, dict[str, Any] | None]:
        if node is None:
            return {}
        if not isinstance(node, dict):
            self.warn("invalid_content", "content is not an object", where, uri)
            return {}
        out: dict[str, dict[str, Any] | None] = {}
        for mt, media in node.items():
            media, muri, mwhere = (
                self.deref(media, uri, [*where, mt])
                if isinstance(media, dict)
                else (media, uri, [*where, mt])
            )
            out[mt] = (
                self.schema(media.get("schema"), muri, [*mwhere, "schema"])
                if isinstance(media, dict)
                else None
            )
            if sources is not None and out[mt] is not None:
                sources[(*key, mt)] = self.source([*mwhere, "schema"], muri)
        return out

    def _responses(
        self, node: Any, op: dict[str, Any], uri: str, where: Where, sources: Sources
    ) -> dict[str, ResponseSpec]:
        if node is None and self.dialect == "openapi-3.1":
            return {}  # responses became optional in 3.1
        if node is None:
            self.warn("missing_responses", "operation has no responses", where, uri)
            return {}
        if not isinstance(node, dict):
            self.warn("invalid_responses", "responses is not an object", where, uri)
            return {}
        out: dict[str, ResponseSpec] = {}
        for code, raw in node.items():
            code = str(code)
            if code.startswith("x-"):
                continue
            resp, ruri, rwhere = self.deref(raw, uri, [*where, code])
            if resp is None:
                out[code] = ResponseSpec(description="(unresolved $ref)")
                continue
            if not isinstance(resp, dict):
                self.warn("invalid_response", "response is not an object", rwhere, ruri)
                continue
            sources[("response", code)] = self.source(rwhere, ruri)
            if self.swagger:
                schema = (
                    self.schema(resp.get("schema"), ruri, [*rwhere, "schema"]) if "schema" in resp else None
                )
                content = {mt: schema for mt in self._media(op, "produces")} if "schema" in resp else {}
                if schema is not None:
                    for mt in content:
                        sources[("response", code, mt)] = self.source([*rwhere, "schema"], ruri)
            else:
                content = self._content(
                    resp.get("content"), ruri, [*rwhere, "content"], sources, ("response", code)
                )
            out[code] = ResponseSpec(
                description=_text(resp.get("description")),
                headers=self._headers(resp.get("headers"), ruri, [*rwhere, "headers"], sources, code),
                content=content,
                links=None if self.swagger else self._links(resp.get("links"), ruri, [*rwhere, "links"]),
            )
        return out

    def _links(self, node: Any, uri: str, where: Where) -> dict[str, dict[str, Any]] | None:
        """Response links (step chaining uses them): target operation and runtime expressions."""
        if not isinstance(node, dict) or not node:
            return None
        out: dict[str, dict[str, Any]] = {}
        for name, raw in node.items():
            link, _luri, _lwhere = self.deref(raw, uri, [*where, str(name)])
            if not isinstance(link, dict):
                continue
            entry: dict[str, Any] = {}
            for key in ("operationId", "operationRef", "description"):
                if isinstance(link.get(key), str):
                    entry[key] = link[key]
            params = link.get("parameters")
            if isinstance(params, dict):
                entry["parameters"] = {
                    str(k): v for k, v in params.items() if isinstance(v, str | int | float)
                }
            if isinstance(link.get("requestBody"), str | dict):
                entry["requestBody"] = link["requestBody"]
            if "operationId" in entry or "operationRef" in entry:
                out[str(name)] = entry
        return out or None

    def _headers(
        self, node: Any, uri: str, where: Where, sources: Sources, code: str
    ) -> dict[str, dict[str, Any]]:
        if not isinstance(node, dict):
            return {}
        out: dict[str, dict[str, Any]] = {}
        for name, raw in node.items():
            h, huri, hwhere = self.deref(raw, uri, [*where, name])
            if not isinstance(h, dict):
                continue
            if self.swagger:
                swhere = hwhere
                schema = self.schema({k: h[k] for k in _SWAGGER_SCHEMA_FIELDS if k in h}, huri, hwhere)
            elif "schema" in h:
                swhere = [*hwhere, "schema"]
                schema = self.schema(h["schema"], huri, swhere)
            else:
                content = self._content(h.get("content"), huri, [*hwhere, "content"])
                schema = next(iter(content.values()), None)
                swhere = [*hwhere, "content", next(iter(content), ""), "schema"]
            sources[("response", code, "header", str(name))] = self.source(swhere, huri)
            entry: dict[str, Any] = {"required": h.get("required") is True, "schema": schema}
            if isinstance(h.get("description"), str):
                entry["description"] = h["description"]
            out[str(name)] = entry
        return out


def _text(value: Any) -> str | None:
    if value is None:
        return None
    return value if isinstance(value, str) else str(value)


def import_openapi(doc: dict[str, Any], resolver: RefResolver, warnings: Warnings) -> SpecSummary:
    summary = OpenApiImporter(doc, resolver, warnings).run()
    summary.warnings = warnings.items
    return summary


__all__ = ["import_openapi", "pointer", "synthesize_operation_id"]
