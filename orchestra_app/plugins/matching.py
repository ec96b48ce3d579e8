"""EndpointMatcher core: explicit bindings, then step-name similarity to operations (confidence 0..1)."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from orchestra_app.domain.spec import Operation, SpecSummary
from orchestra_app.domain.steps import EndpointRef, ScenarioStepSpec
from orchestra_app.plugins.base import StepBinding

MATCH_THRESHOLD = 0.45  # below: UNMATCHED
AMBIGUITY_MARGIN = 0.08  # top two closer than this: AMBIGUOUS
EXPLICIT_META_KEYS = ("operation", "operationId")

_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")
_NON_WORD = re.compile(r"[^A-Za-z0-9]+")
STOPWORDS = frozenset(
    {
        "a",
        "an",
        "the",
        "of",
        "for",
        "to",
        "by",
        "with",
        "and",
        "in",
        "on",
        "from",
        "into",
        "via",
        "at",
        "api",
        "v1",
        "v2",
        "v3",
        "new",
        "all",
        "my",
        "its",
        "their",
        "is",
        "be",
        # quantifiers say one or many (see wording_number), not what is acted on
        "every",
        "each",
        "single",
        "one",
        "many",
        "multiple",
        "specific",
        "particular",
    }
)
# Verbs mapped to one canonical action so "Register customer" meets createCustomer / POST /customers.
VERB_SYNONYMS: dict[str, str] = {}
for canonical, words in {
    "create": (
        "create",
        "add",
        "post",
        "insert",
        "register",
        "submit",
        "place",
        "make",
        "open",
        "new",
        "save",
        "issue",
        "book",
        "enroll",
        "signup",
    ),
    "get": (
        "get",
        "fetch",
        "read",
        "retrieve",
        "load",
        "find",
        "show",
        "view",
        "lookup",
        "query",
        "check",
        "obtain",
        "see",
        "inspect",
        "describe",
        "download",
        "detail",
    ),
    "list": ("list", "search", "browse", "enumerate", "all", "filter"),
    "update": (
        "update",
        "modify",
        "edit",
        "change",
        "patch",
        "put",
        "set",
        "amend",
        "adjust",
        "replace",
        "rename",
    ),
    "delete": ("delete", "remove", "destroy", "drop", "erase", "purge", "unregister", "deregister"),
    "cancel": ("cancel", "abort", "revoke", "void", "withdraw"),
    "approve": ("approve", "accept", "confirm", "authorize", "authorise", "validate", "verify"),
    "reject": ("reject", "decline", "deny", "refuse"),
    "pay": ("pay", "charge", "payment", "bill", "checkout"),
    "send": ("send", "notify", "publish", "emit", "dispatch", "ship", "deliver"),
    "login": ("login", "signin", "authenticate", "logon", "token", "auth"),
}.items():
    for word in words:
        VERB_SYNONYMS.setdefault(word, canonical)
ACTION_VERBS = frozenset(VERB_SYNONYMS.values())
VERB_ONLY_FACTOR = 0.5  # a shared verb alone stays below MATCH_THRESHOLD
METHOD_VERBS = {"GET": "get", "POST": "create", "PUT": "update", "PATCH": "update", "DELETE": "delete"}

# Singular/plural twins (get_task vs get_tasks): the wording says one or many, the operation says it by
# its path (ends in a parameter: one item) and its name (listTasks, get_tasks: many).
NUMBER_PENALTY = 0.1  # the wrong number costs more than the ambiguity margin, so a tie is broken
MANY_WORDS = frozenset(
    {"list", "all", "search", "browse", "every", "each", "many", "multiple", "bulk", "batch", "enumerate"}
)
ONE_WORDS = frozenset({"a", "an", "one", "single", "specific", "detail", "details", "particular"})
_NOT_PLURAL_ENDINGS = ("ss", "us", "is", "ous", "ics", "news")


def stem(word: str) -> str:
    """Light stemming, applied to both sides so only consistency matters: orders/order, paid/pay."""
    if len(word) > 4 and word.endswith("ies"):
        return word[:-3] + "y"
    if len(word) > 5 and word.endswith("ing"):
        return word[:-3]
    if len(word) > 4 and word.endswith(("sses", "shes", "ches", "xes")):
        return word[:-2]
    if len(word) > 3 and word.endswith("s") and not word.endswith(("ss", "us", "is")):
        return word[:-1]
    if len(word) > 4 and word.endswith("ed"):
        return word[:-2] if not word.endswith("eed") else word[:-1]
    return word


def tokens(text: str | None) -> list[str]:
    """camelCase / snake_case / kebab / words -> canonical lower-case tokens (verbs unified)."""
    if not text:
        return []
    out: list[str] = []
    for chunk in _NON_WORD.split(text):
        for piece in _CAMEL.split(chunk):
            word = piece.lower()
            if not word or word in STOPWORDS or word.isdigit():
                continue
            stemmed = stem(word)
            canonical = (
                VERB_SYNONYMS.get(word) or VERB_SYNONYMS.get(stemmed) or VERB_SYNONYMS.get(stemmed + "e")
            )  # retriev(ing) -> retrieve
            out.append(canonical or stemmed)
    return out


def _dice(a: set[str], b: set[str]) -> float:
    if not a or not b:
        return 0.0
    return 2 * len(a & b) / (len(a) + len(b))


def raw_words(text: str | None) -> list[str]:
    if not text:
        return []
    return [piece.lower() for chunk in _NON_WORD.split(text) for piece in _CAMEL.split(chunk) if piece]


def _is_plural_noun(word: str) -> bool:
    if len(word) <= 3 or not word.endswith("s") or word.endswith(_NOT_PLURAL_ENDINGS):
        return False
    if word in ONE_WORDS or word in STOPWORDS:
        return False
    stemmed = stem(word)
    return stemmed != word and stemmed not in VERB_SYNONYMS and word not in VERB_SYNONYMS


def _nouns(words: list[str]) -> list[str]:
    return [
        w
        for w in words
        if w.isalpha()
        and len(w) > 2
        and w not in STOPWORDS
        and w not in MANY_WORDS
        and w not in ONE_WORDS
        and w not in VERB_SYNONYMS
        and stem(w) not in VERB_SYNONYMS
    ]


def wording_number(text: str | None) -> str | None:
    """ "one", "many" or None: what a task's wording asks for ("Get tasks", "List all tasks", "Get task")."""
    words = raw_words(text)
    many = any(w in MANY_WORDS for w in words) or any(_is_plural_noun(w) for w in words)
    one = any(w in ONE_WORDS for w in words)
    if many and one:
        return None
    if many:
        return "many"
    if one or _nouns(words):
        return "one"
    return None


def operation_number(operation: Operation) -> str | None:
    """ "one" for an item operation (path ends in a parameter), "many" for a collection read, else None."""
    segments = [seg for seg in operation.path.split("/") if seg]
    if segments and segments[-1].startswith("{"):
        return "one"
    id_words = raw_words(operation.id)
    if any(w in MANY_WORDS for w in id_words) or any(_is_plural_noun(w) for w in id_words):
        return "many"
    if operation.method.upper() == "GET" and segments and _is_plural_noun(segments[-1].lower()):
        return "many"
    if _nouns(id_words) and operation.method.upper() == "GET":
        return "one"
    return None


@dataclass
class OperationProfile:
    operation: Operation
    id_tokens: set[str]
    summary_tokens: set[str]
    path_tokens: set[str]
    number: str | None = None


def profile(operation: Operation) -> OperationProfile:
    path_words = [seg for seg in operation.path.split("/") if seg and not seg.startswith("{")]
    path_tokens = set(tokens(" ".join(path_words)))
    verb = METHOD_VERBS.get(operation.method.upper())
    if verb == "get" and not operation.path.rstrip("/").endswith("}"):
        verb = "list"  # GET on a collection reads many
    if verb:
        path_tokens.add(verb)
    return OperationProfile(
        operation,
        set(tokens(operation.id)),
        set(tokens(operation.summary)),
        path_tokens,
        operation_number(operation),
    )


def number_adjustment(wanted: str | None, prof: OperationProfile) -> float:
    """A penalty for an operation returning one item when the wording asks for many, or vice versa."""
    if wanted is None or prof.number is None or wanted == prof.number:
        return 0.0
    return -NUMBER_PENALTY


def similarity(step_tokens: set[str], prof: OperationProfile) -> float:
    """Best of the three views, with a small bonus when several views agree."""
    scores = sorted(
        (
            _dice(step_tokens, prof.id_tokens),
            _dice(step_tokens, prof.summary_tokens),
            _dice(step_tokens, prof.path_tokens),
        ),
        reverse=True,
    )
    # "list" and "get" are close relatives: a step saying "get orders" should still reach listOrders.
    if "get" in step_tokens and "list" in prof.id_tokens | prof.path_tokens and "list" not in step_tokens:
        relaxed = (step_tokens - {"get"}) | {"list"}
        scores[0] = max(scores[0], 0.9 * _dice(relaxed, prof.id_tokens | prof.path_tokens))
    score = min(1.0, scores[0] + 0.1 * scores[1])
    # Sharing only the verb is not a match: "Cancel application" must not reach cancel_backfill.
    step_nouns = step_tokens - ACTION_VERBS
    if step_nouns and not step_nouns & (prof.id_tokens | prof.summary_tokens | prof.path_tokens):
        score *= VERB_ONLY_FACTOR
    return score


def find_explicit(ref: str, operations: Sequence[Operation]) -> Operation | None:
    """Exact operationId, then "METHOD /path" (method case-insensitive)."""
    ref = ref.strip()
    for op in operations:
        if op.id == ref:
            return op
    method, _, path = ref.partition(" ")
    path = path.strip()
    for op in operations:
        if op.method.upper() == method.upper() and op.path == path:
            return op
    return None


def explicit_ref(step: ScenarioStepSpec) -> str | None:
    for key in EXPLICIT_META_KEYS:
        value = step.action.meta.get(key)
        if isinstance(value, str) and value.strip():
            return value
    return None


class SimilarityEndpointMatcher:
    """Protocol-neutral matching; subclasses add ``starter_template`` for their request shape."""

    protocol_id = ""
    threshold = MATCH_THRESHOLD
    margin = AMBIGUITY_MARGIN

    def match(
        self,
        steps: Sequence[ScenarioStepSpec],
        spec: SpecSummary,
        *,
        overrides: Mapping[str, str] | None = None,
    ) -> list[StepBinding]:
        profiles = [profile(op) for op in spec.operations]
        bindings = []
        for step in steps:
            bindings.append(self._match_one(step, spec, profiles, (overrides or {}).get(step.alias)))
        return bindings

    def _match_one(
        self,
        step: ScenarioStepSpec,
        spec: SpecSummary,
        profiles: list[OperationProfile],
        override: str | None,
    ) -> StepBinding:
        ref = override or explicit_ref(step)
        source = "designer override" if override else "BPMN extension"
        if ref:
            op = find_explicit(ref, spec.operations)
            if op is not None:
                return StepBinding(
                    step_alias=step.alias,
                    step_name=step.name,
                    status="EXPLICIT",
                    operation_id=op.id,
                    confidence=1.0,
                    reason=f"{source} names {ref!r}",
                )
            return StepBinding(
                step_alias=step.alias,
                step_name=step.name,
                status="UNMATCHED",
                reason=f"{source} names {ref!r}, which is not an operationId or 'METHOD /path' of the spec",
            )
        wording = step.name or step.alias
        step_tokens = set(tokens(wording))
        wanted = wording_number(wording)
        numbers = {p.operation.id: p.number for p in profiles}
        scored = []
        for p in profiles:
            base = similarity(step_tokens, p)
            score = max(0.0, base + number_adjustment(wanted, p)) if base > 0 else 0.0
            scored.append((score, p.operation.id))
        scored.sort(key=lambda item: (-item[0], item[1]))
        candidates = [
            {"operationId": op_id, "score": round(score, 3)} for score, op_id in scored[:5] if score > 0
        ]
        if not scored or scored[0][0] < self.threshold:
            best = f" (best: {scored[0][1]} at {scored[0][0]:.2f})" if scored and scored[0][0] > 0 else ""
            by_id = {p.operation.id: p for p in profiles}
            top = by_id.get(scored[0][1]) if scored and scored[0][0] > 0 else None
            nouns = step_tokens - ACTION_VERBS
            if (
                top is not None
                and nouns
                and not nouns & (top.id_tokens | top.summary_tokens | top.path_tokens)
            ):
                best = best[:-1] + f"; it shares only the verb, not {', '.join(sorted(nouns))})"
            return StepBinding(
                step_alias=step.alias,
                step_name=step.name,
                status="UNMATCHED",
                confidence=round(scored[0][0], 3) if scored else 0.0,
                candidates=candidates,
                reason=f"no operation is similar enough to {step.name!r}{best}",
            )
        best_score, best_id = scored[0]
        if len(scored) > 1 and best_score - scored[1][0] < self.margin:
            twins = {numbers.get(best_id), numbers.get(scored[1][1])} == {"one", "many"}
            hint = " (one item or many? the wording does not say)" if twins and wanted is None else ""
            return StepBinding(
                step_alias=step.alias,
                step_name=step.name,
                status="AMBIGUOUS",
                confidence=round(best_score, 3),
                candidates=candidates,
                reason=f"{best_id} and {scored[1][1]} match {step.name!r} almost equally{hint}; "
                f"bind one explicitly",
            )
        reason = f"name similarity {best_score:.2f}"
        runner_up = numbers.get(scored[1][1]) if len(scored) > 1 else None
        if wanted is not None and numbers.get(best_id) == wanted and runner_up not in (None, wanted):
            reason += f"; the wording asks for {wanted}, so {best_id} rather than {scored[1][1]}"
        return StepBinding(
            step_alias=step.alias,
            step_name=step.name,
            status="MATCHED",
            operation_id=best_id,
            confidence=round(best_score, 3),
            candidates=candidates,
            reason=reason,
        )

    def starter_template(self, operation: Operation, spec: SpecSummary) -> dict[str, Any]:
        return {}

    def bind(
        self, step: ScenarioStepSpec, binding: StepBinding, spec: SpecSummary, service_name: str
    ) -> ScenarioStepSpec:
        """The step with its EndpointRef and (when it had none) a starter inputTemplate."""
        if binding.operation_id is None:
            return step
        op = find_explicit(binding.operation_id, spec.operations)
        if op is None:
            return step
        action = step.action
        if not action.input_template:
            action = action.model_copy(update={"input_template": self.starter_template(op, spec)})
        ref = EndpointRef(protocol_id=self.protocol_id, service_name=service_name, endpoint_name=op.id)
        return step.model_copy(update={"endpoint_ref": ref, "action": action})
