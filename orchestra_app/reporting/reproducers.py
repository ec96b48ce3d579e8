"""Shell commands that repeat a failing step by hand: curl (HTTP), grpcurl (gRPC), kcat (Kafka),
psql / mysql (DB), rabbitmqadmin / redis-cli (queues).

Secrets never appear: the stored request already has them as ``***`` (the plugins redact what they
sent), and every credential the environment references is written as a shell variable reference,
``"${ORCHESTRA_SECRET_<NAME>}"`` (or the variable an environment file maps the secret to), so the
command runs as soon as the developer exports that variable. A value still redacted whose secret is
unknown becomes ``"${ORCHESTRA_REDACTED_<FIELD>}"``, never the ``***`` text itself.
"""

from __future__ import annotations

import json
import re
import shlex
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from orchestra_app.domain.runs import PinnedEnvironment
from orchestra_app.domain.secrets import REDACTED, secret_ref_name

SECRET_ENV_PREFIX = "ORCHESTRA_SECRET_"
_TEMPLATE_SECRET = re.compile(r"^\{\{\s*secret\s*:\s*([A-Za-z0-9_.-]+)\s*\}\}$")
_NOT_VAR = re.compile(r"[^A-Za-z0-9_]")


@dataclass(frozen=True)
class Reproducer:
    tool: str
    command: str
    note: str = ""

    def to_dict(self) -> dict[str, str]:
        return {"tool": self.tool, "command": self.command, "note": self.note}


def _var(name: str) -> str:
    return _NOT_VAR.sub("_", name).upper()


def secret_name(value: Any) -> str | None:
    """The secret a templated value references (``{"secret": N}`` or ``"{{secret:N}}"``), else None."""
    if (name := secret_ref_name(value)) is not None:
        return name
    if isinstance(value, str) and (m := _TEMPLATE_SECRET.match(value.strip())):
        return m.group(1)
    return None


def env_var_for(value: Any, environment: PinnedEnvironment, fallback: str) -> str:
    """The environment variable a developer sets for a credential (``fallback`` names an unknown one)."""
    name = secret_name(value)
    if name is None:
        return "ORCHESTRA_REDACTED_" + _var(fallback)
    return environment.secret_env.get(name) or SECRET_ENV_PREFIX + _var(name)


class Arg:
    """One shell word built from literal text and ``${VAR}`` references (quoted safely)."""

    def __init__(self) -> None:
        self.parts: list[tuple[bool, str]] = []  # (is_var, text)

    def text(self, value: str) -> Arg:
        self.parts.append((False, value))
        return self

    def var(self, name: str) -> Arg:
        self.parts.append((True, name))
        return self

    def render(self) -> str:
        if not any(is_var for is_var, _ in self.parts):
            return shlex.quote("".join(t for _, t in self.parts))
        out = []
        for is_var, text in self.parts:
            if is_var:
                out.append("${" + text + "}")
            else:
                out.append(
                    text.replace("\\", "\\\\").replace('"', '\\"').replace("$", "\\$").replace("`", "\\`")
                )
        return '"' + "".join(out) + '"'


def _with_redactions(text: str, var: str) -> Arg:
    """``text`` with every ``***`` replaced by ``${var}``."""
    arg = Arg()
    pieces = text.split(REDACTED)
    for i, piece in enumerate(pieces):
        if i:
            arg.var(var)
        if piece:
            arg.text(piece)
    return arg


def _service_auth(environment: PinnedEnvironment, service: str) -> dict[str, Any]:
    config = environment.services.get(service) or {}
    auth = config.get("auth") if isinstance(config, dict) else None
    return auth if isinstance(auth, dict) else {}


def _auth_header(auth: dict[str, Any], environment: PinnedEnvironment) -> tuple[str, Arg] | None:
    kind = auth.get("type")
    if kind == "bearer":
        return "authorization", Arg().text("Authorization: Bearer ").var(
            env_var_for(auth.get("token"), environment, "token")
        )
    if kind == "oauth2ClientCredentials":
        return "authorization", Arg().text("Authorization: Bearer ").var("ORCHESTRA_ACCESS_TOKEN")
    if kind == "apiKey" and auth.get("in", "header") == "header" and isinstance(auth.get("name"), str):
        name = auth["name"]
        return name.lower(), Arg().text(f"{name}: ").var(env_var_for(auth.get("value"), environment, name))
    return None


def http_reproducer(
    request: dict[str, Any], *, service: str, environment: PinnedEnvironment
) -> Reproducer | None:
    """curl from a step's recorded request (method, url, headers, body)."""
    url = request.get("url")
    if not isinstance(url, str) or not url:
        return None
    auth = _service_auth(environment, service)
    words = ["curl", "-sS", "-i", "-X", shlex.quote(str(request.get("method") or "GET").upper())]
    notes: list[str] = []
    handled = _auth_header(auth, environment)
    if auth.get("type") == "basic":
        user = auth.get("username")
        user_arg = (
            Arg().var(env_var_for(user, environment, "username"))
            if secret_name(user)
            else Arg().text(str(user or ""))
        )
        user_arg.text(":").var(env_var_for(auth.get("password"), environment, "password"))
        words += ["-u", user_arg.render()]
    if auth.get("type") == "oauth2ClientCredentials":
        notes.append(
            f"get a token from {auth.get('token_url') or auth.get('tokenUrl')} into ORCHESTRA_ACCESS_TOKEN"
        )
    headers = request.get("headers") or {}
    for name, value in headers.items():
        lower = str(name).lower()
        if lower in ("content-length", "host", "accept-encoding", "connection", "user-agent"):
            continue
        if handled and lower == handled[0]:
            words += ["-H", handled[1].render()]
            continue
        if lower == "authorization" and auth.get("type") == "basic":
            continue  # -u carries it
        header_value = str(value)
        if REDACTED in header_value:
            words += [
                "-H",
                _with_redactions(f"{name}: {header_value}", "ORCHESTRA_REDACTED_" + _var(name)).render(),
            ]
        else:
            words += ["-H", shlex.quote(f"{name}: {header_value}")]
    if handled and handled[0] not in {str(k).lower() for k in headers}:
        words += ["-H", handled[1].render()]
    body = request.get("body")
    if body is not None and request.get("bodyKind") != "none":
        text = body if isinstance(body, str) else json.dumps(body, ensure_ascii=False)
        words += ["--data-binary", _with_redactions(text, "ORCHESTRA_REDACTED_BODY").render()]
    api_key_query = auth.get("name") if auth.get("type") == "apiKey" and auth.get("in") == "query" else None
    url_arg = Arg()
    if api_key_query and REDACTED in url:
        url_arg = _with_redactions(url, env_var_for(auth.get("value"), environment, str(api_key_query)))
    else:
        url_arg = _with_redactions(url, "ORCHESTRA_REDACTED_URL")
    words.append(url_arg.render())
    return Reproducer("curl", " ".join(words), "; ".join(notes))


def grpc_reproducer(request: dict[str, Any]) -> Reproducer | None:
    """The gRPC plugin records its own grpcurl line (secrets already as variable references)."""
    command = request.get("reproducer")
    if isinstance(command, str) and command and REDACTED not in command:
        return Reproducer("grpcurl", command)
    return None


def _profile(environment: PinnedEnvironment, kind: str, alias: Any) -> dict[str, Any]:
    profiles = environment.profiles.get(kind) or {}
    found = profiles.get(str(alias)) if alias is not None else None
    return found if isinstance(found, dict) else {}


def db_reproducer(
    db_result: dict[str, Any], meta: dict[str, Any], environment: PinnedEnvironment
) -> Reproducer | None:
    """psql (PostgreSQL) or mysql (MariaDB/MySQL) running the step's query with its bound values."""
    sql = db_result.get("sql") or meta.get("sql")
    if not isinstance(sql, str):
        return None
    alias = db_result.get("dataSource") or meta.get("dataSource")
    profile = _profile(environment, "db", alias)
    url = str(profile.get("url") or "").removeprefix("jdbc:")
    parts = urlsplit(url) if url else None
    params = [p.get("value") for p in db_result.get("parameters") or [] if isinstance(p, dict)]
    user = profile.get("username")
    password_var = env_var_for(profile.get("password"), environment, f"{alias}_password")
    dialect = str(db_result.get("dialect") or (parts.scheme if parts else "postgresql"))
    if dialect.startswith(("mysql", "mariadb")):
        words = ["mysql", "--protocol=TCP"]
        if parts and parts.hostname:
            words += ["-h", shlex.quote(parts.hostname)]
        if parts and parts.port:
            words += ["-P", str(parts.port)]
        if user is not None:
            words += [
                "-u",
                Arg().var(env_var_for(user, environment, "user")).render()
                if secret_name(user)
                else shlex.quote(str(user)),
            ]
        words.insert(0, "MYSQL_PWD=" + Arg().var(password_var).render())
        if parts and parts.path.strip("/"):
            words.append(shlex.quote(parts.path.strip("/")))
        words += ["-e", shlex.quote(sql)]
        note = (
            f"put the bound values in place of the ?/%s markers, in order: {json.dumps(params, default=str)}"
            if params
            else ""
        )
        return Reproducer("mysql", " ".join(words), note)
    conn = ""
    if parts and parts.hostname:
        conn = f"postgresql://{parts.hostname}{':' + str(parts.port) if parts.port else ''}{parts.path}"
    words = ["PGPASSWORD=" + Arg().var(password_var).render(), "psql", "-X", "-v", "ON_ERROR_STOP=1"]
    if user is not None:
        words += ["-U", _user_arg(user, environment)]
    if conn:
        words += ["-d", shlex.quote(conn)]
    if params:
        # psql variables :'p1' ... quote the bound values; psql interpolates them in what it reads
        # from standard input (not in -c), so the query is piped in
        for i, value in enumerate(params, 1):
            words += ["-v", shlex.quote(f"p{i}={'' if value is None else value}")]
        counter = iter(range(1, len(params) + 1))
        sql = re.sub(r"%s|\?", lambda _m: f":'p{next(counter, len(params))}'", sql)
    return Reproducer("psql", f"printf '%s\\n' {shlex.quote(sql)} | " + " ".join(words))


def _user_arg(user: Any, environment: PinnedEnvironment) -> str:
    if secret_name(user):
        return Arg().var(env_var_for(user, environment, "user")).render()
    return shlex.quote(str(user))


def _kafka_security(profile: dict[str, Any], environment: PinnedEnvironment) -> list[str]:
    words = []
    for key, value in sorted((profile.get("security") or {}).items()):
        if secret_name(value):
            words += ["-X", Arg().text(f"{key}=").var(env_var_for(value, environment, key)).render()]
        else:
            words += ["-X", shlex.quote(f"{key}={value}")]
    return words


def kafka_reproducer(
    step_kind: str, request: dict[str, Any] | None, meta: dict[str, Any], environment: PinnedEnvironment
) -> Reproducer | None:
    """kcat: publish the step's record again (ACTION), or read the topic's latest records (ASSERTION)."""
    topic = (request or {}).get("topic") or meta.get("topic")
    if not topic:
        return None
    profile = _profile(environment, "kafka", meta.get("clusterAlias"))
    brokers = str(profile.get("bootstrap_servers") or profile.get("bootstrapServers") or "localhost:9092")
    base = [
        "kcat",
        "-b",
        shlex.quote(brokers),
        *_kafka_security(profile, environment),
        "-t",
        shlex.quote(str(topic)),
    ]
    if step_kind == "ACTION" and request is not None:
        value = request.get("value")
        text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
        key = request.get("key")
        words = [*base, "-P"]
        if key is not None:
            words += ["-K", shlex.quote("\t")]
            text = f"{key}\t{text}"
        return Reproducer(
            "kcat",
            f"printf '%s\\n' {_with_redactions(text, 'ORCHESTRA_REDACTED_VALUE').render()} | "
            + " ".join(words),
        )
    words = [*base, "-C", "-o", "-100", "-e", "-q", "-f", shlex.quote("%T %k %h %s\\n")]
    note = "the last 100 records of each partition: key, headers, value"
    return Reproducer("kcat", " ".join(words), note)


def queue_reproducer(
    step_kind: str, request: dict[str, Any] | None, meta: dict[str, Any], environment: PinnedEnvironment
) -> Reproducer | None:
    """rabbitmqadmin (RabbitMQ) or redis-cli (Redis streams) publishing the message again / reading."""
    profile = _profile(environment, "queue", meta.get("brokerAlias"))
    endpoint = urlsplit(str(profile.get("endpoint") or ""))
    user, password = profile.get("username"), profile.get("password")
    if profile.get("kind") == "redis" or (request or {}).get("stream") or meta.get("stream"):
        stream = (request or {}).get("stream") or meta.get("stream") or ""
        words = [
            "REDISCLI_AUTH=" + Arg().var(env_var_for(password, environment, "redis_password")).render(),
            "redis-cli",
        ]
        if endpoint.hostname:
            words += ["-h", shlex.quote(endpoint.hostname), "-p", str(endpoint.port or 6379)]
        if step_kind == "ACTION" and request is not None:
            fields = request.get("fields") or {}
            words += ["XADD", shlex.quote(str(stream)), "'*'"]
            for k, v in fields.items():
                words += [
                    shlex.quote(str(k)),
                    _with_redactions(
                        v if isinstance(v, str) else json.dumps(v), "ORCHESTRA_REDACTED_FIELD"
                    ).render(),
                ]
        else:
            words += ["XREVRANGE", shlex.quote(str(stream)), "+", "-", "COUNT", "20"]
        return Reproducer("redis-cli", " ".join(words))
    words = ["rabbitmqadmin"]
    if endpoint.hostname:
        words += ["-H", shlex.quote(endpoint.hostname)]
    if user is not None:
        words += [
            "-u",
            Arg().var(env_var_for(user, environment, "user")).render()
            if secret_name(user)
            else shlex.quote(str(user)),
        ]
    words += ["-p", Arg().var(env_var_for(password, environment, "amqp_password")).render()]
    vhost = endpoint.path.strip("/")
    if vhost:
        words += ["-V", shlex.quote(vhost)]
    if step_kind == "ACTION" and request is not None:
        body = request.get("body")
        text = body if isinstance(body, str) else json.dumps(body, ensure_ascii=False)
        props = request.get("properties") or {}
        words += [
            "publish",
            shlex.quote(f"exchange={request.get('exchange') or 'amq.default'}"),
            shlex.quote(f"routing_key={request.get('routingKey') or ''}"),
            _with_redactions(f"payload={text}", "ORCHESTRA_REDACTED_BODY").render(),
        ]
        if props:
            words.append(shlex.quote("properties=" + json.dumps(_amqp_props(props))))
        return Reproducer("rabbitmqadmin", " ".join(words))
    note = "the management plugin's HTTP port; messages are read from a tap queue bound like the step's"
    words += ["list", "exchanges", "name", "type"]
    return Reproducer("rabbitmqadmin", " ".join(words), note)


def _amqp_props(props: dict[str, Any]) -> dict[str, Any]:
    names = {"correlationId": "correlation_id", "messageId": "message_id", "contentType": "content_type"}
    return {names.get(k, k): v for k, v in props.items()}


def reproducer_for(
    *,
    channel: str,
    kind: str,
    request: dict[str, Any] | None,
    db_result: Any,
    meta: dict[str, Any],
    service: str,
    environment: PinnedEnvironment,
) -> Reproducer | None:
    """The command for one step (None when nothing was recorded that a command could repeat)."""
    if channel == "HTTP_REST" and request:
        return http_reproducer(request, service=service, environment=environment)
    if channel == "GRPC" and request:
        return grpc_reproducer(request)
    if channel == "DB" and isinstance(db_result, dict):
        return db_reproducer(db_result, meta, environment)
    if channel == "DB":
        return db_reproducer({}, meta, environment)
    if channel == "KAFKA":
        return kafka_reproducer(kind, request, meta, environment)
    if channel == "QUEUE":
        return queue_reproducer(kind, request, meta, environment)
    return None
