"""Hardened XML parsing for imported documents: size cap, entity ban, encoding and recover-mode retries."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from lxml import etree

from orchestra_app.domain.errors import ErrorKind, ImportError_
from orchestra_app.domain.graph import ImportWarning

DEFAULT_MAX_BYTES = 20 * 1024 * 1024
MAX_XML_DEPTH = 256  # libxml2's limit without XML_PARSE_HUGE

_DOCTYPE = re.compile(rb"<!DOCTYPE", re.IGNORECASE)
_ENTITY = re.compile(rb"<!ENTITY", re.IGNORECASE)
_ROOT_START = re.compile(rb"<[A-Za-z_:]")
_XML_DECL_ENCODING = re.compile(rb"""^(\s*<\?xml[^>]*?)\s+encoding\s*=\s*["'][^"']*["']""")
_ENCODING_HINTS = ("encoding", "Invalid bytes", "not proper UTF", "Input is not proper", "Char 0x")


@dataclass
class ParsedXml:
    """The parsed root plus what it took to get it."""

    root: etree._Element
    warnings: list[ImportWarning] = field(default_factory=list)
    recovered: bool = False
    recover_reason: ImportError_ | None = (
        None  # the strict parser's first error, when recover mode was needed
    )


def _parser(*, recover: bool, encoding: str | None = None) -> etree.XMLParser:
    # No entity expansion, no DTD loading, no network, no huge-tree escape hatch: the XML bombs and
    # external-entity reads all need one of these switched on.
    return etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        dtd_validation=False,
        huge_tree=False,
        recover=recover,
        remove_comments=True,
        remove_pis=True,
        encoding=encoding,
    )


def _line_of(data: bytes, pos: int) -> int:
    return data.count(b"\n", 0, pos) + 1


def _column_of(data: bytes, pos: int) -> int:
    return pos - (data.rfind(b"\n", 0, pos) + 1) + 1


def _as_scannable(data: bytes) -> bytes:
    """ASCII-compatible view of the document so the DOCTYPE/ENTITY scan also sees UTF-16/32 input."""
    head = data[:4]
    for bom, codec in (
        (b"\xff\xfe\x00\x00", "utf-32-le"),
        (b"\x00\x00\xfe\xff", "utf-32-be"),
        (b"\xff\xfe", "utf-16-le"),
        (b"\xfe\xff", "utf-16-be"),
    ):
        if head.startswith(bom):
            return data.decode(codec, errors="replace").encode("utf-8", errors="replace")
    if len(data) > 1 and (data[0] == 0 or data[1] == 0):
        codec = "utf-16-be" if data[0] == 0 else "utf-16-le"
        return data.decode(codec, errors="replace").encode("utf-8", errors="replace")
    return data


def _prolog_end(scan: bytes) -> int:
    """Where the root element starts, skipping comments and PIs (``<!-- <a -->`` is not the root)."""
    pos = 0
    while True:
        lt = scan.find(b"<", pos)
        if lt < 0:
            return len(scan)
        for opener, closer in ((b"<!--", b"-->"), (b"<?", b"?>")):
            if scan.startswith(opener, lt):
                end = scan.find(closer, lt + len(opener))
                if end < 0:
                    return len(scan)
                pos = end + len(closer)
                break
        else:
            if _ROOT_START.match(scan, lt):
                return lt
            pos = lt + 1


def _declared_entities(root: etree._Element) -> list[str]:
    dtd = root.getroottree().docinfo.internalDTD
    return [entity.name or "" for entity in dtd.entities()] if dtd is not None else []


def reject_unsafe(data: bytes, *, filename: str) -> list[ImportWarning]:
    """Refuse documents that declare entities (billion laughs, external entities); note plain DOCTYPEs."""
    scan = _as_scannable(data)
    # A DOCTYPE (and its internal subset) can only precede the root element: scan that prolog only.
    prolog_end = _prolog_end(scan)
    match = _DOCTYPE.search(scan, 0, prolog_end)
    if match is None:
        return []
    entity = _ENTITY.search(scan, match.end(), prolog_end)
    if entity is not None:
        raise ImportError_(
            "the document declares XML entities in a DOCTYPE; entity declarations are refused "
            "(they enable entity-expansion bombs and external-file reads)",
            kind=ErrorKind.UNSAFE_XML,
            file=filename,
            line=_line_of(scan, entity.start()),
            column=_column_of(scan, entity.start()),
        )
    line = _line_of(scan, match.start())
    return [
        ImportWarning(
            code="DOCTYPE_IGNORED",
            message="the DOCTYPE declaration was ignored (DTDs are never loaded)",
            line=line,
        )
    ]


def _syntax_error(err: etree.XMLSyntaxError, *, filename: str, kind: ErrorKind) -> ImportError_:
    # ``position`` is (line, 1-based column) as libxml2 reports it in the message.
    line, column = err.position if err.position else (None, None)
    msg = err.msg or str(err)
    # lxml appends ", line N, column M" to the message; the location lives in the error's fields.
    msg = re.sub(r",? line \d+, column \d+\s*$", "", msg)
    return ImportError_(
        f"not well-formed XML: {msg}",
        kind=kind,
        file=filename,
        line=line or None,
        column=column or None,
    )


def _reencode_cp1252(data: bytes) -> bytes:
    text = data.decode("cp1252", errors="replace").encode("utf-8")
    # The declaration lies about the encoding; drop its claim so the parser reads the UTF-8 we made.
    return _XML_DECL_ENCODING.sub(rb"\1", text, count=1)


def parse_xml(data: bytes, *, filename: str, max_bytes: int = DEFAULT_MAX_BYTES) -> ParsedXml:
    """Parse untrusted XML bytes; raise ImportError_ (TOO_LARGE, UNSAFE_XML, NOT_XML) with a location."""
    if len(data) > max_bytes:
        raise ImportError_(
            f"the file is {len(data):,} bytes; the limit is {max_bytes:,} bytes",
            kind=ErrorKind.TOO_LARGE,
            file=filename,
        )
    if not data.strip():
        raise ImportError_("the file is empty", kind=ErrorKind.NOT_XML, file=filename, line=1, column=1)
    warnings = reject_unsafe(data, filename=filename)
    parsed = _parse(data, filename=filename, warnings=warnings)
    entities = _declared_entities(parsed.root)
    if entities:
        # Backstop for DOCTYPEs the byte scan cannot see (e.g. behind a SYSTEM literal holding "<a").
        raise ImportError_(
            f"the document declares XML entities ({', '.join(entities[:5])}); entity declarations "
            "are refused (they enable entity-expansion bombs and external-file reads)",
            kind=ErrorKind.UNSAFE_XML,
            file=filename,
        )
    return parsed


def _parse(data: bytes, *, filename: str, warnings: list[ImportWarning]) -> ParsedXml:
    try:
        root = etree.fromstring(data, _parser(recover=False))
        return ParsedXml(root=root, warnings=warnings)
    except etree.XMLSyntaxError as err:
        strict_error = _syntax_error(err, filename=filename, kind=ErrorKind.NOT_XML)

    if "Excessive depth" in strict_error.message:
        # Not broken XML but libxml2's nesting limit (huge_tree stays off): recover mode would
        # silently drop everything below the limit, so refuse the file instead.
        raise ImportError_(
            f"elements are nested deeper than {MAX_XML_DEPTH} levels; deeper documents are refused",
            kind=ErrorKind.TOO_LARGE,
            file=filename,
            line=strict_error.line,
            column=strict_error.column,
        )
    if any(hint in strict_error.message for hint in _ENCODING_HINTS):
        fixed = _reencode_cp1252(data)
        try:
            root = etree.fromstring(fixed, _parser(recover=False, encoding="utf-8"))
        except etree.XMLSyntaxError:
            root = etree.fromstring(fixed, _parser(recover=True, encoding="utf-8"))
        if root is not None:
            warnings.append(
                ImportWarning(
                    code="WRONG_ENCODING",
                    message=f"the declared encoding does not match the bytes ({strict_error.message}); "
                    "read as Windows-1252",
                    line=strict_error.line,
                )
            )
            return ParsedXml(root=root, warnings=warnings)

    try:
        recovered: etree._Element | None = etree.fromstring(data, _parser(recover=True))
    except etree.XMLSyntaxError:
        recovered = None
    if recovered is None:
        raise strict_error
    root = recovered
    warnings.append(
        ImportWarning(
            code="XML_RECOVERED",
            message=f"broken XML was read in recover mode, content after the error may be lost: "
            f"{strict_error.message} (column {strict_error.column})",
            line=strict_error.line,
        )
    )
    return ParsedXml(root=root, warnings=warnings, recovered=True, recover_reason=strict_error)


def column_of_element(data: bytes, line: int | None, qname: str) -> int | None:
    """1-based column of ``<qname`` on ``line`` (lxml keeps only lines for elements)."""
    if not line:
        return None
    start = 0
    for _ in range(line - 1):
        start = data.find(b"\n", start) + 1
        if start == 0:
            return None
    end = data.find(b"\n", start)
    text = data[start : end if end >= 0 else len(data)]
    pos = text.find(b"<" + qname.encode("utf-8", errors="replace"))
    return pos + 1 if pos >= 0 else None
