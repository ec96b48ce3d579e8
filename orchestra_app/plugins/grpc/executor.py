"""gRPC StepExecutor: a unary call built from descriptors, status codes and type checks as violations."""

from __future__ import annotations

import base64
import json
import shlex
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import grpc
from google.protobuf import json_format
from google.protobuf.message import DecodeError
from pydantic import Field, ValidationError

from orchestra_app.domain.errors import ConfigurationError, OrchestraError
from orchestra_app.domain.rules import RuleError, parse_rules
from orchestra_app.domain.secrets import REDACTED, SecretResolver, redact_text, redact_value
from orchestra_app.domain.spec import SpecSummary
from orchestra_app.domain.steps import (
    ActionMode,
    ScenarioStepSpec,
    StepResultData,
    StepStatus,
    Violation,
    ViolationType,
)
from orchestra_app.domain.templating import TemplateScope, render
from orchestra_app.plugins.base import PluginConfig, ServiceConfig, StepRunContext, TlsOptions
from orchestra_app.plugins.grpc.contract import GrpcContractValidator, parse_request
from orchestra_app.plugins.grpc.descriptors import (
    DescriptorError,
    MessageTypes,
    UnknownRpc,
    types_from_reflection,
    types_from_spec,
)

TEMPLATE_KEYS = {"message", "metadata", "rpc"}
# Metadata whose values are credentials whatever they hold.
SENSITIVE_METADATA = {
    "authorization",
    "proxy-authorization",
    "cookie",
    "x-api-key",
    "api-key",
    "x-auth-token",
}
# Codes a negative test expects: the server understood and refused the request.
CLIENT_CODES = {
    grpc.StatusCode.INVALID_ARGUMENT,
    grpc.StatusCode.NOT_FOUND,
    grpc.StatusCode.ALREADY_EXISTS,
    grpc.StatusCode.PERMISSION_DENIED,
    grpc.StatusCode.FAILED_PRECONDITION,
    grpc.StatusCode.OUT_OF_RANGE,
    grpc.StatusCode.UNAUTHENTICATED,
    grpc.StatusCode.RESOURCE_EXHAUSTED,
    grpc.StatusCode.ABORTED,
    grpc.StatusCode.CANCELLED,
}
CODES_BY_NUMBER = {code.value[0]: code for code in grpc.StatusCode}
CODES_BY_NAME = {code.name: code for code in grpc.StatusCode}
SECRET_ENV_PREFIX = "ORCHESTRA_SECRET_"


class GrpcPluginConfig(PluginConfig):
    """ExecutionEnvironment.plugin_config["grpc"]."""

    max_message_bytes: int = Field(default=4 * 1024 * 1024, alias="maxMessageBytes", gt=0)
    validate_responses: bool = Field(default=True, alias="validateResponses")
    reflection_timeout_s: float = Field(default=10.0, alias="reflectionTimeoutS", gt=0)
    user_agent: str = Field(default="orchestra-grpc/1", alias="userAgent")


def _violation(vtype: ViolationType, code: str, message: str, **details: Any) -> Violation:
    return Violation(type=vtype, code=code, message=message, details=details)


class _RecordingResolver:
    """Remembers which secret name gave which value, so the reproducer can name env vars instead."""

    def __init__(self, inner: SecretResolver | None) -> None:
        self.inner = inner
        self.names: dict[str, str] = {}

    def resolve(self, name: str) -> str:
        if self.inner is None:
            raise KeyError(f"secret {name!r} referenced but no secret resolver is configured")
        value = self.inner.resolve(name)
        self.names[value] = name
        return value


@dataclass
class Target:
    address: str  # what grpc.*_channel takes: host:port, dns:///host:port, unix:/path
    secure: bool


def parse_target(base_url: str, options: Mapping[str, Any]) -> Target:
    """grpc://host:port and http:// are plaintext; grpcs:// and https:// use TLS; a bare host:port uses TLS
    unless ``options.plaintext`` (grpcurl's default)."""
    url = base_url.strip()
    if not url:
        raise ConfigurationError("the service has no baseUrl (e.g. grpc://localhost:50051)", field="baseUrl")
    plaintext_option = options.get("plaintext")
    if url.startswith(("unix:", "dns:")):
        return Target(url, not bool(plaintext_option))
    if "://" in url:
        parts = urlsplit(url)
        scheme = parts.scheme.lower()
        if scheme not in ("grpc", "grpcs", "http", "https"):
            raise ConfigurationError(
                f"baseUrl scheme {scheme!r} is not a gRPC scheme (grpc, grpcs, http, https)", field="baseUrl"
            )
        try:
            port = parts.port
        except ValueError:
            raise ConfigurationError(f"baseUrl {url!r} has an invalid port", field="baseUrl") from None
        if not parts.hostname:
            raise ConfigurationError(f"baseUrl {url!r} has no host", field="baseUrl")
        secure = scheme in ("grpcs", "https")
        host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
        return Target(f"{host}:{port or (443 if secure else 80)}", secure)
    if ":" not in url:
        raise ConfigurationError(f"baseUrl {url!r} needs a port (host:port)", field="baseUrl")
    return Target(url, not bool(plaintext_option))


def _read(path: str | None, what: str) -> bytes | None:
    if not path:
        return None
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise ConfigurationError(f"cannot read the TLS {what}: {exc.strerror or exc}", file=path) from None


def channel_credentials(tls: TlsOptions) -> grpc.ChannelCredentials:
    if not tls.verify:
        raise ConfigurationError(
            "tls.verify=false is not possible with grpcio; trust the server's certificate with tls.caBundle",
            field="tls.verify",
        )
    return grpc.ssl_channel_credentials(
        root_certificates=_read(tls.ca_bundle, "CA bundle"),
        private_key=_read(tls.client_key or tls.client_cert, "client key") if tls.client_cert else None,
        certificate_chain=_read(tls.client_cert, "client certificate"),
    )


def _metadata_value(key: str, value: Any) -> str | bytes:
    if key.endswith("-bin"):
        if isinstance(value, bytes):
            return value
        try:
            return base64.b64decode(str(value), validate=True)
        except ValueError:
            raise ConfigurationError(
                f"metadata {key!r} ends in -bin: give its value as base64", field=key
            ) from None
    if isinstance(value, str):
        return value
    return json.dumps(value, separators=(",", ":")) if isinstance(value, dict | list) else str(value)


def _valid_key(key: str) -> bool:
    return bool(key) and all(c.isascii() and (c.isalnum() or c in "-_.") for c in key) and key[0] != ":"


def _observed_metadata(*parts: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for items in parts:
        for key, value in items or ():
            text = base64.b64encode(value).decode() if isinstance(value, bytes) else value
            if key in out:
                out[key] = [*out[key], text] if isinstance(out[key], list) else [out[key], text]
            else:
                out[key] = text
    return out


class GrpcStepExecutor:
    def __init__(self, validator: GrpcContractValidator | None = None, *, plugin_id: str = "grpc") -> None:
        self.validator = validator or GrpcContractValidator()
        self.plugin_id = plugin_id

    def _config(self, run: StepRunContext) -> GrpcPluginConfig:
        env = run.environment
        return env.resource(
            f"{self.plugin_id}:config",
            lambda: GrpcPluginConfig.model_validate(env.plugin_config.get(self.plugin_id, {})),
        )

    def _channel(
        self, run: StepRunContext, service_name: str, service: ServiceConfig, config: GrpcPluginConfig
    ) -> tuple[grpc.Channel, Target]:
        target = parse_target(service.base_url, service.options)
        authority = service.options.get("authority")

        def make() -> grpc.Channel:
            options: list[tuple[str, Any]] = [
                ("grpc.max_receive_message_length", config.max_message_bytes),
                ("grpc.max_send_message_length", config.max_message_bytes),
                ("grpc.primary_user_agent", config.user_agent),
                ("grpc.enable_http_proxy", 0),  # tests reach the system under test, not a proxy
            ]
            if isinstance(authority, str) and authority:
                options.append(("grpc.default_authority", authority))
                if target.secure:
                    options.append(("grpc.ssl_target_name_override", authority))
            if target.secure:
                return grpc.secure_channel(target.address, channel_credentials(service.tls), options=options)
            return grpc.insecure_channel(target.address, options=options)

        return run.environment.resource(f"{self.plugin_id}:channel:{service_name}", make), target

    # ---- the step ------------------------------------------------------------------------------

    def execute(self, step: ScenarioStepSpec, run: StepRunContext) -> StepResultData:
        started = time.perf_counter()
        result = StepResultData(step_id=step.id, step_alias=step.alias, status=StepStatus.RUNNING)
        scope = run.template_scope()
        recorder = _RecordingResolver(scope.secrets)
        scope.secrets = recorder
        try:
            self._execute(step, run, result, scope, recorder)
        except ValidationError as exc:  # plugin_config.grpc of the environment
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first.get("loc", ()))
            result.violations.append(
                _violation(
                    ViolationType.VALIDATION_ERROR,
                    "CONFIGURATION_ERROR",
                    f"plugin_config.{self.plugin_id}.{where}: {first.get('msg', 'invalid')}",
                    field=f"plugin_config.{self.plugin_id}.{where}",
                )
            )
        except OrchestraError as exc:  # configuration problems: the step fails with a readable reason
            details = {k: v for k, v in exc.to_dict().items() if k != "message"}
            code = (
                "UNKNOWN_RPC"
                if isinstance(exc, UnknownRpc)
                else "NO_DESCRIPTORS"
                if isinstance(exc, DescriptorError)
                else "CONFIGURATION_ERROR"
            )
            result.violations.append(_violation(ViolationType.VALIDATION_ERROR, code, str(exc), **details))
        secrets = scope.secrets_used | set(recorder.names)
        if secrets:
            _redact_result(result, secrets)
        result.duration_ms = round((time.perf_counter() - started) * 1000)
        result.status = StepStatus.FAILED if result.violations else StepStatus.PASSED
        return result

    def _execute(
        self,
        step: ScenarioStepSpec,
        run: StepRunContext,
        result: StepResultData,
        scope: TemplateScope,
        recorder: _RecordingResolver,
    ) -> None:
        config = self._config(run)
        env = run.environment
        ref = step.endpoint_ref
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
        service_name = ref.service_name if ref else str(step.action.meta.get("service", ""))
        if not service_name:
            raise ConfigurationError(
                "the step names no service: bind it to an rpc or set action.meta.service", field="service"
            )
        service = env.service(service_name)
        rpc_name = (ref.endpoint_name if ref else "") or template.get("rpc") or step.action.meta.get("rpc")
        if not isinstance(rpc_name, str) or not rpc_name.strip():
            result.violations.append(
                _violation(
                    ViolationType.VALIDATION_ERROR,
                    "MISSING_RPC",
                    "the step is not bound to an rpc and inputTemplate.rpc is not set (pkg.Service/Method)",
                    pointer="/action/inputTemplate/rpc",
                )
            )
            return
        try:
            rendered = render(
                {k: v for k, v in template.items() if k != "rpc"}, scope, "/action/inputTemplate"
            )
            headers = {
                **(render(service.headers, scope, "/environment/headers") if service.headers else {}),
                **render(step.action.meta.get("headers") or {}, scope, "/action/meta/headers"),
            }
        except OrchestraError as exc:
            result.violations.append(
                _violation(ViolationType.VALIDATION_ERROR, "TEMPLATE_ERROR", exc.message, pointer=exc.pointer)
            )
            return
        template_metadata = rendered.get("metadata") or {}
        message_json = rendered.get("message", {})
        if not isinstance(template_metadata, dict) or not isinstance(message_json, dict):
            bad = "metadata" if not isinstance(template_metadata, dict) else "message"
            result.violations.append(
                _violation(
                    ViolationType.VALIDATION_ERROR,
                    "INVALID_TEMPLATE",
                    f"{bad} must be an object",
                    pointer=f"/action/inputTemplate/{bad}",
                )
            )
            return
        channel, target = self._channel(run, service_name, service, config)
        timeout_s = self._timeout(step, service)
        remaining = getattr(run, "remaining_s", None)  # the engine's per-step limit, when it sets one
        left = remaining() if callable(remaining) else None
        if isinstance(left, int | float) and 0 < left < timeout_s:
            timeout_s = float(left)
        auth_headers, sensitive = self._auth(service, scope, timeout_s)
        metadata: list[tuple[str, str | bytes]] = []
        shown: dict[str, Any] = {}
        for key, value in {**headers, **template_metadata, **auth_headers}.items():
            name = str(key).lower()
            if not _valid_key(name):
                result.violations.append(
                    _violation(
                        ViolationType.VALIDATION_ERROR,
                        "INVALID_METADATA",
                        f"metadata key {key!r} is not valid (lower-case letters, digits, '-', '_', '.')",
                        pointer=f"/action/inputTemplate/metadata/{key}",
                    )
                )
                return
            if value is None:
                continue
            metadata.append((name, _metadata_value(name, value)))
            shown[name] = REDACTED if name in SENSITIVE_METADATA | sensitive else value

        spec = run.spec_for(service_name)
        types = self._types(run, service_name, service, rpc_name, channel, metadata, config)
        method = types.method(rpc_name)
        path = f"/{method.containing_service.full_name}/{method.name}"
        if method.client_streaming or method.server_streaming:
            result.violations.append(
                _violation(
                    ViolationType.VALIDATION_ERROR,
                    "UNSUPPORTED_STREAMING",
                    f"{path} is a streaming rpc; the grpc plugin calls unary rpcs only",
                    rpc=path,
                )
            )
            return
        request, problems = parse_request(types, method.input_type, message_json)
        summary: dict[str, Any] = {
            "rpc": path,
            "target": target.address,
            "tls": target.secure,
            "metadata": shown,
            "message": message_json,
            "deadlineMs": round(timeout_s * 1000),
            "descriptors": types.source,
        }
        summary["reproducer"] = self._reproducer(
            target, service, path, message_json, metadata, recorder, spec, types, timeout_s
        )
        result.request = summary
        if problems:
            result.violations.extend(problems)
            return
        self._call(step, channel, path, request, metadata, timeout_s, types, method, config, result)

    # ---- pieces ----------------------------------------------------------------------------------

    @staticmethod
    def _timeout(step: ScenarioStepSpec, service: ServiceConfig) -> float:
        meta = step.action.meta
        if isinstance(meta.get("timeoutMs"), int | float) and meta["timeoutMs"] > 0:
            return float(meta["timeoutMs"]) / 1000
        if isinstance(meta.get("timeout"), int | float) and meta["timeout"] > 0:
            return float(meta["timeout"])
        return service.timeout_s

    @staticmethod
    def _auth(
        service: ServiceConfig, scope: TemplateScope, timeout_s: float
    ) -> tuple[dict[str, str], set[str]]:
        if service.auth is None:
            return {}, set()
        import httpx

        from orchestra_app.plugins.http.auth import AuthFailed, TokenCache, prepare_auth

        with httpx.Client(trust_env=False) as client:
            try:
                parts = prepare_auth(
                    service.auth,
                    scope,
                    client=client,
                    base_url="",
                    cache=TokenCache(),
                    timeout=httpx.Timeout(timeout_s),
                )
            except AuthFailed as exc:
                raise ConfigurationError(exc.violation.message, field="auth") from None
        if parts.query or parts.cookies:
            raise ConfigurationError("gRPC carries credentials in metadata only: use apiKey with in: header")
        return {k.lower(): v for k, v in parts.headers.items()}, {k.lower() for k in parts.sensitive_headers}

    def _types(
        self,
        run: StepRunContext,
        service_name: str,
        service: ServiceConfig,
        rpc_name: str,
        channel: grpc.Channel,
        metadata: list[tuple[str, str | bytes]],
        config: GrpcPluginConfig,
    ) -> MessageTypes:
        spec = run.spec_for(service_name)
        use_reflection = service.options.get("reflection")
        if use_reflection is True or (spec is None and use_reflection is not False):
            name = rpc_name.strip().lstrip("/")
            wanted = name.rpartition("/")[0] or name.rpartition(".")[0]
            text_metadata = [(k, v) for k, v in metadata if isinstance(v, str)]
            # Asked once per environment and service; a failure is not cached, so the next step retries.
            return run.environment.resource(
                f"{self.plugin_id}:reflection:{service_name}:{wanted}",
                lambda: types_from_reflection(
                    channel, [wanted], timeout=config.reflection_timeout_s, metadata=text_metadata
                ),
            )
        if spec is None:
            raise DescriptorError(
                "no spec is bound to the service and reflection is off (options.reflection)"
            )
        encoded = (spec.model_extra or {}).get("descriptorSet")
        if not isinstance(encoded, str):
            reasons = [w.message for w in spec.warnings if w.code == "not_compiled"]
            why = f": {reasons[0]}" if reasons else ""
            raise DescriptorError(
                "the service's spec has no compiled descriptors; re-import it with its imports or set "
                f"options.reflection = true{why}"
            )
        return types_from_spec(encoded)

    def _call(
        self,
        step: ScenarioStepSpec,
        channel: grpc.Channel,
        path: str,
        request: Any,
        metadata: list[tuple[str, str | bytes]],
        timeout_s: float,
        types: MessageTypes,
        method: Any,
        config: GrpcPluginConfig,
        result: StepResultData,
    ) -> None:
        call = channel.unary_unary(path, request_serializer=lambda m: m.SerializeToString())
        code = grpc.StatusCode.OK
        details = ""
        raw: bytes | None = None
        try:
            raw, outcome = call.with_call(request, timeout=timeout_s, metadata=metadata)
            initial, trailing = outcome.initial_metadata(), outcome.trailing_metadata()
        except grpc.RpcError as exc:
            code = exc.code() or grpc.StatusCode.UNKNOWN
            details = exc.details() or ""
            initial = exc.initial_metadata() if hasattr(exc, "initial_metadata") else ()
            trailing = exc.trailing_metadata() if hasattr(exc, "trailing_metadata") else ()
        result.actual_status_code = code.value[0]
        result.response_headers = _observed_metadata(initial, trailing)
        body: Any = None
        if raw is not None and step.action.mode != ActionMode.FIRE_AND_FORGET:
            body = self._read_response(raw, types, method, config, result)
            result.response_body = body
        self._check_status(step, code, details, path, timeout_s, result)
        subject = {
            "status": code.value[0],
            "statusName": code.name,
            "details": details,
            "headers": result.response_headers,
            "body": body,
        }
        _check_rules(step, subject, result)

    def _read_response(
        self, raw: bytes, types: MessageTypes, method: Any, config: GrpcPluginConfig, result: StepResultData
    ) -> Any:
        cls = types.message_class(method.output_type)
        try:
            message = cls.FromString(raw)
        except DecodeError as exc:
            result.violations.append(
                _violation(
                    ViolationType.CONTRACT_VIOLATION,
                    "RESPONSE_DECODE_ERROR",
                    f"the response is not a valid {method.output_type.full_name}: {exc}",
                    messageType=method.output_type.full_name,
                    bytes=len(raw),
                )
            )
            return base64.b64encode(raw[:2048]).decode()
        if config.validate_responses:
            result.violations.extend(self.validator.check_message(message, method.output_type.full_name))
        return json_format.MessageToDict(
            message, always_print_fields_with_no_presence=True, descriptor_pool=types.pool
        )

    @staticmethod
    def _check_status(
        step: ScenarioStepSpec,
        code: grpc.StatusCode,
        details: str,
        path: str,
        timeout_s: float,
        result: StepResultData,
    ) -> None:
        expected = _expected_codes(step)
        facts = {"grpcStatus": code.name, "grpcCode": code.value[0], "grpcMessage": details, "rpc": path}
        if expected is not None:
            if code not in expected:
                names = sorted(c.name for c in expected)
                result.violations.append(
                    _violation(
                        ViolationType.HTTP_ERROR,
                        "UNEXPECTED_STATUS",
                        f"expected status {' or '.join(names)}, got {code.name}"
                        + (f": {details}" if details else ""),
                        expected=names,
                        actual=code.name,
                        **facts,
                    )
                )
            return
        if code == grpc.StatusCode.OK:
            if step.negative:
                result.violations.append(
                    _violation(
                        ViolationType.HTTP_ERROR,
                        "NEGATIVE_TEST_ACCEPTED",
                        f"a negative test expects {path} to be refused, got OK",
                        **facts,
                    )
                )
            return
        if step.negative and code in CLIENT_CODES:
            return
        if code == grpc.StatusCode.DEADLINE_EXCEEDED:
            result.violations.append(
                _violation(
                    ViolationType.TIMEOUT,
                    "GRPC_DEADLINE_EXCEEDED",
                    f"{path} did not answer within its {round(timeout_s * 1000)} ms deadline",
                    deadlineMs=round(timeout_s * 1000),
                    **facts,
                )
            )
            return
        result.violations.append(
            _violation(
                ViolationType.HTTP_ERROR,
                f"GRPC_{code.name}",
                f"{path} failed with {code.name}" + (f": {details}" if details else ""),
                **facts,
            )
        )

    @staticmethod
    def _reproducer(
        target: Target,
        service: ServiceConfig,
        path: str,
        message: Any,
        metadata: list[tuple[str, str | bytes]],
        recorder: _RecordingResolver,
        spec: SpecSummary | None,
        types: MessageTypes,
        timeout_s: float,
    ) -> str:
        """A grpcurl command line; secrets become ``$ORCHESTRA_SECRET_<NAME>`` references."""

        def arg(text: str) -> str:
            refs = {v: n for v, n in recorder.names.items() if v and v in text}
            if not refs:
                return shlex.quote(text)
            for value, name in sorted(refs.items(), key=lambda item: -len(item[0])):
                text = text.replace(value, "\0" + name + "\0")
            out = []
            for i, piece in enumerate(text.split("\0")):
                if i % 2:
                    out.append("${" + SECRET_ENV_PREFIX + piece + "}")
                else:
                    out.append(
                        piece.replace("\\", "\\\\")
                        .replace('"', '\\"')
                        .replace("$", "\\$")
                        .replace("`", "\\`")
                    )
            return '"' + "".join(out) + '"'

        parts = ["grpcurl"]
        if not target.secure:
            parts.append("-plaintext")
        else:
            if service.tls.ca_bundle:
                parts += ["-cacert", shlex.quote(service.tls.ca_bundle)]
            if service.tls.client_cert:
                parts += ["-cert", shlex.quote(service.tls.client_cert)]
                parts += ["-key", shlex.quote(service.tls.client_key or service.tls.client_cert)]
        authority = service.options.get("authority")
        if isinstance(authority, str) and authority:
            parts += ["-authority", shlex.quote(authority)]
        if types.source == "spec" and spec is not None:
            root = (spec.model_extra or {}).get("descriptorRoot")
            if isinstance(root, str):
                parts += ["-import-path", ".", "-proto", shlex.quote(root)]
        parts += ["-max-time", f"{timeout_s:g}"]
        for key, value in metadata:
            text = base64.b64encode(value).decode() if isinstance(value, bytes) else value
            pair = _basic_pair(text) if key == "authorization" else None
            if pair is not None and any(v and v in pair for v in recorder.names):
                # Basic credentials from secret references: encoded by the shell from the env vars.
                parts += ["-H", f'"authorization: Basic $(printf %s {arg(pair)} | base64 -w0)"']
                continue
            parts += ["-H", arg(f"{key}: {text}")]
        parts += ["-d", arg(json.dumps(message, separators=(",", ":"), ensure_ascii=False))]
        parts += [shlex.quote(target.address), shlex.quote(path.lstrip("/"))]
        return " ".join(parts)


def _basic_pair(value: str) -> str | None:
    if not value.startswith("Basic "):
        return None
    try:
        return base64.b64decode(value[6:], validate=True).decode()
    except ValueError:
        return None


def _expected_codes(step: ScenarioStepSpec) -> set[grpc.StatusCode] | None:
    """``action.meta.expectedStatus``: a name such as NOT_FOUND, a number (0-16), or a list of them.

    ``expectations.expectedStatusCode`` holds HTTP statuses (100-599) and is refused on gRPC steps,
    so an HTTP code copied into a gRPC step cannot silently never match."""
    wanted: list[Any] = []
    if step.expectations.expected_status_code is not None:
        raise ConfigurationError(
            "expectations.expectedStatusCode is an HTTP status; a gRPC step gives its expected status "
            "in action.meta.expectedStatus (a gRPC code 0-16 or a name such as NOT_FOUND)",
            field="expectedStatusCode",
        )
    meta = step.action.meta.get("expectedStatus")
    if meta is not None:
        wanted.extend(meta if isinstance(meta, list) else [meta])
    if not wanted:
        return None
    codes: set[grpc.StatusCode] = set()
    for item in wanted:
        code = (
            CODES_BY_NUMBER.get(item)
            if isinstance(item, int)
            else CODES_BY_NAME.get(str(item).upper().removeprefix("GRPC_"))
        )
        if code is None:
            raise ConfigurationError(
                f"expected status {item!r} is not a gRPC status (0-16 or a name such as NOT_FOUND)",
                field="expectedStatus",
            )
        codes.add(code)
    return codes


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


def _redact_result(result: StepResultData, secrets: set[str]) -> None:
    """No resolved secret stays anywhere in the result (a server may echo a credential back). The
    reproducer already names secrets by env var, so redaction leaves its references intact."""
    for violation in result.violations:
        violation.message = redact_text(violation.message, secrets)
        violation.details = redact_value(violation.details, secrets)
    if result.request is not None:
        result.request = redact_value(result.request, secrets)
    if result.response_headers is not None:
        result.response_headers = redact_value(result.response_headers, secrets)
    if result.response_body is not None:
        result.response_body = redact_value(result.response_body, secrets)
