"""Kafka value decoding (JSON, text, Confluent schema-registry Avro / JSON Schema) and encoding.

Schema-registry framing (Confluent wire format): byte 0 is the magic 0, bytes 1-4 the big-endian
schema id, the rest the payload. The schema is fetched once per id from
``GET {registry}/schemas/ids/{id}`` (Confluent-compatible registries: Confluent, Karapace, Apicurio's
ccompat API) and cached for the environment's life. AVRO payloads are decoded with fastavro
(schemas that use registry *references* are not resolved); JSON payloads are JSON text and are
validated against their registered JSON Schema; PROTOBUF payloads are reported as base64.
"""

from __future__ import annotations

import base64
import io
import json
import struct
import threading
from dataclasses import dataclass
from typing import Any, Literal

import httpx

from orchestra_app.plugins.base import SchemaRegistryAuth

ValueFormat = Literal["auto", "json", "string", "bytes", "avro", "jsonschema"]
VALUE_FORMATS: tuple[str, ...] = ("auto", "json", "string", "bytes", "avro", "jsonschema")
MAGIC = 0


@dataclass
class Decoded:
    value: Any
    format: str  # json | string | bytes | avro | jsonschema | empty
    schema_id: int | None = None
    problem: str | None = None  # why the declared format could not be applied


class RegistryError(Exception):
    pass


class SchemaRegistry:
    """A tiny Confluent-compatible registry reader: schema by id, cached."""

    def __init__(
        self, url: str, auth: tuple[str, str] | None, *, timeout_s: float = 10.0, verify: bool = True
    ) -> None:
        self.url = url.rstrip("/")
        self._client = httpx.Client(auth=auth, timeout=timeout_s, verify=verify, trust_env=False)
        self._cache: dict[int, tuple[str, Any]] = {}
        self._lock = threading.Lock()

    def close(self) -> None:
        self._client.close()

    def schema(self, schema_id: int) -> tuple[str, Any]:
        """(schemaType, parsed schema) of ``schema_id``."""
        found = self._cache.get(schema_id)
        if found is not None:
            return found
        try:
            response = self._client.get(f"{self.url}/schemas/ids/{schema_id}")
        except httpx.HTTPError as exc:
            raise RegistryError(f"schema registry {self.url} unreachable: {exc}") from None
        if response.status_code != 200:
            raise RegistryError(
                f"schema registry {self.url} answered {response.status_code} for schema id {schema_id}"
            )
        try:
            body = response.json()
            kind = str(body.get("schemaType") or "AVRO").upper()
            text = body["schema"]
            parsed: Any = json.loads(text) if kind in ("AVRO", "JSON") else text
            if kind == "AVRO":
                import fastavro

                parsed = fastavro.parse_schema(parsed)
        except Exception as exc:
            raise RegistryError(f"schema id {schema_id} is not usable: {type(exc).__name__}: {exc}") from None
        with self._lock:
            self._cache[schema_id] = (kind, parsed)
        return kind, parsed


def registry_auth(auth: SchemaRegistryAuth | None, username: Any, password: Any) -> tuple[str, str] | None:
    if auth is None:
        return None
    return str(username), str(password)


def framed_schema_id(raw: bytes) -> int | None:
    if len(raw) >= 5 and raw[0] == MAGIC:
        return int(struct.unpack(">I", raw[1:5])[0])
    return None


def decode_value(raw: bytes | None, fmt: str, registry: SchemaRegistry | None) -> Decoded:
    if raw is None:
        return Decoded(None, "empty")
    schema_id = framed_schema_id(raw)
    if fmt in ("avro", "jsonschema") or (fmt == "auto" and schema_id is not None and registry is not None):
        if registry is None:
            return Decoded(
                _as_bytes(raw), "bytes", problem=f"valueFormat {fmt} needs the profile's schemaRegistryUrl"
            )
        if schema_id is None:
            return Decoded(
                _text_or_bytes(raw), "bytes", problem="the value is not in schema-registry framing"
            )
        try:
            kind, schema = registry.schema(schema_id)
        except RegistryError as exc:
            return Decoded(_as_bytes(raw), "bytes", schema_id, problem=str(exc))
        payload = raw[5:]
        if kind == "AVRO":
            import fastavro

            try:
                value = fastavro.schemaless_reader(io.BytesIO(payload), schema, None)
            except Exception as exc:
                return Decoded(_as_bytes(raw), "bytes", schema_id, problem=f"Avro decoding failed: {exc}")
            return Decoded(value, "avro", schema_id)
        if kind == "JSON":
            try:
                value = json.loads(payload)
            except ValueError as exc:
                return Decoded(_text_or_bytes(payload), "string", schema_id, problem=f"not JSON: {exc}")
            problem = _json_schema_problem(schema, value)
            return Decoded(value, "jsonschema", schema_id, problem=problem)
        return Decoded(_as_bytes(raw), "bytes", schema_id, problem=f"{kind} values are not decoded")
    if fmt == "bytes":
        return Decoded(_as_bytes(raw), "bytes")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        problem = "the value is not UTF-8 text" if fmt in ("json", "string") else None
        return Decoded(_as_bytes(raw), "bytes", problem=problem)
    if fmt == "string":
        return Decoded(text, "string")
    try:
        return Decoded(json.loads(text), "json")
    except ValueError:
        return Decoded(text, "string", problem="the value is not JSON" if fmt == "json" else None)


def _json_schema_problem(schema: Any, value: Any) -> str | None:
    import jsonschema

    try:
        validator_cls = jsonschema.validators.validator_for(schema)
        error = jsonschema.exceptions.best_match(validator_cls(schema).iter_errors(value))
    except Exception as exc:
        return f"the registered JSON Schema is unusable: {exc}"
    if error is None:
        return None
    where = "/" + "/".join(str(p) for p in error.absolute_path)
    return f"value does not match its registered JSON Schema at {where}: {error.message}"


def _as_bytes(raw: bytes) -> dict[str, str]:
    return {"base64": base64.b64encode(raw).decode("ascii")}


def _text_or_bytes(raw: bytes) -> Any:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return _as_bytes(raw)


def decode_text(raw: bytes | str | None) -> Any:
    if raw is None or isinstance(raw, str):
        return raw
    return _text_or_bytes(raw)


def encode_value(value: Any, fmt: str) -> bytes | None:
    """A rendered value as message bytes: JSON (default), text, or ``{"base64": ...}`` for bytes."""
    if value is None:
        return None
    if fmt == "bytes":
        if isinstance(value, dict) and isinstance(value.get("base64"), str):
            return base64.b64decode(value["base64"], validate=True)
        raise ValueError('valueFormat bytes needs a {"base64": "..."} value')
    if fmt == "string":
        return value.encode("utf-8") if isinstance(value, str) else json.dumps(value).encode("utf-8")
    if fmt in ("json", "auto"):
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    raise ValueError(f"publishing with valueFormat {fmt} is not supported (json, string or bytes)")


def encode_text(value: Any) -> bytes | None:
    if value is None:
        return None
    if isinstance(value, str):
        return value.encode("utf-8")
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
