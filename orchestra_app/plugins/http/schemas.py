"""OpenAPI schema -> JSON Schema 2020-12 conversion and cached compiled validators (jsonschema-rs first)."""

from __future__ import annotations

import re
import threading
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

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


Direction = Literal["request", "response"] | None
# Per OpenAPI 3.0/3.1: a required readOnly property is required in responses only, a required
# writeOnly property in requests only. The flag whose names leave `required` in each direction:
_HIDDEN_BY = {"request": "readOnly", "response": "writeOnly"}
# Keywords that can reject null whatever the schema's `type` says (nullable must get past them too).
_NULL_REJECTING = ("$ref", "allOf", "oneOf", "anyOf", "not", "const", "if")
# Applicators whose subschemas describe the same instance (so they see the parent's properties).
_SAME_INSTANCE = ("allOf", "anyOf", "oneOf", "if", "then", "else", "dependentSchemas")
_MAX_FOLLOW = 64


class _Converter:
    """One conversion pass; with a direction, drops readOnly (request) / writeOnly (response) names
    from `required`, looking through `$ref`s (into the raw components) and `allOf` siblings."""

    def __init__(self, direction: Direction = None, components: dict[str, Any] | None = None) -> None:
        self.flag = _HIDDEN_BY.get(direction) if direction else None
        self.components = components or {}
        self._flagged_refs: dict[str, bool] = {}
        self._hidden_refs: dict[str, frozenset[str]] = {}

    def _resolve(self, ref: str) -> Any:
        return resolve_component_ref(self.components, ref)

    def flagged(self, schema: Any, depth: int = 0) -> bool:
        """The property schema is readOnly/writeOnly (itself, through its $ref or an allOf member)."""
        if self.flag is None or not isinstance(schema, dict) or depth > _MAX_FOLLOW:
            return False
        if schema.get(self.flag) is True:
            return True
        ref = schema.get("$ref")
        if isinstance(ref, str):
            found = self._flagged_refs.get(ref)
            if found is None:
                self._flagged_refs[ref] = False  # cycle guard while following
                found = self._flagged_refs[ref] = self.flagged(self._resolve(ref), depth + 1)
            if found:
                return True
        members = schema.get("allOf")
        return isinstance(members, list) and any(self.flagged(m, depth + 1) for m in members)

    def hidden(self, schema: Any, depth: int = 0) -> frozenset[str]:
        """Names of the flagged properties an instance of ``schema`` has (own and allOf members)."""
        if self.flag is None or not isinstance(schema, dict) or depth > _MAX_FOLLOW:
            return frozenset()
        names: set[str] = set()
        ref = schema.get("$ref")
        if isinstance(ref, str):
            found = self._hidden_refs.get(ref)
            if found is None:
                self._hidden_refs[ref] = frozenset()  # cycle guard while following
                found = self._hidden_refs[ref] = self.hidden(self._resolve(ref), depth + 1)
            names |= found
        properties = schema.get("properties")
        if isinstance(properties, dict):
            names.update(name for name, sub in properties.items() if self.flagged(sub))
        members = schema.get("allOf")
        if isinstance(members, list):
            for member in members:
                names |= self.hidden(member, depth + 1)
        return frozenset(names)

    def convert(self, schema: Any, inherited: frozenset[str] = frozenset()) -> Any:
        if isinstance(schema, list):
            return [self.convert(s, inherited) for s in schema]
        if not isinstance(schema, dict):
            return schema
        hidden = inherited | self.hidden(schema) if self.flag is not None else inherited
        out: dict[str, Any] = {}
        for key, value in schema.items():
            if key in _DROP or key.startswith("x-"):
                continue
            passed = hidden if key in _SAME_INSTANCE else frozenset()
            if key in _SCHEMA_MAPS and isinstance(value, dict):
                out[key] = {name: self.convert(sub, passed) for name, sub in value.items()}
            elif key in _SCHEMA_SINGLE or key in _SCHEMA_LISTS:
                out[key] = self.convert(value, passed)
            elif key == "required" and isinstance(value, list) and hidden:
                kept = [name for name in value if name not in hidden]
                if kept:
                    out[key] = kept
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
                    out["allOf"].append(
                        {"required": branches["required"], "properties": branches["properties"]}
                    )
        if schema.get("nullable") is True:
            if "type" in out:
                types = out["type"] if isinstance(out["type"], list) else [out["type"]]
                if "null" not in types:
                    out["type"] = [*types, "null"]
                if "enum" in out and None not in out["enum"]:
                    out["enum"] = [*out["enum"], None]
            if "type" not in out or any(key in out for key in _NULL_REJECTING):
                # `allOf: [{$ref: X}], nullable: true` and friends: null passes, anything else must
                # match the schema (if/else rather than anyOf keeps the errors' exact pointers).
                out = {"if": {"type": "null"}, "else": out}
        return out


def to_json_schema(schema: Any, direction: Direction = None, components: dict[str, Any] | None = None) -> Any:
    """Convert an OpenAPI 3.0 (or 3.1 written with 3.0 habits) schema to JSON Schema 2020-12.

    nullable -> type union with "null" (enum gains null); a nullable schema without a type or with
    $ref/allOf/oneOf/anyOf/not/const/if becomes ``{"if": {"type": "null"}, "else": <schema>}``;
    boolean exclusiveMinimum/Maximum -> numeric form; example, x-* and other OpenAPI-only keys dropped.
    3.1 schemas pass through unchanged apart from those tolerated 3.0 habits.

    ``direction`` "request" drops readOnly property names from ``required``, "response" writeOnly
    ones; ``components`` (the raw summary components) lets the flags be found through ``$ref``s.
    """
    return _Converter(direction, components).convert(schema)


def convert_components(components: dict[str, Any], direction: Direction = None) -> dict[str, Any]:
    """The components with every schema converted (for ``direction``, see ``to_json_schema``)."""
    converted = dict(components)
    if isinstance(components.get("schemas"), dict):
        converter = _Converter(direction, components)
        converted["schemas"] = {name: converter.convert(s) for name, s in components["schemas"].items()}
    return converted


@dataclass(frozen=True)
class SchemaError_:  # noqa: N801 - a plain record, not an exception
    pointer: str  # JSON pointer into the validated instance
    schema_pointer: str  # the failing keyword, relative to the validated schema ($ref hops included)
    message: str
    # The same path as tokens, as the validator reported it (the Python fallback omits $ref hops;
    # plugins/http/locations.py walks them back either way).
    schema_path: tuple[str, ...] = ()


class CompiledSchema:
    """One compiled validator; ``errors()`` is cheap when the instance is valid."""

    def __init__(self, root: dict[str, Any], *, validate_formats: bool = True) -> None:
        self.root = root  # kept to map error paths back to the spec (plugins/http/locations.py)
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
            return [self._unusable_error()]
        if self._rs is not None:
            if self._rs.is_valid(instance):
                return []
            found = []
            for err in self._rs.iter_errors(instance):
                path = tuple(str(t) for t in err.evaluation_path)
                found.append(SchemaError_(pointer_of(err.instance_path), pointer_of(path), err.message, path))
                if len(found) >= _MAX_ERRORS:
                    break
            return found
        assert self._py is not None
        try:
            found = []
            for err in self._py.iter_errors(instance):
                path = tuple(str(t) for t in err.absolute_schema_path)
                found.append(
                    SchemaError_(pointer_of(list(err.absolute_path)), pointer_of(path), err.message, path)
                )
                if len(found) >= _MAX_ERRORS:
                    break
            return found
        except Exception as exc:  # e.g. a pattern Python's re cannot compile
            self.unusable = f"{type(exc).__name__}: {str(exc).splitlines()[0][:300]}"
            # Never a silent pass: a body the validator could not check is reported, not accepted.
            return [self._unusable_error()]

    def _unusable_error(self) -> SchemaError_:
        return SchemaError_(
            "", "", f"the schema could not be applied, the body is not verified ({self.unusable})"
        )


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
        self._components: dict[Direction, dict[str, Any]] = {}
        self._validators: dict[tuple[Any, ...], CompiledSchema] = {}
        self._lock = threading.Lock()

    @property
    def components(self) -> dict[str, Any]:
        return self.components_for(None)

    def components_for(self, direction: Direction) -> dict[str, Any]:
        """The converted components of one direction (request/response variants of shared schemas)."""
        found = self._components.get(direction)
        if found is None:
            found = self._components[direction] = convert_components(self.raw_components, direction)
        return found

    def find_operation(self, ref: str) -> Operation | None:
        """By operationId, or by "METHOD /path"."""
        if ref in self.operations:
            return self.operations[ref]
        method, _, path = ref.strip().partition(" ")
        return self.by_method_path.get(f"{method.upper()} {path.strip()}")

    def resolve_ref(self, ref: str) -> Any:
        """A local pointer like ``#/components/schemas/Name`` into the (unconverted) summary components."""
        return resolve_component_ref(self.raw_components, ref)

    def validator(self, key: tuple[Any, ...], schema: Any, direction: Direction = None) -> CompiledSchema:
        """Compiled validator for ``schema`` cached under ``direction`` and ``key`` (operation, part,
        status, media type). A direction compiles against that direction's variant of the components,
        so a shared component is checked with request rules in requests and response rules in responses.
        """
        cache_key = (direction, *key)
        found = self._validators.get(cache_key)
        if found is not None:
            return found
        with self._lock:
            found = self._validators.get(cache_key)
            if found is None:
                converted = to_json_schema(schema, direction, self.raw_components)
                if isinstance(converted, bool):
                    converted = {} if converted else {"not": {}}
                root = {**converted, "components": self.components_for(direction)}
                found = CompiledSchema(root, validate_formats=self.validate_formats)
                self._validators[cache_key] = found
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
