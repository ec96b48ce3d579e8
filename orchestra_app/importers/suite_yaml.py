"""Suite files (`orchestra-suite/1`, docs/suite-format.md): YAML in and out, errors with file:line:field.

The document is read into a node graph first so every value keeps its line; the pydantic models
below then check the shape, and the checks that need meaning (templates, business rules, chaining,
secrets only by reference) run before anything touches the database.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from pydantic.alias_generators import to_camel

from orchestra_app.domain.errors import ErrorKind, OrchestraError
from orchestra_app.domain.rules import RuleError, parse_rules
from orchestra_app.domain.secrets import secret_ref_name
from orchestra_app.domain.steps import (
    ActionDefinition,
    ActionMode,
    ChannelType,
    EndpointRef,
    ScenarioStepSpec,
    StepExpectations,
    StepKind,
    parse_status_expectation,
)
from orchestra_app.domain.templating import check_template

FORMAT = "orchestra-suite/1"
MAX_DEPTH = 64
ALIAS_PATTERN = r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,199}$"
ENDPOINT = re.compile(r"^([A-Za-z0-9_.-]+):([^:\s]+):(\S.*)$")
SECRET_FIELDS = ("password", "token", "value", "clientSecret", "client_secret")
SECRET_HEADERS = frozenset({"authorization", "proxy-authorization", "cookie", "x-api-key", "api-key"})
INPUT_ORDER = ("method", "path", "url", "pathParams", "query", "headers", "cookies")

Path = tuple[str | int, ...]


class SuiteFileError(OrchestraError):
    """A suite file that cannot be imported; names file, line and the field path."""

    kind = ErrorKind.VALIDATION


# ---- reading YAML with lines ------------------------------------------------------------------------------


class _Loader(yaml.SafeLoader):
    """JSON-shaped YAML: no timestamps, only true/false are booleans (YAML 1.2 style)."""


_Loader.yaml_implicit_resolvers = {
    first: [
        (t, r) for t, r in resolvers if t not in ("tag:yaml.org,2002:timestamp", "tag:yaml.org,2002:bool")
    ]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
for _first in "tTfF":
    _Loader.yaml_implicit_resolvers.setdefault(_first, []).append(
        ("tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"))
    )


@dataclass
class Located:
    """A parsed document and the line of every value in it (path -> 1-based line)."""

    data: Any
    lines: dict[Path, int] = field(default_factory=dict)
    filename: str = ""

    def line(self, path: Path) -> int | None:
        """The line of ``path``, or of its nearest ancestor that has one."""
        probe = tuple(path)
        while True:
            if probe in self.lines:
                return self.lines[probe]
            if not probe:
                return None
            probe = probe[:-1]

    def error(self, message: str, path: Path) -> SuiteFileError:
        return SuiteFileError(
            message, file=self.filename or None, line=self.line(path), field=field_name(path)
        )


def field_name(path: Path) -> str | None:
    if not path:
        return None
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _bool(loader: yaml.SafeLoader, node: yaml.ScalarNode) -> bool:
    return str(loader.construct_scalar(node)).lower() == "true"


_Loader.add_constructor("tag:yaml.org,2002:bool", _bool)


def load_located(text: str, filename: str = "") -> Located:
    """YAML (or JSON) text -> Located; syntax errors, duplicate keys and non-string keys name their line."""
    where = filename or None
    try:
        loader = _Loader(text)
        try:
            root = loader.get_single_node()
        finally:
            loader.dispose()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else None
        problem = exc.problem or exc.context or "invalid YAML"
        raise SuiteFileError(f"not valid YAML: {problem}", file=where, line=line) from None
    except yaml.YAMLError as exc:
        raise SuiteFileError(f"not valid YAML: {exc}", file=where) from None
    if root is None:
        raise SuiteFileError("the file is empty", file=where, line=1)
    located = Located(None, {}, filename)
    constructor = _Loader("")
    located.data = _build(root, (), located, constructor, 0)
    return located


def _build(node: yaml.Node, path: Path, located: Located, loader: yaml.SafeLoader, depth: int) -> Any:
    located.lines.setdefault(path, node.start_mark.line + 1)
    if depth > MAX_DEPTH:
        raise located.error(f"nested deeper than {MAX_DEPTH} levels", path)
    if isinstance(node, yaml.MappingNode):
        out: dict[str, Any] = {}
        for key_node, value_node in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                raise SuiteFileError(
                    "merge keys (<<) are not supported: write the values out",
                    file=located.filename or None,
                    line=key_node.start_mark.line + 1,
                    field=field_name(path),
                )
            if not isinstance(key_node, yaml.ScalarNode):
                raise SuiteFileError(
                    "mapping keys must be text",
                    file=located.filename or None,
                    line=key_node.start_mark.line + 1,
                )
            key = str(loader.construct_scalar(key_node))
            child = (*path, key)
            if key in out:
                raise SuiteFileError(
                    f"duplicate key {key!r}",
                    file=located.filename or None,
                    line=key_node.start_mark.line + 1,
                    field=field_name(child),
                )
            located.lines[child] = key_node.start_mark.line + 1
            out[key] = _build(value_node, child, located, loader, depth + 1)
        return out
    if isinstance(node, yaml.SequenceNode):
        return [_build(item, (*path, i), located, loader, depth + 1) for i, item in enumerate(node.value)]
    value = loader.construct_object(node, deep=True)
    if isinstance(value, float) and value != value:  # NaN cannot be stored as JSON
        raise located.error("NaN is not a JSON number", path)
    if isinstance(value, bytes | set) or type(value).__name__ in ("date", "datetime"):
        raise located.error(f"unsupported YAML value of type {type(value).__name__}", path)
    return value


# ---- the document ---------------------------------------------------------------------------------------


class _Doc(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid")


class ProcessRef(_Doc):
    key: str = Field(min_length=1, max_length=200)
    version: int = Field(ge=1)


class SpecRef(_Doc):
    service: str = Field(min_length=1, max_length=200)
    protocol: str = Field(default="http", min_length=1, max_length=50)
    version: str = Field(min_length=1, max_length=100)


class SuiteHeader(_Doc):
    name: str = Field(min_length=1, max_length=300)
    process: ProcessRef
    tags: list[str] = Field(default_factory=list)
    specs: list[SpecRef] = Field(default_factory=list)
    # default request check of the suite's HTTP steps (a step's meta.requestValidation wins)
    request_validation: Literal["block", "warn", "off"] | None = None


class Requires(_Doc):
    services: list[str] = Field(default_factory=list)
    profiles: dict[Literal["db", "kafka", "queue"], list[str]] = Field(default_factory=dict)


class ChainDoc(_Doc):
    source: str | None
    replaces: str
    step: str = ""
    reason: str = ""
    confidence: float = Field(default=0.0, ge=0.0, le=1.0)
    overridden: bool = False


class ExpectDoc(_Doc):
    # one code, a list of codes/classes, a class ("2XX") or a "{{...}}" placeholder (StepExpectations)
    status: int | str | list[int | str] | None = None

    @field_validator("status", mode="before")
    @classmethod
    def _status(cls, value: Any) -> Any:
        if isinstance(value, str) and "{{" in value:
            return value  # resolved when the step runs
        return parse_status_expectation(value, "status")

    rules: dict[str, Any] | list[Any] = Field(default_factory=list)
    schema_refs: dict[str, Any] | list[Any] = Field(default_factory=list)


class StepDoc(_Doc):
    alias: str = Field(pattern=ALIAS_PATTERN)
    name: str = Field(default="", max_length=500)
    kind: StepKind = StepKind.ACTION
    channel: ChannelType = ChannelType.HTTP_REST
    node: str | None = Field(default=None, max_length=300)
    endpoint: str | None = None
    mode: ActionMode = ActionMode.SYNC
    input: dict[str, Any] = Field(default_factory=dict)
    meta: dict[str, Any] = Field(default_factory=dict)
    chaining: dict[str, ChainDoc] = Field(default_factory=dict)
    expect: ExpectDoc = Field(default_factory=ExpectDoc)

    @field_validator("endpoint")
    @classmethod
    def _endpoint(cls, value: str | None) -> str | None:
        if value is not None and ENDPOINT.match(value) is None:
            raise ValueError("endpoint is 'protocol:service:operation', e.g. http:orders-api:createOrder")
        return value

    @field_validator("meta")
    @classmethod
    def _meta(cls, value: dict[str, Any]) -> dict[str, Any]:
        if "chaining" in value:
            raise ValueError("chaining is a key of the step, not of meta")
        return value


class Covers(_Doc):
    process_id: str = ""
    nodes: list[str] = Field(default_factory=list)
    flows: list[str] = Field(default_factory=list)
    decisions: dict[str, dict[str, Any]] = Field(default_factory=dict)


class ScenarioDoc(_Doc):
    key: str = Field(min_length=1, max_length=100)
    name: str = Field(min_length=1, max_length=500)
    tags: list[str] = Field(default_factory=list)
    active: bool = True
    covers: Covers = Field(default_factory=Covers)
    steps: list[StepDoc] = Field(default_factory=list)


class DataSetDoc(_Doc):
    name: str = Field(min_length=1, max_length=300)
    scope: Literal["SUITE", "SCENARIO"] = "SUITE"
    scenario: str | None = None
    tags: list[str] = Field(default_factory=list)
    origin: Literal["MANUAL", "AI_GENERATED", "IMPORTED"] = "IMPORTED"
    data: dict[str, Any] = Field(default_factory=dict)


class SuiteDocument(_Doc):
    format: Literal["orchestra-suite/1"]
    suite: SuiteHeader
    requires: Requires = Field(default_factory=Requires)
    scenarios: list[ScenarioDoc] = Field(default_factory=list)
    data_sets: list[DataSetDoc] = Field(default_factory=list)


# ---- parsing and checking ------------------------------------------------------------------------------


def _loc_path(loc: tuple[Any, ...], data: Any) -> Path:
    """A pydantic error location -> a path of the document.

    Locations use the YAML keys (aliases); parts that name a union member ("dict[str,any]") are
    dropped, and a missing key is kept last so the message names it.
    """
    path: list[str | int] = []
    node = data
    for i, part in enumerate(loc):
        in_dict = isinstance(node, dict) and isinstance(part, str) and part in node
        in_list = isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node)
        if in_dict or in_list:
            node = node[part]
            path.append(part)
        elif i == len(loc) - 1 and isinstance(part, str | int) and isinstance(node, dict):
            path.append(part)
    return tuple(path)


def parse_suite(text: str, filename: str = "") -> tuple[SuiteDocument, Located]:
    """Reads and checks a suite file completely; the first problem raises SuiteFileError."""
    located = load_located(text, filename)
    data = located.data
    if not isinstance(data, dict):
        raise located.error("a suite file is a mapping with format, suite and scenarios", ())
    if data.get("format") != FORMAT:
        raise located.error(f"format must be {FORMAT!r} (got {data.get('format')!r})", ("format",))
    try:
        document = SuiteDocument.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        path = _loc_path(tuple(first["loc"]), data)
        more = f" ({exc.error_count()} problems in the file)" if exc.error_count() > 1 else ""
        raise located.error(f"{first['msg']}{more}", path) from None
    check_meaning(document, located)
    return document, located


def check_meaning(document: SuiteDocument, located: Located) -> None:
    keys: dict[str, int] = {}
    for s_index, scenario in enumerate(document.scenarios):
        base: Path = ("scenarios", s_index)
        if scenario.key in keys:
            raise located.error(
                f"scenario key {scenario.key!r} is used twice (also scenarios[{keys[scenario.key]}])",
                (*base, "key"),
            )
        keys[scenario.key] = s_index
        aliases: list[str] = []
        for i, step in enumerate(scenario.steps):
            where: Path = (*base, "steps", i)
            if step.alias in aliases:
                raise located.error(
                    f"step alias {step.alias!r} is used twice in scenario {scenario.key}", (*where, "alias")
                )
            for pointer, message in check_template(step.input, ""):
                raise located.error(message, (*where, "input", *_pointer_path(pointer)))
            for pointer, message in check_template(step.meta, ""):  # side-effect steps template meta too
                raise located.error(message, (*where, "meta", *_pointer_path(pointer)))
            try:
                parse_rules(step.expect.rules)
            except RuleError as exc:
                raise located.error(
                    exc.message, (*where, "expect", "rules", *_pointer_path(exc.pointer or ""))
                ) from None
            for problem_path, message in secret_problems(step.input, step.meta):
                raise located.error(message, (*where, *problem_path))
            for pointer, link in step.chaining.items():
                link_path = (*where, "chaining", pointer)
                if not pointer.startswith("/"):
                    raise located.error(
                        "chaining keys are JSON pointers into input, e.g. /pathParams/orderId", link_path
                    )
                if link.source is not None:
                    for _, message in check_template(link.source):
                        raise located.error(message, (*link_path, "source"))
                    used = _step_alias(link.source)
                    if used is not None and used not in aliases:
                        raise located.error(
                            f"{link.source} reads step {used!r}, which does not run before {step.alias!r}",
                            (*link_path, "source"),
                        )
            aliases.append(step.alias)
    named: dict[tuple[str, str, str], int] = {}
    for d_index, data_set in enumerate(document.data_sets):
        where = ("dataSets", d_index)
        identity = (data_set.scope, data_set.scenario or "", data_set.name)
        if identity in named:
            raise located.error(
                f"data set {data_set.name!r} is defined twice (also dataSets[{named[identity]}])",
                (*where, "name"),
            )
        named[identity] = d_index
        if data_set.scope == "SCENARIO" and data_set.scenario not in keys:
            raise located.error(
                f"a SCENARIO data set names one of this file's scenario keys (got {data_set.scenario!r})",
                (*where, "scenario"),
            )
        if data_set.scope == "SUITE" and data_set.scenario is not None:
            raise located.error("a SUITE data set has no scenario", (*where, "scenario"))


def _pointer_path(pointer: str) -> Path:
    if not pointer:
        return ()
    parts: list[str | int] = []
    for token in pointer.split("/")[1:]:
        token = token.replace("~1", "/").replace("~0", "~")
        parts.append(int(token) if token.isdigit() else token)
    return tuple(parts)


def _step_alias(source: str) -> str | None:
    match = re.match(r"^\{\{\s*step\.([^.\[\]\s]+)", source)
    return match.group(1) if match else None


def _literal_secret(value: Any) -> bool:
    return isinstance(value, str) and bool(value) and "{{" not in value


def secret_problems(template: dict[str, Any], meta: dict[str, Any]) -> Iterator[tuple[Path, str]]:
    """Literal credentials where only references belong (auth fields, credential headers)."""
    auth = template.get("auth")
    if isinstance(auth, dict):
        for key in SECRET_FIELDS:
            value = auth.get(key)
            if _literal_secret(value) and secret_ref_name(value) is None:
                yield (
                    ("input", "auth", key),
                    (
                        f"auth.{key} holds a literal secret: reference it instead, e.g. {{secret: NAME}} "
                        "or '{{secret:NAME}}'"
                    ),
                )
    for section, headers in (("input", template.get("headers")), ("meta", meta.get("headers"))):
        if not isinstance(headers, dict):
            continue
        for name, value in headers.items():
            if str(name).lower() in SECRET_HEADERS and _literal_secret(value):
                yield (
                    (section, "headers", name),
                    (
                        f"header {name} holds a literal credential: reference a secret instead, e.g. "
                        "'Bearer {{secret:API_TOKEN}}'"
                    ),
                )


# ---- writing -----------------------------------------------------------------------------------------------


class _Dumper(yaml.SafeDumper):
    def ignore_aliases(self, data: Any) -> bool:
        return True


def _str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    if "\n" in value:
        return dumper.represent_scalar("tag:yaml.org,2002:str", value, style="|")
    return dumper.represent_scalar("tag:yaml.org,2002:str", value)


FLOW_WIDTH = 72  # short lists and small mappings of scalars are written on one line


def _scalars(values: Iterable[Any]) -> bool:
    return all(
        v is None or isinstance(v, bool | int | float) or (isinstance(v, str) and "\n" not in v)
        for v in values
    )


def _flow(width_of: Any) -> bool:
    return len(json.dumps(width_of, ensure_ascii=False)) <= FLOW_WIDTH


def _list(dumper: yaml.SafeDumper, value: list[Any]) -> yaml.SequenceNode:
    flow = _scalars(value) and _flow(value)
    return dumper.represent_sequence("tag:yaml.org,2002:seq", value, flow_style=flow)


def _dict(dumper: yaml.SafeDumper, value: dict[str, Any]) -> yaml.MappingNode:
    flow = len(value) <= 4 and _scalars(value.values()) and _flow(value)
    return dumper.represent_mapping("tag:yaml.org,2002:map", value, flow_style=flow)


_Dumper.add_representer(str, _str)
_Dumper.add_representer(list, _list)
_Dumper.add_representer(dict, _dict)
YamlDumper = _Dumper  # the same layout for other orchestra-* files (environment files)


def canonical(value: Any) -> Any:
    """Nested mappings with sorted keys, so files diff well and do not depend on the database's order."""
    if isinstance(value, dict):
        return {k: canonical(value[k]) for k in sorted(value, key=str)}
    if isinstance(value, list):
        return [canonical(v) for v in value]
    return value


def canonical_input(template: dict[str, Any]) -> dict[str, Any]:
    """method and path first, then parameters, then the body and the rest (each sorted inside)."""
    first = [k for k in INPUT_ORDER if k in template]
    rest = sorted(k for k in template if k not in INPUT_ORDER)
    return {k: canonical(template[k]) for k in (*first, *rest)}


HEADER_COMMENT = (
    "# Orchestra suite: scenarios as code (docs/suite-format.md). Secrets appear only as references.\n"
)


def dump_suite(document: dict[str, Any]) -> str:
    """The YAML text of an (already canonical) suite document."""
    body = yaml.dump(
        document,
        Dumper=_Dumper,
        sort_keys=False,
        allow_unicode=True,
        default_flow_style=False,
        width=110,
        indent=2,
    )
    return HEADER_COMMENT + body


# ---- document -> steps (no database) ------------------------------------------------------------------


def step_spec(step: StepDoc, index: int) -> ScenarioStepSpec:
    """A suite file's step as the engine runs it."""
    ref = None
    match = ENDPOINT.match(step.endpoint or "")
    if match is not None:
        ref = EndpointRef(
            protocol_id=match.group(1), service_name=match.group(2), endpoint_name=match.group(3)
        )
    meta = dict(step.meta)
    if step.chaining:
        meta["chaining"] = {p: link.model_dump(by_alias=True) for p, link in step.chaining.items()}
    return ScenarioStepSpec(
        order_index=index,
        alias=step.alias,
        name=step.name,
        kind=step.kind,
        channel_type=step.channel,
        endpoint_ref=ref,
        action=ActionDefinition(input_template=step.input, meta=meta, mode=step.mode),
        expectations=StepExpectations(
            expected_status_code=step.expect.status,
            business_rules=step.expect.rules,
            schema_refs=step.expect.schema_refs,
        ),
        source_node_id=step.node,
    )


def scenario_steps(document: SuiteDocument) -> list[tuple[ScenarioDoc, list[ScenarioStepSpec]]]:
    return [(s, [step_spec(step, i) for i, step in enumerate(s.steps)]) for s in document.scenarios]
