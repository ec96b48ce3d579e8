"""Step chaining: wire a later step's inputs to an earlier step's response (docs/step-chaining.md).

For every input of a bound step that is exactly one ``{{data.*}}`` placeholder (a path/query/header/
cookie parameter or a body field), the earlier steps of the same scenario are searched for a
response field that can supply it:

1. an OpenAPI ``links`` entry of the earlier operation's response naming this operation (certain);
2. the same field name in the earlier response (``orderId`` <- ``orderId``);
3. ``<resource>Id`` (or ``{id}`` in ``/orders/{id}``) <- ``id`` of an earlier operation that
   creates or returns that resource (``POST /orders``), with compatible schema types.

The best proposal per input (the nearer step on a tie) replaces the placeholder in the
inputTemplate and is recorded in ``action.meta.chaining[pointer]`` with its reason and confidence.
A designer override (``overridden: true``) is kept as it is, whether it names another source or
keeps the data variable (``source: null``).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from copy import deepcopy
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

from orchestra_app.domain.paths import Segment, format_path
from orchestra_app.domain.spec import Operation, SpecSummary
from orchestra_app.domain.steps import ScenarioStepSpec, StepKind
from orchestra_app.domain.templating import parse_expression
from orchestra_app.plugins.matching import VERB_SYNONYMS, raw_words, stem
from orchestra_app.plugins.schema_walk import (
    flatten,
    request_body_schema,
    schema_at,
    schema_type,
    success_response,
)

CHAIN_THRESHOLD = 0.6
META_KEY = "chaining"
PARAM_KEYS = {"pathParams": "path", "query": "query", "headers": "header", "cookies": "cookie"}
BODY_KEYS = ("json", "form", "multipart")
URL_KEYS = frozenset(PARAM_KEYS)
MAX_SOURCE_DEPTH = 2
_WHOLE = re.compile(r"^\{\{\s*(.*?)\s*\}\}$", re.S)

Resolver = Callable[[ScenarioStepSpec], tuple[Operation, SpecSummary] | None]


@dataclass
class ChainLink:
    """One wired input: ``pointer`` inside the inputTemplate, fed by ``source`` (None: the data variable)."""

    pointer: str
    replaces: str
    source: str | None
    step: str = ""
    reason: str = ""
    confidence: float = 0.0
    overridden: bool = False

    def to_meta(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "replaces": self.replaces,
            "step": self.step,
            "reason": self.reason,
            "confidence": round(self.confidence, 3),
            "overridden": self.overridden,
        }

    @classmethod
    def from_meta(cls, pointer: str, value: Any) -> ChainLink | None:
        if not isinstance(value, dict) or not isinstance(value.get("replaces"), str):
            return None
        source = value.get("source")
        return cls(
            pointer=pointer,
            replaces=value["replaces"],
            source=source if isinstance(source, str) else None,
            step=str(value.get("step") or ""),
            reason=str(value.get("reason") or ""),
            confidence=float(value.get("confidence") or 0.0),
            overridden=value.get("overridden") is True,
        )


@dataclass
class _Target:
    pointer: str
    placeholder: str
    words: list[str]  # e.g. ["order", "id"]
    name: str
    location: str  # "path", "query", "header", "cookie" or "body"
    schema: dict[str, Any]


@dataclass
class _Source:
    segments: tuple[Segment, ...]
    words: list[str]
    schema: dict[str, Any]


# ---- JSON pointer helpers ---------------------------------------------------------------------------


def _tokens(pointer: str) -> list[str]:
    return [t.replace("~1", "/").replace("~0", "~") for t in pointer.split("/")[1:]]


def get_at(document: Any, pointer: str) -> Any:
    node = document
    for token in _tokens(pointer):
        if isinstance(node, dict) and token in node:
            node = node[token]
        elif isinstance(node, list) and token.isdigit() and int(token) < len(node):
            node = node[int(token)]
        else:
            return None
    return node


def set_at(document: Any, pointer: str, value: Any) -> bool:
    tokens = _tokens(pointer)
    if not tokens:
        return False
    node = document
    for token in tokens[:-1]:
        if isinstance(node, dict) and token in node:
            node = node[token]
        elif isinstance(node, list) and token.isdigit() and int(token) < len(node):
            node = node[int(token)]
        else:
            return False
    last = tokens[-1]
    if isinstance(node, dict) and last in node:
        node[last] = value
        return True
    if isinstance(node, list) and last.isdigit() and int(last) < len(node):
        node[int(last)] = value
        return True
    return False


def _escape(token: str) -> str:
    return token.replace("~", "~0").replace("/", "~1")


# ---- naming -----------------------------------------------------------------------------------------


def _words(name: str) -> list[str]:
    return [stem(w) for w in raw_words(name) if w]


def _is_data_placeholder(value: Any) -> bool:
    if not isinstance(value, str):
        return False
    match = _WHOLE.match(value)
    if match is None:
        return False
    try:
        parsed = parse_expression(match.group(1))
    except ValueError:
        return False
    return parsed.kind == "path" and parsed.segments[:1] == ("data",) and len(parsed.segments) > 1


def _resources(operation: Operation) -> set[str]:
    """What an operation acts on (stemmed): the nouns of its id, every path segment followed by a
    parameter (``/payments/{id}/capture`` -> payment) and a final collection segment (``/orders``).

    Path segments count even when the word doubles as a verb synonym ("payment"): in a URL it names
    the resource; a final segment right after a parameter is an action (``capture``), not a resource.
    """
    found = {w for w in _words(operation.id) if w not in VERB_SYNONYMS and w != "id" and not w.isdigit()}
    segments = [s for s in operation.path.split("/") if s]
    for i, segment in enumerate(segments):
        if segment.startswith("{"):
            continue
        followed_by_param = i + 1 < len(segments) and segments[i + 1].startswith("{")
        collection = i == len(segments) - 1 and (i == 0 or not segments[i - 1].startswith("{"))
        if followed_by_param or collection:
            words = _words(segment)
            if words:
                found.add("".join(words))
    return found


def _item_resource(operation: Operation, name: str) -> str | None:
    """For a path parameter ``{name}`` right after ``/orders``: "order"."""
    segments = [s for s in operation.path.split("/") if s]
    for i, segment in enumerate(segments):
        if segment == "{" + name + "}" and i > 0 and not segments[i - 1].startswith("{"):
            words = _words(segments[i - 1])
            return "".join(words) if words else None
    return None


def _creates(operation: Operation) -> bool:
    method = operation.method.upper()
    return method == "POST" or (method == "PUT" and not operation.path.rstrip("/").endswith("}"))


# ---- targets and sources ----------------------------------------------------------------------------


def _targets(step: ScenarioStepSpec, operation: Operation, spec: SpecSummary) -> list[_Target]:
    template = step.action.input_template
    targets: list[_Target] = []
    params = {(p.location, p.name): p for p in operation.parameters}
    for key, location in PARAM_KEYS.items():
        section = template.get(key)
        if not isinstance(section, dict):
            continue
        for name, value in section.items():
            if not _is_data_placeholder(value):
                continue
            param = params.get((location, name))
            schema, _ = flatten(param.schema_ if param and param.schema_ else {}, spec)
            targets.append(_Target(f"/{key}/{_escape(name)}", value, _words(name), name, location, schema))
    body = request_body_schema(operation)
    for key in BODY_KEYS:
        if key not in template:
            continue
        root_schema = body[1] if body is not None and body[0] == key else None
        _body_targets(template[key], f"/{key}", (), root_schema, spec, targets)
    return targets


def _body_targets(
    node: Any,
    pointer: str,
    segments: tuple[Segment, ...],
    root_schema: Any,
    spec: SpecSummary,
    out: list[_Target],
) -> None:
    if isinstance(node, dict):
        for k, v in node.items():
            _body_targets(v, f"{pointer}/{_escape(str(k))}", (*segments, str(k)), root_schema, spec, out)
    elif isinstance(node, list):
        for i, v in enumerate(node):
            _body_targets(v, f"{pointer}/{i}", (*segments, i), root_schema, spec, out)
    elif _is_data_placeholder(node):
        names = [s for s in segments if isinstance(s, str)]
        if not names:
            return
        leaf = names[-1]
        words = _words(leaf)
        if words == ["id"] and len(names) > 1:
            words = [*_words(names[-2]), "id"]  # customer.id reads as customerId
        schema = schema_at(root_schema, spec, segments) if root_schema is not None else None
        out.append(_Target(pointer, node, words, leaf, "body", schema or {}))


def _sources(operation: Operation, spec: SpecSummary) -> list[_Source]:
    response = success_response(operation)
    if response is None:
        return []
    out: list[_Source] = []

    def walk(schema: Any, segments: tuple[Segment, ...], depth: int) -> None:
        flat, _ = flatten(schema, spec)
        for name, prop in (flat.get("properties") or {}).items():
            prop_flat, _ = flatten(prop, spec)
            path = (*segments, str(name))
            out.append(_Source(path, _words(str(name)), prop_flat))
            if depth + 1 < MAX_SOURCE_DEPTH and schema_type(prop_flat) == "object":
                walk(prop, path, depth + 1)

    walk(response[1], (), 0)
    return out


def _types_fit(target: _Target, source: dict[str, Any]) -> tuple[bool, float]:
    """Whether a source value can feed the target, and a small penalty for a loose fit."""
    want, have = schema_type(target.schema), schema_type(source)
    if want is None or have is None:
        return have not in ("object", "array") or want in ("object", "array"), 0.05
    if want == have or {want, have} == {"integer", "number"}:
        penalty = 0.0
    elif want == "string" and have in ("integer", "number") and target.location != "body":
        penalty = 0.05  # an id number in a URL is text anyway
    else:
        return False, 0.0
    fmt_want, fmt_have = target.schema.get("format"), source.get("format")
    if fmt_want and fmt_have and fmt_want != fmt_have:
        penalty += 0.1
    return True, penalty


def _link_expression(expr: Any) -> tuple[str, tuple[Segment, ...]] | None:
    """``$response.body#/id`` -> ("body", ("id",)); ``$response.header.Location`` -> ("headers", ...)."""
    if not isinstance(expr, str):
        return None
    text = expr.strip()
    if text.startswith("{") and text.endswith("}"):
        text = text[1:-1]
    if text.startswith("$response.body"):
        rest = text[len("$response.body") :]
        if rest in ("", "#", "#/"):
            return "body", ()
        if not rest.startswith("#/"):
            return None
        tokens = [unquote(t).replace("~1", "/").replace("~0", "~") for t in rest[2:].split("/")]
        return "body", tuple(int(t) if t.isdigit() else t for t in tokens)
    if text.startswith("$response.header."):
        return "headers", (text[len("$response.header.") :],)
    return None


def _link_targets(link: dict[str, Any], operation: Operation) -> bool:
    if link.get("operationId") == operation.id:
        return True
    ref = link.get("operationRef")
    if isinstance(ref, str) and "#/paths/" in ref:
        tokens = [
            unquote(t).replace("~1", "/").replace("~0", "~") for t in ref.split("#/paths/", 1)[1].split("/")
        ]
        return (
            len(tokens) == 2 and tokens[0] == operation.path and tokens[1].lower() == operation.method.lower()
        )
    return False


def _link_proposals(
    source_alias: str, source_op: Operation, target_op: Operation, targets: list[_Target]
) -> dict[str, ChainLink]:
    found: dict[str, ChainLink] = {}
    for code, response in source_op.responses.items():
        for name, link in (response.links or {}).items():
            if not _link_targets(link, target_op):
                continue
            for param, expr in (link.get("parameters") or {}).items():
                location, _, bare = param.rpartition(".") if "." in param else ("", "", param)
                parsed = _link_expression(expr)
                if parsed is None:
                    continue
                part, segments = parsed
                for target in targets:
                    if target.name != bare or (location and target.location != location):
                        continue
                    source = "{{step." + source_alias + ".response." + format_path([part, *segments]) + "}}"
                    found[target.pointer] = ChainLink(
                        target.pointer,
                        target.placeholder,
                        source,
                        source_alias,
                        f"OpenAPI link {name!r} of {source_op.id} ({code}) sets {param} = {expr}",
                        1.0,
                    )
    return found


def _name_proposal(
    target: _Target, target_op: Operation, source_alias: str, source_op: Operation, sources: list[_Source]
) -> ChainLink | None:
    best: tuple[float, _Source, str] | None = None
    resources = _resources(source_op)
    creates = _creates(source_op)
    verb = "creates" if creates else "returns"
    item = _item_resource(target_op, target.name) if target.location == "path" else None
    for source in sources:
        score, why = 0.0, ""
        if source.words == target.words:
            score, why = 0.9, f"{source_op.id} returns a field with the same name"
        elif source.words == ["id"] and len(source.segments) == 1:
            wanted = "".join(target.words[:-1]) if target.words[-1:] == ["id"] else ""
            if wanted and (wanted in resources or any(wanted.endswith(r) for r in resources)):
                score = 0.92 if creates else 0.75
                why = f"{target.name} names the {wanted} that {source_op.id} {verb}, whose id is 'id'"
            elif target.words == ["id"] and item and item in resources:
                score = 0.8 if creates else 0.7
                why = f"{{{target.name}}} identifies the {item} that {source_op.id} {verb}"
        if score == 0.0:
            continue
        fits, penalty = _types_fit(target, source.schema)
        if not fits:
            continue
        score -= penalty
        if best is None or score > best[0]:
            best = (score, source, why)
    if best is None or best[0] < CHAIN_THRESHOLD:
        return None
    score, source, why = best
    expr = "{{step." + source_alias + ".response." + format_path(["body", *source.segments]) + "}}"
    return ChainLink(target.pointer, target.placeholder, expr, source_alias, why, score)


# ---- the use --------------------------------------------------------------------------------------


def propose(
    steps: Sequence[ScenarioStepSpec], index: int, resolve: Resolver, *, skip: frozenset[str] = frozenset()
) -> dict[str, ChainLink]:
    """Proposals for the inputs of ``steps[index]`` (pointers in ``skip`` are left alone)."""
    step = steps[index]
    bound = resolve(step)
    if bound is None:
        return {}
    operation, spec = bound
    targets = [t for t in _targets(step, operation, spec) if t.pointer not in skip]
    if not targets:
        return {}
    chosen: dict[str, ChainLink] = {}
    for j in range(index - 1, -1, -1):  # nearest earlier step first: it wins ties
        earlier = steps[j]
        if earlier.kind is not StepKind.ACTION:
            continue
        source_bound = resolve(earlier)
        if source_bound is None:
            continue
        source_op, source_spec = source_bound
        proposals = _link_proposals(earlier.alias, source_op, operation, targets)
        sources = _sources(source_op, source_spec)
        for target in targets:
            proposal = proposals.get(target.pointer) or _name_proposal(
                target, operation, earlier.alias, source_op, sources
            )
            current = chosen.get(target.pointer)
            if proposal is not None and (current is None or proposal.confidence > current.confidence):
                chosen[target.pointer] = proposal
    return chosen


def existing_links(step: ScenarioStepSpec) -> dict[str, ChainLink]:
    raw = step.action.meta.get(META_KEY)
    if not isinstance(raw, dict):
        return {}
    links = {}
    for pointer, value in raw.items():
        link = ChainLink.from_meta(str(pointer), value)
        if link is not None:
            links[link.pointer] = link
    return links


def apply_chaining(steps: Sequence[ScenarioStepSpec], resolve: Resolver) -> list[ScenarioStepSpec]:
    """Every step with its inputs wired to earlier responses; idempotent, designer overrides kept."""
    out: list[ScenarioStepSpec] = []
    for index, step in enumerate(steps):
        links = existing_links(step)
        template = deepcopy(step.action.input_template)
        kept: dict[str, ChainLink] = {}
        for pointer, link in links.items():
            if link.overridden:
                kept[pointer] = link
                continue
            if link.source is not None and get_at(template, pointer) == link.source:
                set_at(template, pointer, link.replaces)  # undo the proposal; it is made afresh below
        for pointer, link in kept.items():
            set_at(template, pointer, link.source if link.source is not None else link.replaces)
        current = step.model_copy(
            update={"action": step.action.model_copy(update={"input_template": template})}
        )
        staged = [*out, current]
        proposals = propose(staged, index, resolve, skip=frozenset(kept))
        for pointer, link in proposals.items():
            set_at(template, pointer, link.source)
        meta = {k: v for k, v in step.action.meta.items() if k != META_KEY}
        merged = {
            **{p: link.to_meta() for p, link in proposals.items()},
            **{p: link.to_meta() for p, link in kept.items()},
        }
        if merged:
            meta[META_KEY] = dict(sorted(merged.items()))
        out.append(
            step.model_copy(
                update={"action": step.action.model_copy(update={"input_template": template, "meta": meta})}
            )
        )
    return out
