"""Spec import entry point: read a file, URL or bytes, detect OpenAPI/Swagger/AsyncAPI/protobuf, dispatch."""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

import httpx

from orchestra_app.domain.errors import ErrorKind, ImportError_
from orchestra_app.domain.spec import SpecSummary
from orchestra_app.importers.refs import DEFAULT_MAX_BYTES, RefResolver, Warnings, parse_document

_PROTO_START = re.compile(
    rb"\A(?:\s+|//[^\n]*\n|/\*.*?\*/)*(?:syntax|edition|package|import|option|message|service|enum)\b", re.S
)
FETCH_TIMEOUT_S = 30.0


def is_url(source: object) -> bool:
    return isinstance(source, str) and source.startswith(("http://", "https://"))


def fetch_url(url: str, max_bytes: int) -> bytes:
    """GET a spec over HTTP(S), streamed, stopping at ``max_bytes`` (the cap holds for remote files too)."""
    chunks: list[bytes] = []
    size = 0
    with (
        httpx.Client(timeout=FETCH_TIMEOUT_S, follow_redirects=True) as client,
        client.stream("GET", url) as resp,
    ):
        resp.raise_for_status()
        for chunk in resp.iter_bytes():
            size += len(chunk)
            if size > max_bytes:
                raise ImportError_(
                    f"larger than the {max_bytes}-byte limit", kind=ErrorKind.TOO_LARGE, file=url
                )
            chunks.append(chunk)
    return b"".join(chunks)


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
    try:
        size = path.stat().st_size
        if not path.is_file():
            raise ImportError_("not a file", kind=ErrorKind.IO, file=name)
        if size > max_bytes:
            raise ImportError_(
                f"{size} bytes is larger than the {max_bytes}-byte limit", kind=ErrorKind.TOO_LARGE, file=name
            )
        data = path.read_bytes()
    except FileNotFoundError:
        raise ImportError_("file not found", kind=ErrorKind.IO, file=name) from None
    except OSError as exc:
        raise ImportError_(f"cannot read: {exc.strerror or exc}", kind=ErrorKind.IO, file=name) from None
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
) -> SpecSummary:
    """Import one spec document.

    ``source`` is a path, an http(s) URL (a ``str`` starting with the scheme) or the document's bytes;
    ``filename`` names it in messages (and gives the extension for bytes). Relative ``$ref``s and proto
    imports resolve against the file's folder (``base_dir`` for bytes); remote ``$ref``s are followed
    only with ``allow_remote``. Raises ImportError_ for what cannot be read at all; everything else
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
    doc = parse_document(data, name)
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
    )
    resolver.root_size = len(data)
    warnings = Warnings(root_file=name)
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
