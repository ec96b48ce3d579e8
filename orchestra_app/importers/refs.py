"""Reading spec documents (JSON/YAML) and resolving and bundling their ``$ref``s into local pointers."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote, urljoin, urlsplit

import yaml

from orchestra_app.domain.errors import ErrorKind, ImportError_
from orchestra_app.domain.spec import SpecWarning
from orchestra_app.importers.files import confine, is_private_host, read_regular_file

DEFAULT_MAX_BYTES = 32 * 1024 * 1024
# A YAML alias bomb stays small on disk but explodes when walked: the walk is capped at this many
# nodes or two per byte of the root document, whichever is larger (real specs stay far below both).
MIN_NODE_BUDGET = 2_000_000
MAX_DEPTH = 400
# Documents nested deeper than this are refused when read: real specs stay under 30 levels, and a
# summary nested past ~250 levels can no longer be serialised (pydantic's limit) or stored.
MAX_DOCUMENT_DEPTH = 128

_BaseLoader: type = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _SpecLoader(_BaseLoader):  # type: ignore[misc, valid-type]
    """Safe YAML loader that keeps documents JSON-shaped.

    Dates stay strings (no timestamp resolver) and only true/false are booleans ("on", "yes", "no"
    stay strings, as in YAML 1.2 / JSON); mapping keys are always strings (``200:`` -> ``"200"``).
    Duplicate keys are recorded (``duplicates``) so the importer can warn about them.

    Aliases are counted before anything is built: the composed node graph is measured as the tree it
    would expand to (each node once, memoised), and a document expanding past ``expansion_budget``
    nodes (an alias bomb) or through a recursive alias is refused in well under a second.
    """

    expansion_budget = MIN_NODE_BUDGET

    def get_single_data(self) -> Any:
        node = self.get_single_node()
        if node is None:
            return None
        _check_expansion(node, self.expansion_budget)
        self.duplicates: list[tuple[int, str, int]] = []  # (id of the mapping, key, line)
        return self.construct_document(node)


class _AliasBomb(Exception):
    def __init__(self, message: str, line: int | None) -> None:
        super().__init__(message)
        self.line = line


def _check_expansion(root: yaml.Node, budget: int) -> None:
    """Size of the tree ``root`` expands to, from the node graph (aliases are shared nodes)."""
    sizes: dict[int, int] = {}
    open_nodes: set[int] = set()
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, done = stack.pop()
        key = id(node)
        if done:
            open_nodes.discard(key)
            children = _children(node)
            total = 1 + sum(sizes[id(c)] for c in children)
            if total > budget:
                raise _AliasBomb(
                    f"the document expands to more than {budget:,} nodes through YAML aliases "
                    "(an alias bomb?)",
                    node.start_mark.line + 1 if node.start_mark else None,
                )
            sizes[key] = total
            continue
        if key in sizes:
            continue
        if key in open_nodes:
            raise _AliasBomb(
                "a YAML alias refers to the node that contains it (a recursive document)",
                node.start_mark.line + 1 if node.start_mark else None,
            )
        open_nodes.add(key)
        stack.append((node, True))
        stack.extend((c, False) for c in _children(node) if id(c) not in sizes)


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.MappingNode):
        return [part for pair in node.value for part in pair]
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    return []


_SpecLoader.yaml_implicit_resolvers = {
    first: [
        (tag, regexp)
        for tag, regexp in resolvers
        if tag not in ("tag:yaml.org,2002:timestamp", "tag:yaml.org,2002:bool")
    ]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_BOOL_RE = re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$")
for _first in "tTfF":
    _SpecLoader.yaml_implicit_resolvers.setdefault(_first, []).append(("tag:yaml.org,2002:bool", _BOOL_RE))


def _key_str(key: Any) -> str:
    if isinstance(key, bool):
        return "true" if key else "false"
    if key is None:
        return "null"
    return key if isinstance(key, str) else str(key)


def _construct_mapping(loader: Any, node: yaml.MappingNode, deep: bool = False) -> dict[str, Any]:
    own = sum(1 for key_node, _ in node.value if key_node.tag != "tag:yaml.org,2002:merge")
    loader.flatten_mapping(node)
    merged = len(node.value) - own  # pairs from ``<<`` merge keys come first and may be overridden
    result: dict[str, Any] = {}
    own_keys: set[str] = set()
    for index, (key_node, value_node) in enumerate(node.value):
        key = loader.construct_object(key_node, deep=True)
        if isinstance(key, list | dict):
            key = json.dumps(key, default=str)
        text = _key_str(key)
        if index >= merged:
            if text in own_keys:
                loader.duplicates.append((id(result), text, key_node.start_mark.line + 1))
            own_keys.add(text)
        result[text] = loader.construct_object(value_node, deep=deep)
    return result


def _construct_bool(loader: Any, node: yaml.ScalarNode) -> bool:
    return str(loader.construct_scalar(node)).lower() == "true"


_SpecLoader.add_constructor("tag:yaml.org,2002:map", _construct_mapping)
_SpecLoader.add_constructor("tag:yaml.org,2002:bool", _construct_bool)


def looks_like_json(data: bytes) -> bool:
    head = data[:64].lstrip(b"\xef\xbb\xbf \t\r\n")
    return head[:1] in (b"{", b"[")


_UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")
_HUGE_INT = re.compile(r"\d{4000,}")


def decode_text(data: bytes, filename: str) -> str:
    """UTF-8 (BOM allowed) or UTF-16 with a BOM, as YAML 1.2 allows; anything else is a syntax error."""
    try:
        if data.startswith(_UTF16_BOMS):
            return data.decode("utf-16")
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        encoding = "UTF-16" if data.startswith(_UTF16_BOMS) else "UTF-8"
        raise ImportError_(
            f"not {encoding} text ({exc.reason})", kind=ErrorKind.SYNTAX, file=filename, line=line
        ) from None


_Found = list[tuple[int, str, int | None]]  # (id of the mapping object, duplicated key, line)


@dataclass(frozen=True)
class DuplicateKey:
    """A mapping key given twice in one object: the later value won, the earlier one is lost."""

    pointer: str  # JSON pointer of the key
    key: str
    line: int | None = None


def parse_document(data: bytes, filename: str) -> Any:
    """JSON when it looks like JSON (a YAML reader chokes on some JSON escapes), else safe YAML.

    The result is JSON-shaped and storable: at most ``MAX_DOCUMENT_DEPTH`` levels deep, no lone
    surrogates (``"\\ud800"`` escapes become U+FFFD). Every failure is an ImportError_.
    """
    return parse_document_checked(data, filename)[0]


def parse_document_checked(data: bytes, filename: str) -> tuple[Any, list[DuplicateKey]]:
    """``parse_document`` plus the duplicate keys found (with their pointers) for warnings."""
    text = decode_text(data, filename)
    if not text.strip("\ufeff \t\r\n"):
        raise ImportError_("the file is empty", kind=ErrorKind.SYNTAX, file=filename)
    budget = max(MIN_NODE_BUDGET, 2 * len(text))
    duplicates: _Found = []
    try:
        doc = _parse_text(text, filename, budget, duplicates)
    except RecursionError:
        raise ImportError_(
            f"nested deeper than {MAX_DOCUMENT_DEPTH} levels", kind=ErrorKind.SYNTAX, file=filename
        ) from None
    except _AliasBomb as exc:
        raise ImportError_(str(exc), kind=ErrorKind.TOO_LARGE, file=filename, line=exc.line) from None
    except ValueError as exc:  # Python refuses to convert integers of more than 4300 digits
        match = _HUGE_INT.search(text)
        raise ImportError_(
            f"a number of {len(match.group())} digits is too large to read"
            if match
            else f"cannot read: {exc}",
            kind=ErrorKind.SYNTAX,
            file=filename,
            line=text.count("\n", 0, match.start()) + 1 if match else None,
        ) from None
    wanted: dict[int, list[tuple[str, int | None]]] = {}
    for mapping_id, key, line in duplicates:
        wanted.setdefault(mapping_id, []).append((key, line))
    found: list[DuplicateKey] = []
    doc = _check_shape(
        doc,
        filename,
        budget,
        fix_surrogates=_SURROGATE_ESCAPE.search(text) is not None,
        duplicates=wanted,
        found=found,
    )
    return doc, found


def _parse_text(text: str, filename: str, budget: int, duplicates: _Found) -> Any:
    if text.lstrip("\ufeff \t\r\n")[:1] in ("{", "["):
        try:
            return json.loads(text, object_pairs_hook=_json_object(duplicates))
        except json.JSONDecodeError as exc:
            json_error = exc
        # Some "JSON" specs are really YAML flow style; only if YAML also fails is the JSON error reported.
        duplicates.clear()
        try:
            return _load_yaml(text, budget, duplicates)
        except yaml.YAMLError:
            raise ImportError_(
                f"broken JSON: {json_error.msg}",
                kind=ErrorKind.SYNTAX,
                file=filename,
                line=json_error.lineno,
                column=json_error.colno,
            ) from None
    try:
        return _load_yaml(text, budget, duplicates)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        problem = " ".join(p for p in (exc.context, exc.problem) if p)
        raise ImportError_(
            f"broken YAML: {problem or 'cannot parse'}",
            kind=ErrorKind.SYNTAX,
            file=filename,
            line=mark.line + 1 if mark else None,
            column=mark.column + 1 if mark else None,
        ) from None
    except yaml.YAMLError as exc:
        raise ImportError_(f"broken YAML: {exc}", kind=ErrorKind.SYNTAX, file=filename) from None


def _json_object(
    duplicates: list[tuple[int, str, int | None]],
) -> Callable[[list[tuple[str, Any]]], dict[str, Any]]:
    def build(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        result = dict(pairs)
        if len(result) != len(pairs):
            seen: set[str] = set()
            for key, _value in pairs:
                if key in seen:
                    duplicates.append((id(result), key, None))
                seen.add(key)
        return result

    return build


def _load_yaml(text: str, budget: int, duplicates: _Found) -> Any:
    loader = _SpecLoader(text)
    loader.expansion_budget = budget
    try:
        doc = loader.get_single_data()
        duplicates.extend(getattr(loader, "duplicates", []))
        return doc
    finally:
        loader.dispose()


def _check_shape(
    doc: Any,
    filename: str,
    budget: int,
    *,
    fix_surrogates: bool,
    duplicates: dict[int, list[tuple[str, int | None]]] | None = None,
    found: list[DuplicateKey] | None = None,
) -> Any:
    """Refuse documents nested too deep (naming the pointer) or expanding past ``budget`` containers
    (YAML aliases); replace lone surrogates in strings.

    One iterative pass (no recursion, so no RecursionError); about 10 ms for the 4 MB Stripe spec.
    """
    if not isinstance(doc, dict | list):
        return _clean_str(doc) if fix_surrogates and isinstance(doc, str) else doc
    # (node, depth, (key, parent's link)): the links give the pointer of a node that is too deep.
    stack: list[tuple[Any, int, Any]] = [(doc, 1, None)]
    while stack:
        node, depth, link = stack.pop()
        budget -= 1
        if budget < 0:
            raise ImportError_(
                "document expands to too many nodes (YAML alias bomb?)",
                kind=ErrorKind.TOO_LARGE,
                file=filename,
            )
        if depth > MAX_DOCUMENT_DEPTH:
            tokens: list[Any] = []
            while link is not None:
                tokens.append(link[0])
                link = link[1]
            raise ImportError_(
                f"nested deeper than {MAX_DOCUMENT_DEPTH} levels",
                kind=ErrorKind.SYNTAX,
                file=filename,
                pointer=pointer(reversed(tokens)),
            )
        if isinstance(node, dict):
            if duplicates and found is not None and id(node) in duplicates:
                tokens = []
                walk = link
                while walk is not None:
                    tokens.append(walk[0])
                    walk = walk[1]
                base = pointer(reversed(tokens))
                for key, line in duplicates.pop(id(node)):
                    found.append(DuplicateKey(f"{base}/{escape_token(key)}", key, line))
            if fix_surrogates:
                for key in [k for k in node if isinstance(k, str) and _LONE_SURROGATE.search(k)]:
                    node[_clean_str(key)] = node.pop(key)
            items: Iterable[tuple[Any, Any]] = node.items()
        else:
            items = enumerate(node)
        for k, v in items:
            if isinstance(v, dict | list):
                stack.append((v, depth + 1, (k, link)))
            elif fix_surrogates and isinstance(v, str) and _LONE_SURROGATE.search(v):
                node[k] = _clean_str(v)
    return doc


def _clean_str(value: str) -> str:
    return _LONE_SURROGATE.sub("\ufffd", value)


# ---------------------------------------------------------------------------------------------- pointers


def escape_token(token: str) -> str:
    return token.replace("~", "~0").replace("/", "~1")


def unescape_token(token: str) -> str:
    return token.replace("~1", "/").replace("~0", "~")


def pointer(tokens: Iterable[Any]) -> str:
    """RFC 6901 pointer text (for messages): ``/paths/~1pets/get``."""
    return "".join("/" + escape_token(str(t)) for t in tokens)


_FRAGMENT_SAFE = "/~!$&'()*+,;=:@-._"


def ref_fragment(tokens: Iterable[Any]) -> str:
    """A local ``$ref``: tokens JSON-pointer-escaped (~0, ~1), then percent-encoded for a URI fragment."""
    return "#" + "".join("/" + quote(escape_token(str(t)), safe=_FRAGMENT_SAFE) for t in tokens)


def component_ref(kind: str, name: str) -> str:
    return ref_fragment(("components", kind, name))


def split_fragment(fragment: str) -> list[str] | None:
    """Pointer tokens of a fragment (``/a/b~1c``); None for a non-pointer fragment (a plain-name anchor)."""
    if fragment == "":
        return []
    if not fragment.startswith("/"):
        return None
    return [unescape_token(t) for t in fragment[1:].split("/")]


def walk_pointer(doc: Any, tokens: list[str]) -> Any:
    """Follow plain pointer tokens; raises KeyError when a step is missing."""
    node = doc
    for token in tokens:
        if isinstance(node, dict):
            if token in node:
                node = node[token]
                continue
            raise KeyError(token)
        if isinstance(node, list):
            try:
                node = node[int(token)]
            except (ValueError, IndexError):
                raise KeyError(token) from None
            continue
        raise KeyError(token)
    return node


# ------------------------------------------------------------------------------------------- resolution


class RefError(Exception):
    """A ``$ref`` that cannot be followed; ``code`` becomes the warning code."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def is_ref(node: Any) -> bool:
    return isinstance(node, dict) and isinstance(node.get("$ref"), str)


def _is_remote(uri: str) -> bool:
    return uri.startswith(("http://", "https://"))


@dataclass
class Warnings:
    """Collects warnings with the file and JSON pointer where each quirk was found."""

    root_file: str
    items: list[SpecWarning] = field(default_factory=list)
    seen: set[tuple[str, str, str]] = field(default_factory=set)
    limit: int = 2000

    def add(
        self,
        code: str,
        message: str,
        where: Iterable[Any] = (),
        file: str | None = None,
        line: int | None = None,
    ) -> None:
        ptr = pointer(where)
        key = (code, ptr, message)
        if key in self.seen:
            return
        self.seen.add(key)
        if len(self.items) == self.limit:
            self.items.append(SpecWarning(code="too_many_warnings", message="further warnings omitted"))
        if len(self.items) > self.limit:
            return
        shown = file if file and file != self.root_file else None
        self.items.append(
            SpecWarning(
                code=code, message=message, pointer=ptr or "/", file=shown or self.root_file, line=line
            )
        )


class RefResolver:
    """Loads documents by URI (root, relative files, remote URLs when allowed) and follows ``$ref``s."""

    def __init__(
        self,
        root: Any,
        root_uri: str,
        *,
        display_name: str,
        allow_remote: bool = False,
        max_bytes: int = DEFAULT_MAX_BYTES,
        fetch: Callable[[str, int], bytes] | None = None,
        base_known: bool = True,
        allow_roots: Iterable[Path] = (),
    ) -> None:
        self.root_uri = root_uri
        self.display_name = display_name
        self.allow_remote = allow_remote
        self.max_bytes = max_bytes
        self.fetch = fetch
        self.base_known = base_known
        self.root_size = 0  # bytes of the root document; sets the bundler's node budget
        self.docs: dict[str, Any] = {root_uri: root}
        self.failed: dict[str, RefError] = {}
        # Local files a $ref may read: the root document's folder tree plus the roots the user named.
        self.roots: list[Path] = [Path(r) for r in allow_roots]
        if base_known and not _is_remote(root_uri):
            self.roots.insert(0, Path(root_uri).parent)

    def display(self, uri: str) -> str:
        """File name for messages: relative to the root's folder when possible."""
        if uri == self.root_uri:
            return self.display_name
        if not _is_remote(uri) and not _is_remote(self.root_uri):
            rel = os.path.relpath(uri, Path(self.root_uri).parent)
            return os.path.normpath(str(Path(self.display_name).parent / rel))
        return uri

    def target_uri(self, ref_path: str, base_uri: str) -> str:
        if _is_remote(ref_path):
            if _is_remote(base_uri):
                self._check_remote_host(ref_path, base_uri)
            return ref_path
        if _is_remote(base_uri):
            if ref_path.startswith("file:"):  # a fetched document must not read this machine's files
                raise RefError("unresolved_ref", f"remote document refers to a local file {ref_path!r}")
            return urljoin(base_uri, ref_path)
        if not self.base_known:  # uploaded bytes: no file access at all
            raise RefError("unresolved_ref", f"file reference {ref_path!r} in a document without a folder")
        if ref_path.startswith("file://"):
            target = Path(unquote(urlsplit(ref_path).path))
        else:
            target = Path(base_uri).parent / unquote(ref_path)
        reason = confine(target, self.roots)
        if reason is not None:
            raise RefError("ref_refused", f"$ref {ref_path[:200]!r} not followed: {reason}")
        return str(target.resolve())

    def _check_remote_host(self, ref_path: str, base_uri: str) -> None:
        """A fetched document may refer to its own server, not to another, internal one."""
        host = urlsplit(ref_path).hostname or ""
        if host != (urlsplit(base_uri).hostname or "") and is_private_host(host):
            raise RefError(
                "ref_refused",
                f"remote document refers to {ref_path[:200]!r}, a loopback, link-local or private "
                "address; not followed",
            )

    def load(self, uri: str) -> Any:
        if uri in self.docs:
            return self.docs[uri]
        if uri in self.failed:
            raise self.failed[uri]
        try:
            doc = self._load(uri)
        except RefError as exc:
            self.failed[uri] = exc
            raise
        self.docs[uri] = doc
        return doc

    def _load(self, uri: str) -> Any:
        name = self.display(uri)
        if _is_remote(uri):
            if not self.allow_remote or self.fetch is None:
                raise RefError(
                    "remote_ref_blocked", f"remote reference to {uri} not followed (remote refs are off)"
                )
            try:
                data = self.fetch(uri, self.max_bytes)
            except Exception as exc:  # network failures of any kind become a warning on the ref
                raise RefError("unresolved_ref", f"cannot fetch {uri}: {exc}") from None
        else:
            try:
                data = read_regular_file(uri, max_bytes=self.max_bytes, display=name)
            except ImportError_ as exc:
                if exc.kind == ErrorKind.TOO_LARGE:
                    raise RefError(
                        "too_large", f"referenced file {name} is larger than {self.max_bytes} bytes"
                    ) from None
                if exc.message == "file not found":
                    raise RefError("unresolved_ref", f"referenced file {name} does not exist") from None
                raise RefError("unresolved_ref", f"referenced file {name}: {exc.message}") from None
        try:
            return parse_document(data, name)
        except ImportError_ as exc:
            raise RefError("unresolved_ref", f"referenced file cannot be read: {exc}") from None

    def split(self, ref: str, base_uri: str) -> tuple[str, list[str]]:
        """(document uri, pointer tokens) of a ``$ref`` seen in the document at ``base_uri``."""
        path_part, _, fragment = ref.partition("#")
        uri = self.target_uri(path_part, base_uri) if path_part else base_uri
        tokens = split_fragment(unquote(fragment))
        if tokens is None:
            raise RefError("unresolved_ref", f"$ref {ref!r} uses a plain-name fragment, not a JSON pointer")
        if "%" in fragment and uri in self.docs:
            # Some specs have keys with a literal "%xx" and refer to them unencoded: take whichever resolves.
            raw = split_fragment(fragment)
            if raw is not None:
                try:
                    walk_pointer(self.docs[uri], tokens)
                except KeyError:
                    try:
                        walk_pointer(self.docs[uri], raw)
                        return uri, raw
                    except KeyError:
                        pass
        return uri, tokens

    def lookup(self, uri: str, tokens: list[str], ref: str) -> Any:
        doc = self.load(uri)
        try:
            return walk_pointer(doc, tokens)
        except KeyError:
            pass
        # Real specs step through other refs on the way (``#/paths/~1a/get`` where /paths/~1a is a $ref).
        node, node_uri = doc, uri
        for i, token in enumerate(tokens):
            hops = 0
            while is_ref(node) and token not in node:
                hops += 1
                if hops > 50:
                    raise RefError("ref_loop", f"$ref {ref!r} runs into a reference loop")
                node_uri, sub = self.split(node["$ref"], node_uri)
                node = self.lookup(node_uri, sub, ref)
            try:
                node = walk_pointer(node, [token])
            except KeyError:
                raise RefError(
                    "unresolved_ref", f"$ref {ref!r} points to nothing (no {pointer(tokens[: i + 1])!r})"
                ) from None
        return node

    def deref(self, node: Any, base_uri: str) -> tuple[Any, str, list[str] | None]:
        """Follow a chain of pure refs to a real node: (node, its document uri, its tokens or None)."""
        seen: set[tuple[str, str]] = set()
        tokens: list[str] | None = None
        while is_ref(node):
            ref = node["$ref"]
            uri, tokens = self.split(ref, base_uri)
            key = (uri, pointer(tokens))
            if key in seen:
                raise RefError("ref_loop", f"$ref {ref!r} points back to itself (reference loop)")
            seen.add(key)
            node = self.lookup(uri, tokens, ref)
            base_uri = uri
        return node, base_uri, tokens


# --------------------------------------------------------------------------------------------- bundling

# Keys whose values are data or vendor extensions: no refs are rewritten below them.
_DATA_KEYS = frozenset({"example", "examples", "default", "enum", "const", "x-examples", "x-example"})
_SCHEMA_KEYS = frozenset({"schema", "payload", "items", "properties", "allOf", "anyOf", "oneOf"})
_NAME_RE = re.compile(r"[^A-Za-z0-9._-]+")


@dataclass
class _Pending:
    kind: str
    name: str
    node: Any
    uri: str
    tokens: list[str]


class Bundler:
    """Copies schemas with every ``$ref`` rewritten to ``#/components/<kind>/<Name>`` of one output document.

    Refs to the root's own components stay (mapped, e.g. Swagger ``#/definitions/X`` to
    ``#/components/schemas/X``); anything else (other files, other places) is copied into the output
    components under a unique name, once per target, so circular refs stay refs. Refs that cannot be
    followed become ``{"x-unresolved-ref": ...}`` plus a warning, so every remaining ref resolves.
    """

    def __init__(
        self,
        resolver: RefResolver,
        warnings: Warnings,
        *,
        root_prefixes: dict[tuple[str, ...], str],
        fixup: Callable[[dict[str, Any], list[Any], str], dict[str, Any]] | None = None,
    ) -> None:
        self.resolver = resolver
        self.warnings = warnings
        self.root_prefixes = root_prefixes
        self.fixup = fixup
        self.components: dict[str, dict[str, Any]] = {}
        self._names: dict[tuple[str, str], tuple[str, str]] = {}  # (uri, pointer) -> (kind, name)
        self._taken: dict[str, set[str]] = {}
        self._queue: list[_Pending] = []
        self._done_root: set[tuple[str, str]] = set()
        self.nodes = 0
        self.max_nodes = max(MIN_NODE_BUDGET, 2 * resolver.root_size)
        root = resolver.docs[resolver.root_uri]
        for prefix, kind in root_prefixes.items():
            try:
                section = walk_pointer(root, list(prefix))
            except KeyError:
                continue
            if isinstance(section, dict):
                self._taken.setdefault(kind, set()).update(section)

    # -- public

    def copy(self, node: Any, uri: str, where: list[Any], kind: str = "schemas") -> Any:
        """A rewritten copy of ``node`` (found at ``where`` in the document ``uri``)."""
        out = self._walk(node, uri, list(where), kind, 0)
        return out

    def add_root_component(self, kind: str, name: str) -> None:
        """Bundle one of the root's own components (whether or not anything refers to it)."""
        for prefix, k in self.root_prefixes.items():
            if k == kind:
                self._schedule_root(prefix, kind, name)

    def bundled_origins(self) -> dict[tuple[str, str], tuple[str, list[str]]]:
        """(kind, name) -> (document uri, pointer tokens) of each component copied in from elsewhere
        than the root's own components (other files, other places of the root)."""
        return {names: (uri, split_fragment(ptr) or []) for (uri, ptr), names in self._names.items()}

    def finish(self) -> dict[str, dict[str, Any]]:
        while self._queue:
            item = self._queue.pop()
            node = item.node
            where = item.tokens
            if is_ref(node):
                try:
                    self.resolver.deref(node, item.uri)
                except RefError as exc:
                    self._warn(exc, where, item.uri)
                    node = {k: v for k, v in node.items() if k != "$ref"}
                    node["x-unresolved-ref"] = item.node["$ref"]
            self.components.setdefault(item.kind, {})[item.name] = self._walk(
                node, item.uri, where, item.kind, 0
            )
        return self.components

    # -- internals

    def _warn(self, exc: RefError, where: list[Any], uri: str) -> None:
        self.warnings.add(exc.code, exc.message, where, self.resolver.display(uri))

    def _schedule_root(self, prefix: tuple[str, ...], kind: str, name: str) -> tuple[str, str] | None:
        key = (kind, name)
        if key in self._done_root:
            return key
        root = self.resolver.docs[self.resolver.root_uri]
        try:
            node = walk_pointer(root, [*prefix, name])
        except KeyError:
            return None
        self._done_root.add(key)
        self._queue.append(_Pending(kind, name, node, self.resolver.root_uri, [*prefix, name]))
        return key

    def _unique(self, kind: str, base: str) -> str:
        taken = self._taken.setdefault(kind, set())
        base = _NAME_RE.sub("_", base).strip("_") or "Schema"
        name, n = base, 1
        while name in taken:
            n += 1
            name = f"{base}_{n}"
        taken.add(name)
        return name

    def _rewrite_ref(self, node: dict[str, Any], uri: str, where: list[Any], kind: str) -> Any:
        ref = node["$ref"]
        try:
            target_uri, tokens = self.resolver.split(ref, uri)
            if target_uri == self.resolver.root_uri:
                for prefix, pkind in self.root_prefixes.items():
                    n = len(prefix)
                    if len(tokens) > n and tuple(tokens[:n]) == prefix:
                        self.resolver.lookup(target_uri, tokens, ref)  # must exist
                        self._schedule_root(prefix, pkind, tokens[n])
                        rest = tokens[n:]
                        return self._with_ref(
                            node, ref_fragment(("components", pkind, *rest)), uri, where, kind
                        )
            key = (target_uri, pointer(tokens))
            if key not in self._names:
                target = self.resolver.lookup(target_uri, tokens, ref)
                base = tokens[-1] if tokens else Path(urlsplit(target_uri).path).stem
                name = self._unique(kind, base)
                self._names[key] = (kind, name)
                self._queue.append(_Pending(kind, name, target, target_uri, list(tokens)))
            tkind, tname = self._names[key]
            return self._with_ref(node, component_ref(tkind, tname), uri, where, kind)
        except RefError as exc:
            self._warn(exc, [*where, "$ref"], uri)
            out = {k: self._walk(v, uri, [*where, k], kind, 1) for k, v in node.items() if k != "$ref"}
            out["x-unresolved-ref"] = ref
            return out

    def _with_ref(
        self, node: dict[str, Any], new_ref: str, uri: str, where: list[Any], kind: str
    ) -> dict[str, Any]:
        if len(node) == 1:
            return {"$ref": new_ref}
        out: dict[str, Any] = {"$ref": new_ref}
        for k, v in node.items():
            if k != "$ref":
                out[k] = self._walk(v, uri, [*where, k], kind, 1)
        return out

    def _walk(self, node: Any, uri: str, where: list[Any], kind: str, depth: int) -> Any:
        self.nodes += 1
        if self.nodes > self.max_nodes:
            raise ImportError_(
                f"document expands to more than {self.max_nodes} nodes (YAML alias bomb?)",
                kind=ErrorKind.TOO_LARGE,
                file=self.resolver.display(uri),
                pointer=pointer(where),
            )
        if depth > MAX_DEPTH:
            self.warnings.add("too_deep", f"nesting deeper than {MAX_DEPTH} levels cut off", where)
            return {}
        if isinstance(node, dict):
            if is_ref(node):
                return self._rewrite_ref(node, uri, where, kind)
            out: dict[str, Any] = {}
            for k, v in node.items():
                if k in _DATA_KEYS or k.startswith("x-") or not isinstance(v, dict | list):
                    out[k] = v
                    continue
                where.append(k)
                out[k] = self._walk(v, uri, where, "schemas" if k in _SCHEMA_KEYS else kind, depth + 1)
                where.pop()
            if self.fixup is not None:
                out = self.fixup(out, where, uri)
            return out
        if isinstance(node, list):
            items = []
            for i, v in enumerate(node):
                if isinstance(v, dict | list):
                    where.append(i)
                    items.append(self._walk(v, uri, where, kind, depth + 1))
                    where.pop()
                else:
                    items.append(v)
            return items
        return node
