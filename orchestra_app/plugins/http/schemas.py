"""OpenAPI schema -> JSON Schema 2020-12 conversion and cached compiled validators (jsonschema-rs first)."""

from __future__ import annotations

import re
import threading
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import jsonschema
import jsonschema_rs

from orchestra_app.domain.spec import Operation, SpecSummary, resolve_component_ref

# Keywords whose value is a map of name -> schema, a single schema, or a list of schemas.
_SCHEMA_MAPS = ("properties", "patternProperties", "$defs", "definitions", "dependentSchemas")
_SCHEMA_SINGLE = (
    "additionalProperties",
    "items",
    "not",
    "contains",
    "propertyNames",
    "if",
    "then",
    "else",
    "unevaluatedItems",
    "unevaluatedProperties",
    "additionalItems",
)
_SCHEMA_LISTS = ("allOf", "anyOf", "oneOf", "prefixItems")
# OpenAPI-only annotations; JSON Schema would ignore most, but dropping them keeps compiled schemas small.
_DROP = ("example", "nullable", "discriminator", "xml", "externalDocs")
_MAX_ERRORS = 50


def _escape(token: str) -> str:
    return token.replace("~", "~0").replace("/", "~1")


def pointer_of(parts: list[Any] | tuple[Any, ...]) -> str:
    return "".join(f"/{_escape(str(p))}" for p in parts)


def _discriminator_branches(schema: dict[str, Any], members: list[Any]) -> dict[str, Any] | None:
    """OpenAPI discriminator -> if/then per mapping value, so the tag picks the branch that must hold.

    Gives exact errors (the chosen branch's) instead of oneOf's "matched none/several" and removes the
    oneOf ambiguity when subtypes share the base schema through allOf.
    """
    disc = schema.get("discriminator")
    if not isinstance(disc, dict) or not isinstance(disc.get("propertyName"), str):
        return None
    prop = disc["propertyName"]
    refs = [m.get("$ref") for m in members if isinstance(m, dict)]
    if not refs or len(refs) != len(members) or any(not isinstance(r, str) for r in refs):
        return None  # inline members: keep plain oneOf/anyOf semantics
    mapping: dict[str, str] = {}
    for key, target in (disc.get("mapping") or {}).items():
        if isinstance(target, str):
            mapping[str(key)] = target if target.startswith("#") else f"#/components/schemas/{target}"
    mapped_targets = set(mapping.values())
    for ref in refs:
        if isinstance(ref, str) and ref not in mapped_targets:
            mapping[ref.rsplit("/", 1)[-1]] = ref
    branches = [
        {"if": {"properties": {prop: {"const": key}}, "required": [prop]}, "then": {"$ref": target}}
        for key, target in mapping.items()
    ]
    return {
        "required": [prop],
        "properties": {prop: {"enum": sorted(mapping)}},
        "allOf": branches,
    }


_CLASS_ESCAPE_RANGE = re.compile(r"(\\[wdsWDS])-(?!\])")


def _ecma_pattern(pattern: str) -> str:
    """ECMA reads ``[\\w-.]`` as "word char, '-' or '.'"; Rust and Python reject it as a bad range."""
    return _CLASS_ESCAPE_RANGE.sub(r"\1\\-", pattern)


def to_json_schema(schema: Any) -> Any:
    """Convert an OpenAPI 3.0 (or 3.1 written with 3.0 habits) schema to JSON Schema 2020-12.

    nullable -> type union with "null" (enum gains null; typeless schemas become anyOf [.., null]);
    boolean exclusiveMinimum/Maximum -> numeric form; example, x-* and other OpenAPI-only keys dropped.
    3.1 schemas pass through unchanged apart from those tolerated 3.0 habits.
    """
    if isinstance(schema, list):
        return [to_json_schema(s) for s in schema]
    if not isinstance(schema, dict):
        return schema
    out: dict[str, Any] = {}
    for key, value in schema.items():
        if key in _DROP or key.startswith("x-"):
            continue
        if key in _SCHEMA_MAPS and isinstance(value, dict):
            out[key] = {name: to_json_schema(sub) for name, sub in value.items()}
        elif key in _SCHEMA_SINGLE or key in _SCHEMA_LISTS:
            out[key] = to_json_schema(value)
        elif key == "pattern" and isinstance(value, str):
            out[key] = _ecma_pattern(value)
        elif key in ("exclusiveMinimum", "exclusiveMaximum") and isinstance(value, bool):
            bound = "minimum" if key == "exclusiveMinimum" else "maximum"
            if value and bound in schema:
                out[key] = schema[bound]
        else:
            out[key] = value
    for key in ("exclusiveMinimum", "exclusiveMaximum"):
        bound = "minimum" if key == "exclusiveMinimum" else "maximum"
        if isinstance(schema.get(key), bool) and schema[key] and bound in out:
            del out[bound]
    for combinator in ("oneOf", "anyOf"):
        members = schema.get(combinator)
        if isinstance(members, list) and "discriminator" in schema:
            branches = _discriminator_branches(schema, members)
            if branches is not None:
                del out[combinator]
                out.setdefault("allOf", []).extend(branches.pop("allOf"))
                # The tag itself must be one of the known values (an unknown tag matches no branch).
                out["allOf"].append({"required": branches["required"], "properties": branches["properties"]})
    if schema.get("nullable") is True:
        if "type" in out:
            types = out["type"] if isinstance(out["type"], list) else [out["type"]]
            if "null" not in types:
                out["type"] = [*types, "null"]
            if "enum" in out and None not in out["enum"]:
                out["enum"] = [*out["enum"], None]
        else:
            out = {"anyOf": [out, {"type": "null"}]}
    return out


def convert_components(components: dict[str, Any]) -> dict[str, Any]:
    converted = dict(components)
    if isinstance(components.get("schemas"), dict):
        converted["schemas"] = {name: to_json_schema(s) for name, s in components["schemas"].items()}
    return converted


@dataclass(frozen=True)
class SchemaError_:  # noqa: N801 - a plain record, not an exception
    pointer: str  # JSON pointer into the validated instance
    schema_pointer: str
    message: str


class CompiledSchema:
    """One compiled validator; ``errors()`` is cheap when the instance is valid."""

    def __init__(self, root: dict[str, Any], *, validate_formats: bool = True) -> None:
        self.engine = "jsonschema-rs"
        self.unusable: str | None = None
        self._rs: Any = None
        self._py: jsonschema.Draft202012Validator | None = None
        try:
            self._rs = jsonschema_rs.Draft202012Validator(
                root,
                validate_formats=validate_formats,
                ignore_unknown_formats=True,
                pattern_options=jsonschema_rs.FancyRegexOptions(),
            )
        except Exception:
            # Rust regex rejects some ECMA patterns (and some odd but legal schemas); the Python
            # validator is ~100x slower but accepts them.
            self.engine = "jsonschema"
            try:
                jsonschema.Draft202012Validator.check_schema(root)
                checker = jsonschema.Draft202012Validator.FORMAT_CHECKER if validate_formats else None
                self._py = jsonschema.Draft202012Validator(root, format_checker=checker)
            except Exception as exc:
                self.unusable = f"{type(exc).__name__}: {str(exc).splitlines()[0][:300]}"

    def errors(self, instance: Any) -> list[SchemaError_]:
        if self.unusable:
            return []
        if self._rs is not None:
            if self._rs.is_valid(instance):
                return []
            found = []
            for err in self._rs.iter_errors(instance):
                found.append(
                    SchemaError_(pointer_of(err.instance_path), pointer_of(err.schema_path), err.message)
                )
                if len(found) >= _MAX_ERRORS:
                    break
            return found
        assert self._py is not None
        try:
            found = []
            for err in self._py.iter_errors(instance):
                found.append(
                    SchemaError_(
                        pointer_of(list(err.absolute_path)),
                        pointer_of(list(err.absolute_schema_path)),
                        err.message,
                    )
                )
                if len(found) >= _MAX_ERRORS:
                    break
            return found
        except Exception as exc:  # e.g. a pattern Python's re cannot compile
            self.unusable = f"{type(exc).__name__}: {str(exc).splitlines()[0][:300]}"
            return []


class SpecIndex:
    """Per-spec lookups and compiled-validator cache, shared by every step that uses the spec."""

    def __init__(self, spec: SpecSummary, *, validate_formats: bool = True) -> None:
        # No reference to the spec object itself: the module cache is keyed by the spec's lifetime.
        self.raw_components = spec.components
        self.validate_formats = validate_formats
        self.operations: dict[str, Operation] = {op.id: op for op in spec.operations}
        self.by_method_path: dict[str, Operation] = {
            f"{op.method.upper()} {op.path}": op for op in spec.operations
        }
        self._components: dict[str, Any] | None = None
        self._validators: dict[tuple[Any, ...], CompiledSchema] = {}
        self._lock = threading.Lock()

    @property
    def components(self) -> dict[str, Any]:
        if self._components is None:
            self._components = convert_components(self.raw_components)
        return self._components

    def find_operation(self, ref: str) -> Operation | None:
        """By operationId, or by "METHOD /path"."""
        if ref in self.operations:
            return self.operations[ref]
        method, _, path = ref.strip().partition(" ")
        return self.by_method_path.get(f"{method.upper()} {path.strip()}")

    def resolve_ref(self, ref: str) -> Any:
        """A local pointer like ``#/components/schemas/Name`` into the (unconverted) summary components."""
        return resolve_component_ref(self.raw_components, ref)

    def validator(self, key: tuple[Any, ...], schema: Any) -> CompiledSchema:
        """Compiled validator for ``schema`` cached under ``key`` (operation, part, status, media type)."""
        found = self._validators.get(key)
        if found is not None:
            return found
        with self._lock:
            found = self._validators.get(key)
            if found is None:
                converted = to_json_schema(schema)
                if isinstance(converted, bool):
                    converted = {} if converted else {"not": {}}
                root = {**converted, "components": self.components}
                found = CompiledSchema(root, validate_formats=self.validate_formats)
                self._validators[key] = found
        return found


# id(spec) -> (weak ref to the spec, its index); pydantic models are unhashable, so no WeakKeyDictionary.
_indexes: dict[int, tuple[weakref.ref[SpecSummary], SpecIndex]] = {}
_indexes_lock = threading.Lock()


def spec_index(
    spec: SpecSummary, *, validate_formats: bool = True, factory: Callable[..., SpecIndex] = SpecIndex
) -> SpecIndex:
    """The SpecIndex of ``spec`` (one per spec object, dropped when the spec is garbage-collected)."""
    key = id(spec)
    entry = _indexes.get(key)
    if entry is not None and entry[0]() is spec and entry[1].validate_formats == validate_formats:
        return entry[1]
    with _indexes_lock:
        entry = _indexes.get(key)
        if entry is not None and entry[0]() is spec and entry[1].validate_formats == validate_formats:
            return entry[1]
        index = factory(spec, validate_formats=validate_formats)

        def forget(_: object, key: int = key) -> None:
            _indexes.pop(key, None)

        _indexes[key] = (weakref.ref(spec, forget), index)
        return index
