"""HTTP StepExecutor: renders the inputTemplate, sends it with httpx, turns failures into violations."""

from __future__ import annotations

import json
import re
import ssl
import time
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote, urlencode, urlsplit, urlunsplit

import httpx
from pydantic import Field, ValidationError

from orchestra_app.domain.errors import ConfigurationError, OrchestraError
from orchestra_app.domain.rules import RuleError, parse_rules, parse_selector
from orchestra_app.domain.secrets import REDACTED, redact_text, redact_value
from orchestra_app.domain.spec import Operation, SpecSummary
from orchestra_app.domain.steps import (
    ActionMode,
    RequestValidation,
    ScenarioStepSpec,
    Severity,
    StatusExpectation,
    StepResultData,
    StepStatus,
    Violation,
    ViolationType,
    describe_status_expectation,
    outcome,
    parse_status_expectation,
    status_matches,
)
from orchestra_app.domain.templating import TemplateScope, render
from orchestra_app.plugins.base import (
    AuthConfig,
    PluginConfig,
    ServiceConfig,
    StepRunContext,
    TlsOptions,
)
from orchestra_app.plugins.http.auth import AuthFailed, TokenCache, prepare_auth
from orchestra_app.plugins.http.base_url import ResolvedBase, resolve_base
from orchestra_app.plugins.http.contract import (
    HttpContractValidator,
    HttpRequestData,
    HttpResponseData,
    body_preview,
    is_json_media,
    media_type,
)

TEMPLATE_KEYS = {
    "method",
    "path",
    "url",
    "pathParams",
    "query",
    "headers",
    "cookies",
    "json",
    "form",
    "multipart",
    "body",
    "contentType",
    "auth",
}
BODY_KEYS = ("json", "form", "multipart", "body")
_PATH_PARAM = re.compile(r"\{[A-Za-z0-9_.\-]+\}")
# Header names whose values are credentials whatever their value is.
SENSITIVE_HEADERS = {"authorization", "proxy-authorization", "cookie", "x-api-key", "api-key", "x-auth-token"}
_AUTH_ADAPTER: Any = None


class HttpPluginConfig(PluginConfig):
    """ExecutionEnvironment.plugin_config["http"]."""

    max_body_bytes: int = Field(default=1_048_576, alias="maxBodyBytes")
    validate_requests: bool = Field(default=True, alias="validateRequests")  # false = requestValidation off
    # The environment's default request check; a suite's generation.requestValidation and a step's
    # action.meta.requestValidation win over it. None: "block" (or "off" when validateRequests is false).
    request_validation: RequestValidation | None = Field(default=None, alias="requestValidation")
    validate_responses: bool = Field(default=True, alias="validateResponses")
    validate_formats: bool = Field(default=True, alias="validateFormats")
    user_agent: str = Field(default="orchestra-http/1", alias="userAgent")
    max_connections: int = Field(default=100, alias="maxConnections")


def _violation(vtype: ViolationType, code: str, message: str, **details: Any) -> Violation:
    return Violation(type=vtype, code=code, message=message, details=details)


class _MetaError(Exception):
    """A step setting (meta, expectation) that cannot be used; becomes a VALIDATION_ERROR, nothing is sent."""

    def __init__(self, message: str, pointer: str) -> None:
        super().__init__(message)
        self.message = message
        self.pointer = pointer
        self.code = "INVALID_EXPECTATION" if pointer.startswith("/expectations") else "INVALID_META"


def _unexpected_status(expected: StatusExpectation, status: int) -> Violation:
    return _violation(
        ViolationType.HTTP_ERROR,
        "UNEXPECTED_STATUS",
        f"expected status {describe_status_expectation(expected)}, got {status}",
        expected=expected,
        actual=status,
    )


def _auth_adapter() -> Any:
    global _AUTH_ADAPTER
    if _AUTH_ADAPTER is None:
        from pydantic import TypeAdapter

        _AUTH_ADAPTER = TypeAdapter(AuthConfig)
    return _AUTH_ADAPTER


def _ssl_context(tls: TlsOptions) -> ssl.SSLContext | bool:
    if not tls.verify and not tls.client_cert:
        return False
    context = ssl.create_default_context(cafile=tls.ca_bundle) if tls.verify else ssl.create_default_context()
    if not tls.verify:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    if tls.client_cert:
        context.load_cert_chain(tls.client_cert, tls.client_key)
    return context


def _param_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    if value is None:
        return ""
    if isinstance(value, int | float):
        return str(value)
    return json.dumps(value, separators=(",", ":"))


def _query_items(query: Mapping[str, Any]) -> list[tuple[str, str]]:
    items: list[tuple[str, str]] = []
    for key, value in query.items():
        if value is None:
            continue
        if isinstance(value, list):
            items.extend((key, _param_text(v)) for v in value)
        else:
            items.append((key, _param_text(value)))
    return items


def _redact_result(result: StepResultData, secrets: set[str]) -> None:
    """Last line of defence: no resolved secret or token, in any encoding, stays anywhere in the result
    (request validation messages quote parameter values; a server may echo a credential back)."""
    for violation in result.violations:
        violation.message = redact_text(violation.message, secrets)
        violation.details = redact_value(violation.details, secrets)
    if result.request is not None:
        result.request = redact_value(result.request, secrets)
    if result.response_headers is not None:
        result.response_headers = redact_value(result.response_headers, secrets)
    if result.response_body is not None:
        result.response_body = redact_value(result.response_body, secrets)


def _redact_url(url: str, sensitive_query: set[str], secrets: set[str]) -> str:
    if sensitive_query:
        try:
            parts = urlsplit(url)
        except ValueError:  # e.g. "http://[::1" from a broken baseUrl: only the values are replaced
            return redact_text(url, secrets)
        if parts.query:
            pairs = []
            for pair in parts.query.split("&"):
                key = pair.split("=", 1)[0]
                pairs.append(f"{key}={REDACTED}" if key in sensitive_query else pair)
            url = urlunsplit(parts._replace(query="&".join(pairs)))
    return redact_text(url, secrets)


def _capped(timeout: httpx.Timeout, seconds: float) -> httpx.Timeout:
    """No phase of the request may wait longer than the step has left (at least 1 ms)."""
    left = max(seconds, 0.001)

    def cap(value: float | None) -> float:
        return left if value is None else min(value, left)

    return httpx.Timeout(
        connect=cap(timeout.connect), read=cap(timeout.read), write=cap(timeout.write), pool=cap(timeout.pool)
    )


class HttpStepExecutor:
    def __init__(self, validator: HttpContractValidator | None = None, *, plugin_id: str = "http") -> None:
        self.validator = validator or HttpContractValidator()
        self.plugin_id = plugin_id

    # ---- environment resources -----------------------------------------------------------------

    def _config(self, run: StepRunContext) -> HttpPluginConfig:
        env = run.environment

        def load() -> HttpPluginConfig:
            try:
                return HttpPluginConfig.model_validate(env.plugin_config.get(self.plugin_id, {}))
            except ValidationError as exc:
                first = exc.errors()[0]
                where = ".".join(str(p) for p in first["loc"])
                raise ConfigurationError(
                    f"plugin_config.{self.plugin_id}.{where}: {first['msg']} (got {first.get('input')!r})",
                    field=f"plugin_config.{self.plugin_id}.{where}",
                ) from None

        return env.resource(f"{self.plugin_id}:config", load)

    def _client(
        self, run: StepRunContext, service_name: str, service: ServiceConfig, config: HttpPluginConfig
    ) -> httpx.Client:
        def make() -> httpx.Client:
            limits = httpx.Limits(
                max_connections=config.max_connections, max_keepalive_connections=config.max_connections
            )
            return httpx.Client(
                verify=_ssl_context(service.tls),
                max_redirects=service.max_redirects,
                limits=limits,
                headers={"User-Agent": config.user_agent},
                trust_env=False,
            )

        return run.environment.resource(f"{self.plugin_id}:client:{service_name}", make)

    # ---- the step ------------------------------------------------------------------------------

    def execute(self, step: ScenarioStepSpec, run: StepRunContext) -> StepResultData:
        started = time.perf_counter()
        result = StepResultData(step_id=step.id, step_alias=step.alias, status=StepStatus.RUNNING)
        scope = run.template_scope()
        try:
            self._execute(step, run, result, scope)
        except OrchestraError as exc:  # configuration problems: the step fails with a readable reason
            details = {k: v for k, v in exc.to_dict().items() if k != "message"}
            result.violations.append(
                _violation(ViolationType.VALIDATION_ERROR, "CONFIGURATION_ERROR", str(exc), **details)
            )
        if scope.secrets_used:
            _redact_result(result, scope.secrets_used)
        result.duration_ms = round((time.perf_counter() - started) * 1000)
        result.status = outcome(result.violations)  # warnings (request checks in "warn" mode) do not fail
        return result

    def _base(
        self,
        run: StepRunContext,
        service_name: str,
        service: ServiceConfig,
        spec: SpecSummary | None,
        operation: Operation | None,
    ) -> ResolvedBase:
        """The composed base URL, cached per environment, service and operation (all it depends on)."""
        cache: dict[tuple[str, str | None], ResolvedBase] = run.environment.resource(
            f"{self.plugin_id}:bases", dict
        )
        key = (service_name, operation.id if operation is not None else None)
        found = cache.get(key)
        if found is None:
            found = resolve_base(service_name or "_", service.base_url, service.options, spec, operation)
            cache[key] = found
        return found

    @staticmethod
    def _request_check(step: ScenarioStepSpec, config: HttpPluginConfig) -> RequestValidation:
        """Step meta (where a suite default was merged, see with_suite_defaults) > environment > block."""
        raw = step.action.meta.get("requestValidation")
        if raw is not None:
            try:
                return (
                    RequestValidation(str(raw).strip().lower())
                    if isinstance(raw, str)
                    else RequestValidation(raw)
                )
            except ValueError:
                raise _MetaError(
                    f"action.meta.requestValidation {raw!r} is not one of "
                    f"{', '.join(repr(m.value) for m in RequestValidation)}",
                    "/action/meta/requestValidation",
                ) from None
        if config.request_validation is not None:
            return config.request_validation
        return RequestValidation.BLOCK if config.validate_requests else RequestValidation.OFF

    @staticmethod
    def _expected_status(step: ScenarioStepSpec, scope: TemplateScope) -> StatusExpectation | None:
        expected = step.expectations.expected_status_code
        if not isinstance(expected, str) or "{{" not in expected:
            return expected
        pointer = "/expectations/expectedStatusCode"
        try:
            return parse_status_expectation(render(expected, scope, pointer))
        except ValueError as exc:
            raise _MetaError(f"{exc} (rendered from {expected!r})", pointer) from None

    def _execute(
        self, step: ScenarioStepSpec, run: StepRunContext, result: StepResultData, scope: TemplateScope
    ) -> None:
        config = self._config(run)
        env = run.environment
        ref = step.endpoint_ref
        service_name = ref.service_name if ref else str(step.action.meta.get("service", ""))
        service = env.service(service_name) if service_name else ServiceConfig()
        spec: SpecSummary | None = run.spec_for(service_name) if service_name else None
        operation: Operation | None = None
        if spec is not None and ref is not None and ref.endpoint_name:
            operation = self.validator.index(spec).find_operation(ref.endpoint_name)
            if operation is None:
                result.violations.append(
                    _violation(
                        ViolationType.VALIDATION_ERROR,
                        "UNKNOWN_OPERATION",
                        f"operation {ref.endpoint_name!r} is not in the spec of service {service_name!r}",
                        service=service_name,
                        operation=ref.endpoint_name,
                    )
                )
                return

        try:
            check = self._request_check(step, config)
            expected = self._expected_status(step, scope)
        except _MetaError as exc:
            result.violations.append(
                _violation(ViolationType.VALIDATION_ERROR, exc.code, exc.message, pointer=exc.pointer)
            )
            return
        except OrchestraError as exc:
            result.violations.append(
                _violation(ViolationType.VALIDATION_ERROR, "TEMPLATE_ERROR", exc.message, pointer=exc.pointer)
            )
            return
        base = self._base(run, service_name, service, spec, operation)

        template = step.action.input_template or {}
        unknown = sorted(set(template) - TEMPLATE_KEYS)
        if unknown:
            result.violations.append(
                _violation(
                    ViolationType.VALIDATION_ERROR,
                    "UNKNOWN_TEMPLATE_KEY",
                    f"inputTemplate has unknown key(s) {unknown}; "
                    f"allowed: {', '.join(sorted(TEMPLATE_KEYS))}",
                    pointer="/action/inputTemplate",
                    keys=unknown,
                )
            )
            return
        try:
            rendered = render(template, scope, "/action/inputTemplate")
            default_headers = (
                render(service.headers, scope, "/environment/headers") if service.headers else {}
            )
            meta_headers = render(step.action.meta.get("headers") or {}, scope, "/action/meta/headers")
        except OrchestraError as exc:
            result.violations.append(
                _violation(ViolationType.VALIDATION_ERROR, "TEMPLATE_ERROR", exc.message, pointer=exc.pointer)
            )
            return

        request = self._request_data(rendered, operation, {**default_headers, **meta_headers}, result)
        if request is None:
            return
        timeout = self._timeout(step, service)
        remaining = getattr(run, "remaining_s", lambda: None)()  # the engine's limit for this step
        if remaining is not None:
            timeout = _capped(timeout, remaining)
        client = self._client(run, service_name or "_", service, config)

        auth_config: Any = service.auth
        if "auth" in rendered:
            try:
                auth_config = _auth_adapter().validate_python(rendered["auth"]) if rendered["auth"] else None
            except ValidationError as exc:
                result.violations.append(
                    _violation(
                        ViolationType.VALIDATION_ERROR,
                        "INVALID_AUTH",
                        f"inputTemplate auth is invalid: {exc.errors()[0]['msg']}",
                        pointer="/action/inputTemplate/auth",
                    )
                )
                return
        try:
            cache = env.resource(f"{self.plugin_id}:tokens", TokenCache)
            auth = prepare_auth(
                auth_config, scope, client=client, base_url=service.base_url, cache=cache, timeout=timeout
            )
        except AuthFailed as exc:
            result.violations.append(exc.violation)
            return
        except OrchestraError as exc:
            result.violations.append(
                _violation(ViolationType.VALIDATION_ERROR, "TEMPLATE_ERROR", exc.message, pointer=exc.pointer)
            )
            return
        request.headers = {**auth.headers, **request.headers}
        request.query = {**request.query, **auth.query}
        request.cookies = {**auth.cookies, **request.cookies}

        negative_notes: list[Violation] = []
        warnings: list[Violation] = []
        if operation is not None and spec is not None and check != RequestValidation.OFF:
            problems = self.validator.validate_request(spec, operation, request)
            if problems:
                if step.negative:
                    negative_notes = problems
                elif check == RequestValidation.BLOCK:
                    result.violations.extend(problems)
                    result.request = self._summary(
                        request, None, auth.sensitive_headers, auth.sensitive_query, scope, base
                    )
                    return
                else:
                    # "warn": the service is asked anyway; what the spec would refuse is reported beside
                    # the response's result without failing the step.
                    warnings = [
                        v.model_copy(
                            update={
                                "severity": Severity.WARNING,
                                "details": {**v.details, "requestValidation": "warn"},
                            }
                        )
                        for v in problems
                    ]

        try:
            http_request = self._build(client, request, base.url, timeout, service_name)
        except (httpx.InvalidURL, httpx.UnsupportedProtocol, ValueError) as exc:
            result.violations.append(
                _violation(
                    ViolationType.VALIDATION_ERROR, "INVALID_URL", f"cannot build the request URL: {exc}"
                )
            )
            return
        summary = self._summary(
            request, http_request, auth.sensitive_headers, auth.sensitive_query, scope, base
        )
        if negative_notes:
            # A negative test sends the invalid request on purpose; what was invalid is kept for the report.
            summary["requestValidation"] = [v.to_json_dict() for v in negative_notes]
        result.request = summary
        result.violations.extend(warnings)
        follow = bool(step.action.meta.get("followRedirects", service.follow_redirects))
        self._send(
            step,
            client,
            http_request,
            follow,
            config,
            spec,
            operation,
            result,
            scope,
            auth.sensitive_query,
            expected,
        )

    # ---- building ------------------------------------------------------------------------------

    @staticmethod
    def _timeout(step: ScenarioStepSpec, service: ServiceConfig) -> httpx.Timeout:
        meta = step.action.meta
        seconds = service.timeout_s
        if isinstance(meta.get("timeoutMs"), int | float):
            seconds = meta["timeoutMs"] / 1000
        elif isinstance(meta.get("timeout"), int | float):
            seconds = float(meta["timeout"])
        return httpx.Timeout(seconds, connect=service.connect_timeout_s or seconds)

    @staticmethod
    def _request_data(
        rendered: dict[str, Any],
        operation: Operation | None,
        extra_headers: dict[str, Any],
        result: StepResultData,
    ) -> HttpRequestData | None:
        def bad(code: str, message: str, pointer: str) -> None:
            result.violations.append(
                _violation(
                    ViolationType.VALIDATION_ERROR, code, message, pointer="/action/inputTemplate" + pointer
                )
            )

        method = rendered.get("method") or (operation.method if operation else None)
        path = rendered.get("url") or rendered.get("path") or (operation.path if operation else None)
        if not isinstance(method, str) or not method:
            bad(
                "MISSING_METHOD",
                "inputTemplate has no method and the step is not bound to an operation",
                "/method",
            )
            return None
        if not isinstance(path, str):
            bad(
                "MISSING_PATH", "inputTemplate has no path and the step is not bound to an operation", "/path"
            )
            return None
        for key in ("pathParams", "query", "headers", "cookies"):
            if key in rendered and rendered[key] is not None and not isinstance(rendered[key], dict):
                bad("INVALID_TEMPLATE", f"{key} must be an object", f"/{key}")
                return None
        bodies = [k for k in BODY_KEYS if k in rendered]
        if len(bodies) > 1:
            bad("INVALID_TEMPLATE", f"use one body kind, not {bodies}", f"/{bodies[1]}")
            return None
        headers = {**extra_headers, **(rendered.get("headers") or {})}
        headers = {str(k): _param_text(v) for k, v in headers.items() if v is not None}
        body_kind = bodies[0] if bodies else None
        content_type = rendered.get("contentType") or next(
            (v for k, v in headers.items() if k.lower() == "content-type"), None
        )
        if content_type is None and body_kind is not None:
            content_type = {
                "json": "application/json",
                "form": "application/x-www-form-urlencoded",
                "multipart": "multipart/form-data",
            }.get(body_kind)
            if body_kind == "body":
                content_type = (
                    "application/json" if isinstance(rendered["body"], dict | list) else "text/plain"
                )
        return HttpRequestData(
            method=method.upper(),
            path=path,
            path_params=dict(rendered.get("pathParams") or {}),
            query=dict(rendered.get("query") or {}),
            headers=headers,
            cookies=dict(rendered.get("cookies") or {}),
            body_kind=body_kind,
            body=rendered.get(body_kind) if body_kind else None,
            content_type=content_type,
        )

    @staticmethod
    def _build(
        client: httpx.Client,
        request: HttpRequestData,
        base_url: str,
        timeout: httpx.Timeout,
        service_name: str = "",
    ) -> httpx.Request:
        path = request.path
        for name, value in request.path_params.items():
            path = path.replace("{" + name + "}", quote(_param_text(value), safe=""))
        leftover = _PATH_PARAM.search(path)
        if leftover:
            raise ValueError(f"path parameter {leftover.group(0)} has no value (set it in pathParams)")
        if "://" not in path and "://" not in base_url:
            if not service_name:
                raise ValueError(
                    f"the path {path!r} is relative and the step names no service (action.meta.service)"
                )
            if not base_url or base_url.startswith("/"):
                raise ValueError(
                    f"service {service_name!r} has no baseUrl in this environment and the path {path!r} "
                    "is relative"
                )
            raise ValueError(f"baseUrl of service {service_name!r} has no scheme (http:// or https://)")
        url = path if "://" in path else base_url + ("/" + path.lstrip("/") if path else "")
        query = _query_items(request.query)
        if query:
            url += ("&" if "?" in url else "?") + urlencode(query)
        headers = dict(request.headers)
        if request.cookies:
            jar = "; ".join(f"{k}={_param_text(v)}" for k, v in request.cookies.items() if v is not None)
            existing = next((k for k in headers if k.lower() == "cookie"), None)
            headers[existing or "Cookie"] = f"{headers[existing]}; {jar}" if existing else jar
        kwargs: dict[str, Any] = {}
        has_ct = any(k.lower() == "content-type" for k in headers)
        if request.body_kind == "json":
            kwargs["content"] = json.dumps(request.body, separators=(",", ":"), ensure_ascii=False).encode()
            if not has_ct:
                headers["Content-Type"] = request.content_type or "application/json"
        elif request.body_kind == "form":
            form = request.body if isinstance(request.body, dict) else {}
            kwargs["content"] = urlencode(_query_items(form)).encode()
            if not has_ct:
                headers["Content-Type"] = "application/x-www-form-urlencoded"
        elif request.body_kind == "multipart":
            # Every part goes through ``files`` (plain fields with filename None): httpx would send
            # fields-only data as urlencoded otherwise.
            parts: list[tuple[str, Any]] = []
            for name, value in (request.body or {}).items():
                if isinstance(value, dict) and ("content" in value or "filename" in value):
                    content = value.get("content", "")
                    data = content.encode() if isinstance(content, str) else json.dumps(content).encode()
                    parts.append(
                        (
                            name,
                            (
                                value.get("filename", name),
                                data,
                                value.get("contentType", "application/octet-stream"),
                            ),
                        )
                    )
                else:
                    parts.append((name, (None, _param_text(value).encode())))
            kwargs["files"] = parts
            headers = {k: v for k, v in headers.items() if k.lower() != "content-type"}
        elif request.body_kind == "body":
            body = request.body
            if isinstance(body, dict | list):
                body = json.dumps(body, separators=(",", ":"))
            kwargs["content"] = body.encode() if isinstance(body, str) else (body or b"")
            if not has_ct and request.content_type:
                headers["Content-Type"] = request.content_type
        return client.build_request(request.method, url, headers=headers, timeout=timeout, **kwargs)

    @staticmethod
    def _summary(
        request: HttpRequestData,
        built: httpx.Request | None,
        sensitive_headers: set[str],
        sensitive_query: set[str],
        scope: TemplateScope,
        base: ResolvedBase,
    ) -> dict[str, Any]:
        secrets = scope.secrets_used
        sensitive = SENSITIVE_HEADERS | sensitive_headers
        headers_source: Mapping[str, str] = built.headers if built is not None else request.headers
        headers = {
            k: (REDACTED if k.lower() in sensitive else redact_text(v, secrets))
            for k, v in headers_source.items()
        }
        url = str(built.url) if built is not None else base.url + request.path
        summary: dict[str, Any] = {
            "method": request.method,
            "url": _redact_url(url, sensitive_query, secrets),
            "headers": headers,
        }
        if "://" not in request.path:  # which base the path was appended to, and why
            target = base.record()
            target["baseUrl"] = _redact_url(target["baseUrl"], set(), secrets)
            summary["target"] = target
        if request.body_kind is not None:
            summary["bodyKind"] = request.body_kind
            summary["body"] = redact_value(body_preview(request.body), secrets)
        return summary

    # ---- sending and checking ------------------------------------------------------------------

    def _send(
        self,
        step: ScenarioStepSpec,
        client: httpx.Client,
        http_request: httpx.Request,
        follow: bool,
        config: HttpPluginConfig,
        spec: SpecSummary | None,
        operation: Operation | None,
        result: StepResultData,
        scope: TemplateScope,
        sensitive_query: set[str],
        expected: StatusExpectation | None,
    ) -> None:
        fire_and_forget = step.action.mode == ActionMode.FIRE_AND_FORGET
        try:
            response = client.send(http_request, stream=True, follow_redirects=follow)
            try:
                result.actual_status_code = response.status_code
                result.response_headers = dict(response.headers)
                if response.history:
                    assert result.request is not None
                    result.request["redirects"] = [
                        _redact_url(str(r.url), sensitive_query, scope.secrets_used) for r in response.history
                    ]
                if fire_and_forget:
                    raw, truncated = b"", False
                else:
                    raw, truncated = self._read(response, config.max_body_bytes)
            finally:
                response.close()
        except httpx.TimeoutException as exc:
            code = {
                httpx.ConnectTimeout: "CONNECT_TIMEOUT",
                httpx.ReadTimeout: "READ_TIMEOUT",
                httpx.WriteTimeout: "WRITE_TIMEOUT",
                httpx.PoolTimeout: "POOL_TIMEOUT",
            }.get(type(exc), "TIMEOUT")
            timeout = http_request.extensions.get("timeout", {})
            url = _redact_url(str(http_request.url), set(), scope.secrets_used)
            what = code.lower().replace("_", " ")
            result.violations.append(
                _violation(
                    ViolationType.TIMEOUT,
                    code,
                    f"{http_request.method} {url} timed out ({what})",
                    timeout=timeout,
                )
            )
            return
        except httpx.TooManyRedirects:
            result.violations.append(
                _violation(
                    ViolationType.HTTP_ERROR,
                    "TOO_MANY_REDIRECTS",
                    f"more than {client.max_redirects} redirects",
                    maxRedirects=client.max_redirects,
                )
            )
            return
        except httpx.ConnectError as exc:
            text = str(exc)
            code = (
                "TLS_ERROR"
                if ("SSL" in text or "certificate" in text.lower())
                else ("CONNECTION_REFUSED" if "refused" in text.lower() else "CONNECTION_FAILED")
            )
            result.violations.append(
                _violation(
                    ViolationType.HTTP_ERROR,
                    code,
                    f"cannot connect to {http_request.url.host}:{http_request.url.port}:"
                    f" {redact_text(text, scope.secrets_used)}",
                    host=http_request.url.host,
                    port=http_request.url.port,
                )
            )
            return
        except httpx.RemoteProtocolError as exc:
            result.violations.append(
                _violation(
                    ViolationType.HTTP_ERROR,
                    "PROTOCOL_ERROR",
                    f"the server broke the HTTP protocol: {redact_text(str(exc), scope.secrets_used)}",
                )
            )
            return
        except httpx.HTTPError as exc:
            result.violations.append(
                _violation(
                    ViolationType.HTTP_ERROR,
                    "NETWORK_ERROR",
                    f"{type(exc).__name__}: {redact_text(str(exc), scope.secrets_used)}",
                )
            )
            return

        status = response.status_code
        if fire_and_forget:
            if expected is not None and not status_matches(expected, status):
                result.violations.append(_unexpected_status(expected, status))
            elif expected is None and status >= 500:
                result.violations.append(
                    _violation(
                        ViolationType.HTTP_ERROR,
                        "FIRE_AND_FORGET_REJECTED",
                        f"the request was not accepted: status {status}",
                        actual=status,
                    )
                )
            return

        content_type = response.headers.get("content-type")
        observed = self._observe(response, raw, truncated, content_type, http_request.method)
        result.response_body = observed.body
        result.response_truncated = truncated
        self._check_status(step, expected, status, result)
        if spec is not None and operation is not None and config.validate_responses:
            result.violations.extend(self.validator.validate_response(spec, operation, observed))
        subject = {
            "status": status,
            "headers": {k.lower(): v for k, v in response.headers.items()},
            "body": observed.body,
        }
        self._check_schema_refs(step, spec, subject, result)
        self._check_rules(step, subject, result)

    @staticmethod
    def _read(response: httpx.Response, cap: int) -> tuple[bytes, bool]:
        chunks: list[bytes] = []
        size = 0
        for chunk in response.iter_bytes():
            if size + len(chunk) > cap:
                chunks.append(chunk[: cap - size])
                return b"".join(chunks), True
            chunks.append(chunk)
            size += len(chunk)
        return b"".join(chunks), False

    @staticmethod
    def _observe(
        response: httpx.Response, raw: bytes, truncated: bool, content_type: str | None, method: str
    ) -> HttpResponseData:
        media = media_type(content_type)
        observed = HttpResponseData(
            status=response.status_code,
            headers=response.headers,
            content_type=content_type,
            body=None,
            empty=not raw,
            truncated=truncated,
            method=method,
        )
        if not raw:
            return observed
        looks_json = is_json_media(media) or (not media and raw[:1] in (b"{", b"["))
        if looks_json and not truncated:
            try:
                observed.body = json.loads(raw)
                observed.is_json = True
                return observed
            except ValueError as exc:
                observed.json_error = str(exc)
        charset = response.charset_encoding or "utf-8"
        try:
            observed.body = raw.decode(charset, errors="replace")
        except LookupError:
            observed.body = raw.decode("utf-8", errors="replace")
        return observed

    @staticmethod
    def _check_status(
        step: ScenarioStepSpec, expected: StatusExpectation | None, status: int, result: StepResultData
    ) -> None:
        if expected is not None:
            if not status_matches(expected, status):
                result.violations.append(_unexpected_status(expected, status))
            return
        if step.negative:
            if status < 400:
                result.violations.append(
                    _violation(
                        ViolationType.HTTP_ERROR,
                        "NEGATIVE_TEST_ACCEPTED",
                        f"a negative test expects the request to be rejected (4xx), got {status}",
                        actual=status,
                    )
                )
            elif status >= 500:
                result.violations.append(
                    _violation(
                        ViolationType.HTTP_ERROR, "HTTP_SERVER_ERROR", f"server error {status}", actual=status
                    )
                )
            return
        if status >= 500:
            result.violations.append(
                _violation(
                    ViolationType.HTTP_ERROR, "HTTP_SERVER_ERROR", f"server error {status}", actual=status
                )
            )
        elif status >= 400:
            result.violations.append(
                _violation(
                    ViolationType.HTTP_ERROR, "HTTP_CLIENT_ERROR", f"client error {status}", actual=status
                )
            )

    def _check_schema_refs(
        self,
        step: ScenarioStepSpec,
        spec: SpecSummary | None,
        subject: dict[str, Any],
        result: StepResultData,
    ) -> None:
        refs = step.expectations.schema_refs
        entries = [refs] if isinstance(refs, dict) else list(refs or [])
        if not entries:
            return
        if spec is None:
            result.violations.append(
                _violation(
                    ViolationType.VALIDATION_ERROR,
                    "NO_SPEC_FOR_SCHEMA_REFS",
                    "schemaRefs need the service's spec in the environment",
                )
            )
            return
        for i, entry in enumerate(entries):
            ref = entry if isinstance(entry, str) else entry.get("ref") if isinstance(entry, dict) else None
            path = entry.get("path", "$.body") if isinstance(entry, dict) else "$.body"
            if not isinstance(ref, str):
                result.violations.append(
                    _violation(
                        ViolationType.VALIDATION_ERROR,
                        "INVALID_SCHEMA_REF",
                        "schemaRefs entries are '#/components/schemas/Name' strings "
                        'or {"ref", "path"} objects',
                        pointer=f"/schemaRefs/{i}",
                    )
                )
                continue
            try:
                selector = parse_selector(path, f"/schemaRefs/{i}")
            except RuleError as exc:
                result.violations.append(
                    _violation(
                        ViolationType.VALIDATION_ERROR, "INVALID_SCHEMA_REF", exc.message, pointer=exc.pointer
                    )
                )
                continue
            for at, value in selector.select(subject, frozenset({"headers"})):
                result.violations.extend(self.validator.validate_schema_ref(spec, ref, value, at=at))

    @staticmethod
    def _check_rules(step: ScenarioStepSpec, subject: dict[str, Any], result: StepResultData) -> None:
        document = step.expectations.business_rules
        if not document:
            return
        try:
            rules = parse_rules(document)
        except RuleError as exc:
            result.violations.append(
                _violation(
                    ViolationType.VALIDATION_ERROR,
                    "INVALID_BUSINESS_RULE",
                    exc.message,
                    pointer="/expectations/businessRules" + (exc.pointer or ""),
                )
            )
            return
        result.violations.extend(rules.violations(subject))
