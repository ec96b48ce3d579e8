"""Spec import entry point: read a file, URL or bytes, detect OpenAPI/Swagger/AsyncAPI/protobuf, dispatch."""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from urllib.parse import urlsplit

import httpx

from orchestra_app.domain.errors import ErrorKind, ImportError_
from orchestra_app.domain.spec import SpecSummary
from orchestra_app.importers.files import is_private_host, read_regular_file
from orchestra_app.importers.refs import (
    DEFAULT_MAX_BYTES,
    RefResolver,
    Warnings,
    parse_document_checked,
    unescape_token,
)

_PROTO_START = re.compile(
    rb"\A(?:\s+|//[^\n]*\n|/\*.*?\*/)*(?:syntax|edition|package|import|option|message|service|enum)\b", re.S
)
FETCH_TIMEOUT_S = 30.0


def is_url(source: object) -> bool:
    return isinstance(source, str) and source.startswith(("http://", "https://"))


MAX_REDIRECTS = 5


def fetch_url(url: str, max_bytes: int) -> bytes:
    """GET a spec over HTTP(S), streamed, stopping at ``max_bytes`` (the cap holds for remote files too).

    Redirects are followed by hand (at most 5) and never to a loopback, link-local or private address:
    a public spec server must not be able to point Orchestra at the machine's own or its network's
    services (e.g. cloud metadata).
    """
    chunks: list[bytes] = []
    size = 0
    with httpx.Client(timeout=FETCH_TIMEOUT_S, follow_redirects=False) as client:
        current = url
        for _hop in range(MAX_REDIRECTS + 1):
            with client.stream("GET", current) as resp:
                if resp.is_redirect:
                    location = resp.headers.get("location", "")
                    target = str(resp.url.join(location))
                    parts = urlsplit(target)
                    if parts.scheme not in ("http", "https"):
                        raise ImportError_(
                            f"redirected to {target[:200]!r}, which is not http(s); not followed",
                            kind=ErrorKind.IO,
                            file=url,
                        )
                    if is_private_host(parts.hostname or ""):
                        raise ImportError_(
                            f"redirected to {target[:200]!r}, a loopback, link-local or private address; "
                            "not followed",
                            kind=ErrorKind.IO,
                            file=url,
                        )
                    current = target
                    continue
                resp.raise_for_status()
                for chunk in resp.iter_bytes():
                    size += len(chunk)
                    if size > max_bytes:
                        raise ImportError_(
                            f"larger than the {max_bytes}-byte limit", kind=ErrorKind.TOO_LARGE, file=url
                        )
                    chunks.append(chunk)
                return b"".join(chunks)
    raise ImportError_(f"more than {MAX_REDIRECTS} redirects; not followed", kind=ErrorKind.IO, file=url)


def _read(source: str | Path | bytes, filename: str | None, max_bytes: int) -> tuple[bytes, str, str | None]:
    """(data, display name, location uri or None for in-memory data)."""
    if isinstance(source, bytes):
        if len(source) > max_bytes:
            raise ImportError_(
                f"{len(source)} bytes is larger than the {max_bytes}-byte limit",
                kind=ErrorKind.TOO_LARGE,
                file=filename or "<bytes>",
            )
        return source, filename or "<bytes>", None
    if is_url(source):
        assert isinstance(source, str)
        try:
            data = fetch_url(source, max_bytes)
        except httpx.HTTPError as exc:
            raise ImportError_(f"cannot fetch: {exc}", kind=ErrorKind.IO, file=source) from None
        return data, filename or source, source
    path = Path(source)
    name = filename or str(source)
    data = read_regular_file(path, max_bytes=max_bytes, display=name)
    return data, name, str(path.resolve())


def looks_like_proto(data: bytes, filename: str) -> bool:
    if filename.lower().endswith(".proto"):
        return True
    return bool(_PROTO_START.match(data[:65536]))


def import_spec(
    source: str | Path | bytes,
    *,
    filename: str | None = None,
    allow_remote: bool = False,
    max_bytes: int = DEFAULT_MAX_BYTES,
    include_paths: Sequence[str | Path] = (),
    base_dir: str | Path | None = None,
    allow_roots: Sequence[str | Path] = (),
) -> SpecSummary:
    """Import one spec document.

    ``source`` is a path, an http(s) URL (a ``str`` starting with the scheme) or the document's bytes;
    ``filename`` names it in messages (and gives the extension for bytes). Relative ``$ref``s and proto
    imports resolve against the file's folder (``base_dir`` for bytes); remote ``$ref``s are followed
    only with ``allow_remote``. Local ``$ref``s stay inside the file's own folder tree and the
    ``allow_roots`` (a ``$ref`` elsewhere, ``file:///etc/passwd`` or ``../../x``, is not read: a
    ``ref_refused`` warning names it). Raises ImportError_ for what cannot be read at all; everything else
    that is odd becomes a warning in ``SpecSummary.warnings``.
    """
    data, name, location = _read(source, filename, max_bytes)
    if location is None and base_dir is not None:
        location = str((Path(base_dir) / Path(name).name).resolve())
    if looks_like_proto(data, name):
        from orchestra_app.importers.protobuf import import_proto

        return import_proto(
            data, filename=name, location=location, include_paths=include_paths, max_bytes=max_bytes
        )
    doc, duplicates = parse_document_checked(data, name)
    if not isinstance(doc, dict):
        raise ImportError_(
            "not an API spec: expected an OpenAPI, Swagger, AsyncAPI or protobuf document",
            kind=ErrorKind.UNKNOWN_FORMAT,
            file=name,
        )
    resolver = RefResolver(
        doc,
        location or f"/<memory>/{Path(name).name}",
        display_name=name,
        allow_remote=allow_remote,
        max_bytes=max_bytes,
        fetch=fetch_url,
        base_known=location is not None,
        allow_roots=[Path(r) for r in allow_roots],
    )
    resolver.root_size = len(data)
    warnings = Warnings(root_file=name)
    for dup in duplicates:
        # JSON and YAML readers keep the last value of a repeated key: say what was silently lost.
        warnings.add(
            "duplicate_key",
            f"key {dup.key!r} appears more than once in the same object; only the last value is kept",
            where=[unescape_token(t) for t in dup.pointer.split("/")[1:]],
            line=dup.line,
        )
    if "openapi" in doc or "swagger" in doc:
        from orchestra_app.importers.openapi import import_openapi

        return import_openapi(doc, resolver, warnings)
    if "asyncapi" in doc:
        from orchestra_app.importers.asyncapi import import_asyncapi

        return import_asyncapi(doc, resolver, warnings)
    raise ImportError_(
        "not an API spec: no 'openapi', 'swagger' or 'asyncapi' field at the top level",
        kind=ErrorKind.UNKNOWN_FORMAT,
        file=name,
        pointer="",
    )
