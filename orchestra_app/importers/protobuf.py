"""protobuf ``.proto`` files (proto2/proto3/editions) -> SpecSummary: protoc's descriptors, or a lenient
hand-written tokenizer/parser when protoc cannot compile the file because its imports are missing."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from google.protobuf.descriptor_pb2 import (
    DescriptorProto,
    Edition,
    EnumDescriptorProto,
    FeatureSet,
    FieldDescriptorProto,
    FileDescriptorProto,
)

from orchestra_app.domain.errors import ErrorKind, ImportError_
from orchestra_app.domain.spec import MediaBody, Operation, ResponseSpec, SpecSummary, SpecWarning
from orchestra_app.importers.protoc import Compiled, CompileFailed, compile_proto
from orchestra_app.importers.refs import DEFAULT_MAX_BYTES, Warnings, component_ref

# ------------------------------------------------------------------------------------------- tokenizer

_TOKEN_RE = re.compile(
    r"""
    (?P<ws>[ \t\r\f\v]+)
  | (?P<nl>\n)
  | (?P<line_comment>//[^\n]*)
  | (?P<block_comment>/\*.*?\*/)
  | (?P<float>(?:\d+\.\d*|\.\d+)(?:[eE][+-]?\d+)?|\d+[eE][+-]?\d+)
  | (?P<int>0[xX][0-9A-Fa-f]+|\d+)
  | (?P<ident>[A-Za-z_][A-Za-z0-9_]*)
  | (?P<string>"(?:[^"\\\n]|\\.)*"|'(?:[^'\\\n]|\\.)*')
  | (?P<symbol>[{}\[\]()<>;=,:.\-+/])
    """,
    re.X | re.S,
)


@dataclass(frozen=True, slots=True)
class Token:
    kind: str  # ident, int, float, string, symbol, eof
    text: str
    line: int
    column: int


def tokenize(text: str, filename: str) -> list[Token]:
    tokens: list[Token] = []
    pos, line, line_start = 0, 1, 0
    n = len(text)
    while pos < n:
        m = _TOKEN_RE.match(text, pos)
        kind = m.lastgroup or "" if m is not None else ""
        if m is None or (kind == "symbol" and text.startswith("/*", pos)):
            where: dict[str, Any] = {"kind": ErrorKind.SYNTAX, "file": filename, "line": line}
            where["column"] = pos - line_start + 1
            if text.startswith("/*", pos):
                raise ImportError_("unterminated /* comment", **where)
            if text[pos] in "\"'":
                raise ImportError_("unterminated string", **where)
            raise ImportError_(f"unexpected character {text[pos]!r}", **where)
        value = m.group()
        if kind == "nl":
            line += 1
            line_start = m.end()
        elif kind == "block_comment":
            breaks = value.count("\n")
            if breaks:
                line += breaks
                line_start = pos + value.rfind("\n") + 1
        elif kind not in ("ws", "line_comment"):
            tokens.append(Token(kind, value, line, pos - line_start + 1))
        pos = m.end()
    tokens.append(Token("eof", "", line, pos - line_start + 1))
    return tokens


def _unquote(text: str) -> str:
    body = text[1:-1]
    if "\\" not in body:
        return body
    try:
        value = body.encode("latin-1", "backslashreplace").decode("unicode_escape")
    except UnicodeDecodeError:
        return body
    # "\ud800" escapes give lone surrogates, which cannot be stored as UTF-8 JSON.
    return re.sub("[\ud800-\udfff]", "\ufffd", value)


# ------------------------------------------------------------------------------------------ AST shapes


@dataclass
class Field:
    name: str
    number: int
    type: str
    label: str | None = None  # optional / required / repeated
    map_key: str | None = None
    oneof: str | None = None
    options: dict[str, Any] = field(default_factory=dict)


@dataclass
class Enum:
    name: str
    full_name: str
    values: dict[str, int] = field(default_factory=dict)


@dataclass
class Message:
    name: str
    full_name: str
    fields: list[Field] = field(default_factory=list)
    messages: list[Message] = field(default_factory=list)
    enums: list[Enum] = field(default_factory=list)
    oneofs: dict[str, list[str]] = field(default_factory=dict)
    is_map_entry: bool = False


@dataclass
class Rpc:
    name: str
    input_type: str
    output_type: str
    client_streaming: bool
    server_streaming: bool
    options: dict[str, Any] = field(default_factory=dict)
    line: int = 0


@dataclass
class Service:
    name: str
    full_name: str
    rpcs: list[Rpc] = field(default_factory=list)


@dataclass
class ProtoFile:
    filename: str
    syntax: str = "proto2"
    package: str = ""
    imports: list[tuple[str, str | None, int]] = field(default_factory=list)  # (path, public/weak/None, line)
    options: dict[str, Any] = field(default_factory=dict)
    messages: list[Message] = field(default_factory=list)
    enums: list[Enum] = field(default_factory=list)
    services: list[Service] = field(default_factory=list)


# --------------------------------------------------------------------------------------------- parser


# protoc refuses deeper nesting too; the limit keeps the recursive-descent parser far from RecursionError.
MAX_NESTING = 64


class Parser:
    def __init__(self, text: str, filename: str) -> None:
        self.filename = filename
        self.tokens = tokenize(text, filename)
        self.i = 0
        self.file = ProtoFile(filename)
        self.depth = 0

    # -- token helpers

    def peek(self, ahead: int = 0) -> Token:
        return self.tokens[min(self.i + ahead, len(self.tokens) - 1)]

    def next(self) -> Token:
        tok = self.tokens[self.i]
        if tok.kind != "eof":
            self.i += 1
        return tok

    def error(self, message: str, tok: Token | None = None) -> ImportError_:
        tok = tok or self.peek()
        found = (
            "end of file"
            if tok.kind == "eof"
            else repr(tok.text if len(tok.text) <= 40 else tok.text[:37] + "...")
        )
        return ImportError_(
            f"{message} (found {found})",
            kind=ErrorKind.SYNTAX,
            file=self.filename,
            line=tok.line,
            column=tok.column,
        )

    def accept(self, text: str) -> bool:
        tok = self.peek()
        if tok.kind in ("symbol", "ident") and tok.text == text:
            self.i += 1
            return True
        return False

    def expect(self, text: str) -> Token:
        tok = self.peek()
        if tok.kind in ("symbol", "ident") and tok.text == text:
            return self.next()
        raise self.error(f"expected {text!r}")

    def ident(self, what: str = "a name") -> str:
        tok = self.peek()
        if tok.kind != "ident":
            raise self.error(f"expected {what}")
        return self.next().text

    def full_ident(self) -> str:
        parts = []
        if self.accept("."):
            parts.append("")
        parts.append(self.ident("a type name"))
        while self.accept("."):
            parts.append(self.ident("a name after '.'"))
        return ".".join(parts)

    def int_value(self) -> int:
        negative = self.accept("-")
        tok = self.next()
        if tok.kind != "int":
            if tok.kind == "ident" and tok.text == "max":  # "reserved 1000 to max"
                return 536870911
            raise self.error("expected a number", tok)
        try:
            value = (
                int(tok.text, 0)
                if not (tok.text.startswith("0") and tok.text.isdigit() and len(tok.text) > 1)
                else int(tok.text, 8)
            )
        except ValueError:  # more than 4300 digits, or "09"
            raise self.error("expected a number", tok) from None
        return -value if negative else value

    def string(self) -> str:
        tok = self.next()
        if tok.kind != "string":
            raise self.error("expected a string", tok)
        value = _unquote(tok.text)
        while self.peek().kind == "string":  # adjacent literals concatenate
            value += _unquote(self.next().text)
        return value

    def skip_balanced(self, open_: str, close: str) -> None:
        start = self.peek()
        self.expect(open_)
        depth = 1
        while depth:
            tok = self.next()
            if tok.kind == "eof":
                raise self.error(f"{open_!r} opened at line {start.line} is never closed", tok)
            if tok.kind == "symbol":
                if tok.text == open_:
                    depth += 1
                elif tok.text == close:
                    depth -= 1

    def skip_statement(self) -> None:
        while not self.accept(";"):
            tok = self.peek()
            if tok.kind == "eof":
                raise self.error("expected ';'")
            if tok.text == "[" and tok.kind == "symbol":
                self.skip_balanced("[", "]")
                continue
            if tok.text == "{" and tok.kind == "symbol":
                self.skip_balanced("{", "}")
                return
            self.next()

    # -- options

    def option_name(self) -> str:
        parts = []
        while True:
            if self.accept("("):
                parts.append("(" + self.full_ident() + ")")
                self.expect(")")
            else:
                parts.append(self.ident("an option name"))
            if not self.accept("."):
                return ".".join(parts)

    def constant(self) -> Any:
        tok = self.peek()
        if tok.kind == "symbol" and tok.text == "{":
            self.skip_balanced("{", "}")
            return {"aggregate": True}
        if tok.kind == "string":
            return self.string()
        sign = ""
        if tok.kind == "symbol" and tok.text in "-+":
            sign = self.next().text
            tok = self.peek()
        tok = self.next()
        if tok.kind == "int":
            try:
                return (
                    int(sign + tok.text, 0)
                    if not tok.text.startswith("0") or len(tok.text) == 1 or tok.text[1] in "xX"
                    else int(sign + tok.text, 8)
                )
            except ValueError:  # more than 4300 digits, or "09"
                raise self.error("expected an option value", tok) from None
        if tok.kind == "float":
            return float(sign + tok.text)
        if tok.kind == "ident":
            if tok.text in ("true", "false"):
                return tok.text == "true"
            value = tok.text
            while self.accept("."):
                value += "." + self.ident()
            return value
        raise self.error("expected an option value", tok)

    def option_statement(self, target: dict[str, Any]) -> None:
        name = self.option_name()
        self.expect("=")
        target[name] = self.constant()
        self.expect(";")

    def field_options(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if not self.accept("["):
            return out
        while True:
            name = self.option_name()
            self.expect("=")
            out[name] = self.constant()
            if self.accept("]"):
                return out
            self.expect(",")

    # -- top level

    def parse(self) -> ProtoFile:
        f = self.file
        while self.peek().kind != "eof":
            tok = self.peek()
            if self.accept(";"):
                continue
            if tok.kind != "ident":
                raise self.error("expected a top-level statement")
            word = tok.text
            if word == "syntax" or word == "edition":
                self.next()
                self.expect("=")
                value = self.string()
                f.syntax = value if word == "syntax" else f"editions-{value}"
                self.expect(";")
            elif word == "package":
                self.next()
                f.package = self.full_ident()
                self.expect(";")
            elif word == "import":
                line = self.next().line
                modifier = None
                if self.peek().kind == "ident" and self.peek().text in ("public", "weak", "option"):
                    modifier = self.next().text
                f.imports.append((self.string(), modifier, line))
                self.expect(";")
            elif word == "option":
                self.next()
                self.option_statement(f.options)
            elif word == "message":
                self.next()
                f.messages.append(self.message(f.package))
            elif word == "enum":
                self.next()
                f.enums.append(self.enum(f.package))
            elif word == "service":
                self.next()
                f.services.append(self.service(f.package))
            elif word == "extend":
                self.next()
                self.full_ident()
                self.skip_balanced("{", "}")
            else:
                raise self.error("expected syntax, package, import, option, message, enum, service or extend")
        return f

    def message(self, scope: str, name: str | None = None) -> Message:
        name = name or self.ident("a message name")
        msg = Message(name, f"{scope}.{name}" if scope else name)
        self.expect("{")
        self.message_body(msg)
        return msg

    def message_body(self, msg: Message, oneof: str | None = None) -> None:
        self.depth += 1
        if self.depth > MAX_NESTING:
            raise self.error(f"messages nested deeper than {MAX_NESTING} levels")
        self._message_body(msg, oneof)
        self.depth -= 1

    def _message_body(self, msg: Message, oneof: str | None) -> None:
        while not self.accept("}"):
            tok = self.peek()
            if tok.kind == "eof":
                raise self.error(f"message {msg.name} is never closed with '}}'")
            if self.accept(";"):
                continue
            if tok.kind != "ident" and not (tok.kind == "symbol" and tok.text == "."):
                raise self.error("expected a field or declaration")
            word = tok.text
            after = self.peek(1)
            is_decl = after.kind == "ident" or (after.kind == "symbol" and after.text == "{")
            if word == "message" and is_decl:
                self.next()
                msg.messages.append(self.message(msg.full_name))
            elif word == "enum" and is_decl:
                self.next()
                msg.enums.append(self.enum(msg.full_name))
            elif word == "oneof" and oneof is None and after.kind == "ident":
                self.next()
                oname = self.ident("a oneof name")
                msg.oneofs[oname] = []
                self.expect("{")
                self.message_body(msg, oname)
            elif word == "option" and after.kind in ("ident", "symbol") and after.text != "=":
                self.next()
                opts: dict[str, Any] = {}
                self.option_statement(opts)
                if opts.get("map_entry") is True:
                    msg.is_map_entry = True
            elif word in ("reserved", "extensions") and after.text != "=":
                self.next()
                self.skip_statement()
            elif word == "extend" and after.text != "=":
                self.next()
                self.full_ident()
                self.skip_balanced("{", "}")
            elif word == "map" and after.kind == "symbol" and after.text == "<":
                self.next()
                self.expect("<")
                key = self.ident("a map key type")
                self.expect(",")
                value = self.full_ident()
                self.expect(">")
                self.add_field(msg, Field("", 0, value, "repeated", map_key=key, oneof=oneof))
            else:
                label = None
                if word in ("optional", "required", "repeated") and after.text != "=":
                    label = self.next().text
                if self.peek().text == "group" and self.peek(1).kind == "ident" and self.peek(2).text == "=":
                    self.next()
                    gname = self.ident()
                    self.expect("=")
                    number = self.int_value()
                    self.field_options()
                    group = Message(gname, f"{msg.full_name}.{gname}")
                    self.expect("{")
                    self.message_body(group)
                    msg.messages.append(group)
                    fld = Field(gname.lower(), number, group.full_name, label, oneof=oneof)
                    msg.fields.append(fld)
                    if oneof:
                        msg.oneofs[oneof].append(fld.name)
                    continue
                ftype = self.full_ident()
                self.add_field(msg, Field("", 0, ftype, label, oneof=oneof))

    def add_field(self, msg: Message, fld: Field) -> None:
        fld.name = self.ident("a field name")
        self.expect("=")
        fld.number = self.int_value()
        fld.options = self.field_options()
        self.expect(";")
        msg.fields.append(fld)
        if fld.oneof:
            msg.oneofs[fld.oneof].append(fld.name)

    def enum(self, scope: str) -> Enum:
        name = self.ident("an enum name")
        en = Enum(name, f"{scope}.{name}" if scope else name)
        self.expect("{")
        while not self.accept("}"):
            tok = self.peek()
            if tok.kind == "eof":
                raise self.error(f"enum {name} is never closed with '}}'")
            if self.accept(";"):
                continue
            if tok.text == "option" and self.peek(1).text != "=":
                self.next()
                self.option_statement({})
            elif tok.text == "reserved" and self.peek(1).text != "=":
                self.next()
                self.skip_statement()
            else:
                vname = self.ident("an enum value name")
                self.expect("=")
                en.values[vname] = self.int_value()
                self.field_options()
                self.expect(";")
        return en

    def service(self, scope: str) -> Service:
        name = self.ident("a service name")
        svc = Service(name, f"{scope}.{name}" if scope else name)
        self.expect("{")
        while not self.accept("}"):
            tok = self.peek()
            if tok.kind == "eof":
                raise self.error(f"service {name} is never closed with '}}'")
            if self.accept(";"):
                continue
            if tok.text == "option":
                self.next()
                self.option_statement({})
            elif tok.text == "rpc":
                self.next()
                svc.rpcs.append(self.rpc())
            else:
                raise self.error("expected 'rpc' or 'option' in a service")
        return svc

    def rpc(self) -> Rpc:
        start = self.peek()
        name = self.ident("an rpc name")
        self.expect("(")
        cs = (self.peek().text == "stream" and self.peek(1).kind in ("ident",)) or (
            self.peek().text == "stream" and self.peek(1).text == "."
        )
        if cs:
            self.next()
        in_type = self.full_ident()
        self.expect(")")
        self.expect("returns")
        self.expect("(")
        ss = self.peek().text == "stream" and (self.peek(1).kind == "ident" or self.peek(1).text == ".")
        if ss:
            self.next()
        out_type = self.full_ident()
        self.expect(")")
        rpc = Rpc(name, in_type, out_type, cs, ss, line=start.line)
        if self.accept("{"):
            while not self.accept("}"):
                tok = self.peek()
                if tok.kind == "eof":
                    raise self.error(f"rpc {name} is never closed with '}}'")
                if self.accept(";"):
                    continue
                self.expect("option")
                self.option_statement(rpc.options)
        else:
            self.expect(";")
        return rpc


def parse_proto(text: str, filename: str) -> ProtoFile:
    return Parser(text, filename).parse()


# ------------------------------------------------------------------------------------- JSON schemas

_SCALARS: dict[str, dict[str, Any]] = {
    "double": {"type": "number"},
    "float": {"type": "number"},
    "int32": {"type": "integer"},
    "sint32": {"type": "integer"},
    "sfixed32": {"type": "integer"},
    "uint32": {"type": "integer", "minimum": 0},
    "fixed32": {"type": "integer", "minimum": 0},
    # proto3 JSON writes 64-bit integers as decimal strings and accepts numbers too.
    "int64": {"type": ["string", "integer"], "format": "int64"},
    "sint64": {"type": ["string", "integer"], "format": "int64"},
    "sfixed64": {"type": ["string", "integer"], "format": "int64"},
    "uint64": {"type": ["string", "integer"], "format": "uint64"},
    "fixed64": {"type": ["string", "integer"], "format": "uint64"},
    "bool": {"type": "boolean"},
    "string": {"type": "string"},
    "bytes": {"type": "string", "contentEncoding": "base64"},
}

# The proto3 JSON mapping of the well-known types (used whether or not their .proto files are found).
_WELL_KNOWN: dict[str, dict[str, Any]] = {
    "google.protobuf.Timestamp": {"type": "string", "format": "date-time"},
    "google.protobuf.Duration": {"type": "string", "pattern": "^-?[0-9]+(\\.[0-9]+)?s$"},
    "google.protobuf.FieldMask": {"type": "string"},
    "google.protobuf.Struct": {"type": "object"},
    "google.protobuf.Value": {},
    "google.protobuf.ListValue": {"type": "array"},
    "google.protobuf.NullValue": {"type": "null"},
    "google.protobuf.Empty": {"type": "object", "maxProperties": 0},
    "google.protobuf.Any": {"type": "object", "properties": {"@type": {"type": "string"}}},
    "google.protobuf.DoubleValue": {"type": ["number", "null"]},
    "google.protobuf.FloatValue": {"type": ["number", "null"]},
    "google.protobuf.Int64Value": {"type": ["string", "integer", "null"]},
    "google.protobuf.UInt64Value": {"type": ["string", "integer", "null"]},
    "google.protobuf.Int32Value": {"type": ["integer", "null"]},
    "google.protobuf.UInt32Value": {"type": ["integer", "null"]},
    "google.protobuf.BoolValue": {"type": ["boolean", "null"]},
    "google.protobuf.StringValue": {"type": ["string", "null"]},
    "google.protobuf.BytesValue": {"type": ["string", "null"]},
}


def json_name(name: str) -> str:
    """protoc's default json_name: underscores removed, the following letter upper-cased."""
    out, upper = [], False
    for ch in name:
        if ch == "_":
            upper = True
        elif upper:
            out.append(ch.upper())
            upper = False
        else:
            out.append(ch)
    return "".join(out)


class _Importer:
    """The lenient path: imports come only from ``staged`` (what protoc's stage found and vetted, see
    importers/protoc.py), so this parser reads nothing from disk and never outside the search roots."""

    def __init__(self, root: ProtoFile, staged: Mapping[str, bytes]) -> None:
        self.root = root
        self.warnings = Warnings(root_file=root.filename)
        self.staged = staged
        self.files: dict[str, ProtoFile] = {}
        self.messages: dict[str, Message] = {}
        self.enums: dict[str, Enum] = {}
        self.broken: set[str] = set()

    def load_imports(self, f: ProtoFile, depth: int = 0) -> None:
        for path, _, line in f.imports:
            data = self.staged.get(path)
            if path in self.files or path in self.broken or data is None:
                continue  # missing and refused imports were reported by the stage
            try:
                parsed = parse_proto(data.decode("utf-8", "replace"), path)
            except ImportError_ as exc:
                self.broken.add(path)
                self.warnings.add(
                    "broken_import", f"import {path!r} cannot be read: {exc}", file=f.filename, line=line
                )
                continue
            self.files[path] = parsed
            if depth < 32:
                self.load_imports(parsed, depth + 1)

    def index(self, f: ProtoFile) -> None:
        def add_message(m: Message) -> None:
            self.messages[m.full_name] = m
            for sub in m.messages:
                add_message(sub)
            for e in m.enums:
                self.enums[e.full_name] = e

        for m in f.messages:
            add_message(m)
        for e in f.enums:
            self.enums[e.full_name] = e

    def resolve(self, name: str, scope: str) -> str | None:
        """Protobuf scoping: a relative name is looked up from the innermost scope outwards."""
        if name.startswith("."):
            full = name[1:]
            return full if full in self.messages or full in self.enums or full in _WELL_KNOWN else None
        parts = scope.split(".") if scope else []
        first = name.split(".")[0]
        while True:
            prefix = ".".join(parts)
            head = f"{prefix}.{first}" if prefix else first
            if head in self.messages or head in self.enums or head in _WELL_KNOWN:
                full = f"{prefix}.{name}" if prefix else name
                return full if full in self.messages or full in self.enums or full in _WELL_KNOWN else None
            if self._is_package(head):
                full = f"{prefix}.{name}" if prefix else name
                if full in self.messages or full in self.enums or full in _WELL_KNOWN:
                    return full
            if not parts:
                return None
            parts.pop()

    def _is_package(self, name: str) -> bool:
        return any(k.startswith(name + ".") for k in self.messages) or any(
            k.startswith(name + ".") for k in _WELL_KNOWN
        )

    def type_schema(self, ftype: str, scope: str, where: list[Any]) -> dict[str, Any]:
        if ftype in _SCALARS:
            return dict(_SCALARS[ftype])
        full = self.resolve(ftype, scope)
        if full is None:
            self.warnings.add(
                "unresolved_type", f"type {ftype!r} is not defined in this file or its imports", where
            )
            return {"x-proto-type": ftype.lstrip(".")}
        self.used.add(full)
        return {"$ref": component_ref("schemas", full)}

    def message_schema(self, m: Message) -> dict[str, Any]:
        props: dict[str, Any] = {}
        required: list[str] = []
        scope = m.full_name
        for fld in m.fields:
            where = ["message", m.full_name, fld.name]
            if fld.map_key is not None:
                value = self.type_schema(fld.type, scope, where)
                schema: dict[str, Any] = {"type": "object", "additionalProperties": value}
                schema["x-proto-map-key"] = fld.map_key
            else:
                target = self.messages.get(self.resolve(fld.type, scope) or "")
                if target is not None and target.is_map_entry:
                    val = next((f for f in target.fields if f.name == "value"), None)
                    item = self.type_schema(val.type, target.full_name, where) if val else {}
                    schema = {"type": "object", "additionalProperties": item}
                else:
                    schema = self.type_schema(fld.type, scope, where)
                    if fld.label == "repeated":
                        schema = {"type": "array", "items": schema}
            schema["x-proto-name"] = fld.name
            schema["x-proto-number"] = fld.number
            if fld.options.get("deprecated") is True:
                schema["deprecated"] = True
            key = str(fld.options.get("json_name") or json_name(fld.name))
            props[key] = schema
            if fld.label == "required":
                required.append(key)
        out: dict[str, Any] = {"type": "object", "x-proto-message": m.full_name, "properties": props}
        if required:
            out["required"] = required
        if m.oneofs:
            out["x-proto-oneofs"] = {k: [json_name(v) for v in vs] for k, vs in m.oneofs.items()}
        return out

    def run(self) -> SpecSummary:
        root = self.root
        self.used: set[str] = set()
        self.load_imports(root)
        for f in [root, *self.files.values()]:
            self.index(f)
        schemas: dict[str, Any] = {}
        for name, m in self.messages.items():
            if not m.is_map_entry:
                schemas[name] = self.message_schema(m)
        for name, e in self.enums.items():
            schemas[name] = {
                "type": ["string", "integer"],
                "enum": [*e.values, *sorted(set(e.values.values()))],
                "x-proto-enum": name,
            }
        for name in self.used:
            if name in _WELL_KNOWN and name not in schemas:
                schemas[name] = dict(_WELL_KNOWN[name])
        for name, schema in _WELL_KNOWN.items():
            if name in schemas and name in self.messages:
                schemas[name] = dict(schema)  # JSON mapping wins over the message shape
        operations: list[Operation] = []
        for svc in root.services:
            for rpc in svc.rpcs:
                in_schema = self.type_schema(rpc.input_type, root.package, ["service", svc.name, rpc.name])
                out_schema = self.type_schema(rpc.output_type, root.package, ["service", svc.name, rpc.name])
                for name in self.used:
                    if name in _WELL_KNOWN and name not in schemas:
                        schemas[name] = dict(_WELL_KNOWN[name])
                op_id = f"{svc.full_name}/{rpc.name}"
                op = Operation(
                    id=op_id,
                    method="rpc",
                    path=f"/{op_id}",
                    request_body=MediaBody(required=True, content={"application/grpc": in_schema}),
                    responses={
                        "OK": ResponseSpec(description="OK", content={"application/grpc": out_schema})
                    },
                    deprecated=rpc.options.get("deprecated") is True,
                )
                op.service = svc.full_name  # type: ignore[attr-defined]
                op.input_type = self.resolve(rpc.input_type, root.package) or rpc.input_type.lstrip(".")  # type: ignore[attr-defined]
                op.output_type = self.resolve(rpc.output_type, root.package) or rpc.output_type.lstrip(".")  # type: ignore[attr-defined]
                op.client_streaming = rpc.client_streaming  # type: ignore[attr-defined]
                op.server_streaming = rpc.server_streaming  # type: ignore[attr-defined]
                operations.append(op)
        summary = SpecSummary(
            protocol="grpc",
            format="protobuf",
            spec_version=root.syntax,
            title=root.package or Path(root.filename).stem,
            schema_dialect="protobuf",
            operations=operations,
            components={"schemas": schemas},
        )
        summary.package = root.package  # type: ignore[attr-defined]
        summary.imports = [p for p, _, _ in root.imports]  # type: ignore[attr-defined]
        summary.options = {k: v for k, v in root.options.items() if not isinstance(v, dict)}  # type: ignore[attr-defined]
        summary.services = [s.full_name for s in root.services]  # type: ignore[attr-defined]
        summary.messages = _names(root.messages, nested=True)  # type: ignore[attr-defined]
        summary.enums = [e.full_name for e in root.enums] + [  # type: ignore[attr-defined]
            e.full_name for m in _walk_messages(root.messages) for e in m.enums
        ]
        summary.warnings = self.warnings.items
        return summary


def _walk_messages(messages: list[Message]) -> list[Message]:
    out: list[Message] = []
    for m in messages:
        out.append(m)
        out.extend(_walk_messages(m.messages))
    return out


def _names(messages: list[Message], *, nested: bool) -> list[str]:
    return [m.full_name for m in (_walk_messages(messages) if nested else messages) if not m.is_map_entry]


def _search_dirs(location: str | None, include_paths: Sequence[str | Path]) -> tuple[list[Path], list[Path]]:
    """(where imports are looked for, the roots they must stay inside).

    Imports are confined to the file's own folder tree and the include paths (CLI ``-I``, the flag
    that names another root). Include paths first, then the file's folder, then those of its
    ancestors (up to 8) that lie inside an include path, so ``-I googleapis`` resolves
    googleapis-style trees (``google/api/http.proto`` from ``google/cloud/x/v1/``)."""
    includes = [Path(p).resolve() for p in include_paths]
    dirs = list(includes)
    roots = list(includes)
    if location is not None:
        here = Path(location).resolve().parent
        dirs.append(here)
        roots.append(here)
        dirs.extend(a for a in list(here.parents)[:8] if any(a == r or r in a.parents for r in includes))
    return dirs, roots


def import_proto(
    data: bytes,
    *,
    filename: str,
    location: str | None = None,
    include_paths: Sequence[str | Path] = (),
    max_bytes: int = DEFAULT_MAX_BYTES,
) -> SpecSummary:
    """protoc compiles the file (the summary and the stored FileDescriptorSet come from its descriptors);
    when it cannot because imports are missing or refused, the hand-written parser gives a lenient
    summary (bindable, not callable without server reflection) with the reasons as warnings."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise ImportError_("not UTF-8 text", kind=ErrorKind.SYNTAX, file=filename, line=line) from None
    if not text.strip():
        raise ImportError_("the file is empty", kind=ErrorKind.SYNTAX, file=filename)
    dirs, roots = _search_dirs(location, include_paths)
    try:
        compiled = compile_proto(data, filename=filename, search_dirs=dirs, roots=roots, max_bytes=max_bytes)
    except CompileFailed as exc:
        if not exc.notes:
            raise
        importer = _Importer(parse_proto(text, filename), exc.staged)
        for note in exc.notes:
            importer.warnings.add(note.code, note.message, file=note.file, line=note.line)
        summary = importer.run()
        missing = ", ".join(repr(n.path) for n in exc.notes[:5])
        summary.warnings.append(
            SpecWarning(
                code="not_compiled",
                message=f"protoc cannot compile the file without {missing} ({exc}); the summary comes "
                "from Orchestra's own parser and gRPC calls need server reflection",
                file=exc.file,
                line=exc.line,
                pointer="/",
            )
        )
        return summary
    warnings = Warnings(root_file=filename)
    for note in compiled.notes:
        warnings.add(note.code, note.message, file=note.file, line=note.line)
    return summary_from_descriptors(compiled, filename, warnings)


# ------------------------------------------------------------------ summary from protoc's descriptors

_SCALAR_BY_TYPE: dict[int, str] = {
    FieldDescriptorProto.TYPE_DOUBLE: "double",
    FieldDescriptorProto.TYPE_FLOAT: "float",
    FieldDescriptorProto.TYPE_INT64: "int64",
    FieldDescriptorProto.TYPE_UINT64: "uint64",
    FieldDescriptorProto.TYPE_INT32: "int32",
    FieldDescriptorProto.TYPE_FIXED64: "fixed64",
    FieldDescriptorProto.TYPE_FIXED32: "fixed32",
    FieldDescriptorProto.TYPE_BOOL: "bool",
    FieldDescriptorProto.TYPE_STRING: "string",
    FieldDescriptorProto.TYPE_BYTES: "bytes",
    FieldDescriptorProto.TYPE_UINT32: "uint32",
    FieldDescriptorProto.TYPE_SFIXED32: "sfixed32",
    FieldDescriptorProto.TYPE_SFIXED64: "sfixed64",
    FieldDescriptorProto.TYPE_SINT32: "sint32",
    FieldDescriptorProto.TYPE_SINT64: "sint64",
}
EDITION_NAMES = {Edition.EDITION_2023: "2023", Edition.EDITION_2024: "2024"}


class _DescriptorSummary:
    def __init__(self, compiled: Compiled) -> None:
        self.files = {f.name: f for f in compiled.descriptor_set.file}
        self.root = self.files[compiled.root_name]
        self.messages: dict[str, DescriptorProto] = {}
        self.enums: dict[str, EnumDescriptorProto] = {}
        self.message_file: dict[str, FileDescriptorProto] = {}
        for f in compiled.descriptor_set.file:
            prefix = f.package
            for m in f.message_type:
                self._index(m, prefix, f)
            for e in f.enum_type:
                self.enums[_join(prefix, e.name)] = e

    def _index(self, m: DescriptorProto, scope: str, f: FileDescriptorProto) -> None:
        full = _join(scope, m.name)
        self.messages[full] = m
        self.message_file[full] = f
        for sub in m.nested_type:
            self._index(sub, full, f)
        for e in m.enum_type:
            self.enums[_join(full, e.name)] = e

    def ref(self, type_name: str, used: set[str]) -> dict[str, Any]:
        full = type_name.lstrip(".")
        used.add(full)
        return {"$ref": component_ref("schemas", full)}

    def field_type(self, fld: FieldDescriptorProto, used: set[str]) -> dict[str, Any]:
        scalar = _SCALAR_BY_TYPE.get(fld.type)
        if scalar is not None:
            return dict(_SCALARS[scalar])
        return self.ref(fld.type_name, used)

    def message_schema(self, full: str, used: set[str]) -> dict[str, Any]:
        m = self.messages[full]
        props: dict[str, Any] = {}
        required: list[str] = []
        oneofs: dict[str, list[str]] = {}
        synthetic = {f.oneof_index for f in m.field if f.proto3_optional and f.HasField("oneof_index")}
        for fld in m.field:
            target = self.messages.get(fld.type_name.lstrip(".")) if fld.type_name else None
            if target is not None and target.options.map_entry:
                key_f = next((f for f in target.field if f.number == 1), None)
                val_f = next((f for f in target.field if f.number == 2), None)
                schema: dict[str, Any] = {
                    "type": "object",
                    "additionalProperties": self.field_type(val_f, used) if val_f else {},
                }
                if key_f is not None:
                    schema["x-proto-map-key"] = _SCALAR_BY_TYPE.get(key_f.type, "string")
            else:
                schema = self.field_type(fld, used)
                if fld.label == FieldDescriptorProto.LABEL_REPEATED:
                    schema = {"type": "array", "items": schema}
            schema["x-proto-name"] = fld.name
            schema["x-proto-number"] = fld.number
            if fld.options.deprecated:
                schema["deprecated"] = True
            key = fld.json_name or json_name(fld.name)
            props[key] = schema
            if fld.label == FieldDescriptorProto.LABEL_REQUIRED or (
                fld.options.HasField("features")
                and fld.options.features.field_presence == FeatureSet.LEGACY_REQUIRED
            ):
                required.append(key)
            if fld.HasField("oneof_index") and fld.oneof_index not in synthetic:
                oneofs.setdefault(m.oneof_decl[fld.oneof_index].name, []).append(key)
        out: dict[str, Any] = {"type": "object", "x-proto-message": full, "properties": props}
        if required:
            out["required"] = required
        if oneofs:
            out["x-proto-oneofs"] = oneofs
        return out

    def enum_schema(self, full: str) -> dict[str, Any]:
        values = {v.name: v.number for v in self.enums[full].value}
        return {
            "type": ["string", "integer"],
            "enum": [*values, *sorted(set(values.values()))],
            "x-proto-enum": full,
        }

    def schemas(self, starts: list[str]) -> dict[str, Any]:
        """Every root-file type and what it reaches; well-known types in their JSON mapping."""
        schemas: dict[str, Any] = {}
        used: set[str] = set()
        pending = list(starts)
        while pending:
            full = pending.pop()
            if full in schemas:
                continue
            if full in _WELL_KNOWN:
                schemas[full] = dict(_WELL_KNOWN[full])
            elif full in self.messages:
                if self.messages[full].options.map_entry:
                    continue
                used.clear()
                schemas[full] = self.message_schema(full, used)
                pending.extend(used)
            elif full in self.enums:
                schemas[full] = self.enum_schema(full)
        return schemas

    def root_names(self) -> tuple[list[str], list[str]]:
        messages: list[str] = []
        enums: list[str] = []

        def walk(m: DescriptorProto, scope: str) -> None:
            full = _join(scope, m.name)
            if not m.options.map_entry:
                messages.append(full)
            for sub in m.nested_type:
                walk(sub, full)

        for m in self.root.message_type:
            walk(m, self.root.package)
        enums = [_join(self.root.package, e.name) for e in self.root.enum_type]
        for full in list(messages):
            enums.extend(_join(full, e.name) for e in self.messages[full].enum_type)
        return messages, enums

    def file_options(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for fd, value in self.root.options.ListFields():
            if fd.message_type is not None:
                continue
            if fd.enum_type is not None and value in fd.enum_type.values_by_number:
                value = fd.enum_type.values_by_number[value].name
            elif isinstance(value, bytes):  # protoc keeps a string option that is not valid UTF-8 as bytes
                value = re.sub("[\ud800-\udfff]", "\ufffd", value.decode("utf-8", "surrogatepass"))
            out[fd.name] = value
        return out

    def spec_version(self) -> str:
        if self.root.syntax == "editions":
            return EDITION_NAMES.get(self.root.edition, "editions")
        return self.root.syntax or "proto2"


def _join(scope: str, name: str) -> str:
    return f"{scope}.{name}" if scope else name


def summary_from_descriptors(compiled: Compiled, filename: str, warnings: Warnings) -> SpecSummary:
    d = _DescriptorSummary(compiled)
    root = d.root
    messages, enums = d.root_names()
    starts = [*messages, *enums]
    operations: list[Operation] = []
    services: list[str] = []
    for svc in root.service:
        svc_full = _join(root.package, svc.name)
        services.append(svc_full)
        for rpc in svc.method:
            starts.extend([rpc.input_type.lstrip("."), rpc.output_type.lstrip(".")])
    schemas = d.schemas(starts)
    for svc in root.service:
        svc_full = _join(root.package, svc.name)
        for rpc in svc.method:
            in_type, out_type = rpc.input_type.lstrip("."), rpc.output_type.lstrip(".")
            op_id = f"{svc_full}/{rpc.name}"
            op = Operation(
                id=op_id,
                method="rpc",
                path=f"/{op_id}",
                request_body=MediaBody(
                    required=True, content={"application/grpc": {"$ref": component_ref("schemas", in_type)}}
                ),
                responses={
                    "OK": ResponseSpec(
                        description="OK",
                        content={"application/grpc": {"$ref": component_ref("schemas", out_type)}},
                    )
                },
                deprecated=bool(rpc.options.deprecated),
            )
            op.service = svc_full  # type: ignore[attr-defined]
            op.input_type = in_type  # type: ignore[attr-defined]
            op.output_type = out_type  # type: ignore[attr-defined]
            op.client_streaming = rpc.client_streaming  # type: ignore[attr-defined]
            op.server_streaming = rpc.server_streaming  # type: ignore[attr-defined]
            operations.append(op)
    summary = SpecSummary(
        protocol="grpc",
        format="protobuf",
        spec_version=d.spec_version(),
        title=root.package or Path(filename).stem,
        schema_dialect="protobuf",
        operations=operations,
        components={"schemas": schemas},
    )
    summary.package = root.package  # type: ignore[attr-defined]
    summary.imports = list(root.dependency)  # type: ignore[attr-defined]
    summary.options = d.file_options()  # type: ignore[attr-defined]
    summary.services = services  # type: ignore[attr-defined]
    summary.messages = messages  # type: ignore[attr-defined]
    summary.enums = enums  # type: ignore[attr-defined]
    # What the grpc plugin builds request and response messages from (no code generation at run time).
    summary.descriptorSet = compiled.encoded()  # type: ignore[attr-defined]
    summary.descriptorRoot = compiled.root_name  # type: ignore[attr-defined]
    summary.warnings = warnings.items
    return summary
