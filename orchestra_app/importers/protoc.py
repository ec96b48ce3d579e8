"""protoc (grpcio-tools, in process) compiles a ``.proto`` and its imports to a FileDescriptorSet.

Nothing but a staging folder is shown to protoc: every import is first resolved here (include
paths, then the file's folder and its ancestors, then the well-known types bundled with
grpcio-tools), checked (a relative path without ``..``, a regular file inside a search root after
symlinks are followed, under the size limit) and copied in. protoc therefore cannot read
``/etc/passwd``, follow a symlink out of the tree or block on ``/dev/zero``. An import that is missing
or refused becomes a warning and an empty stand-in file, so an unused import does not stop the
compile; when its types are used the compile fails and the caller decides what to do.

grpcio-tools' in-process entry point (``get_protos``) returns protoc's structured errors (file, line,
column, message) and, per file, the Python module its generator writes; only the serialized
``FileDescriptorProto`` literal is taken from that text (it is never executed).
"""

from __future__ import annotations

import ast
import base64
import os
import re
import tempfile
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from google.protobuf import descriptor_pb2

from orchestra_app.domain.errors import ErrorKind, ImportError_

# One pass: comments and strings are consumed whole, so an import inside them is never seen.
_SCAN = re.compile(
    r"""//[^\n]*|/\*.*?(?:\*/|\Z)|"(?:[^"\\\n]|\\.)*"|'(?:[^'\\\n]|\\.)*'"""
    r"""|\bimport\s+(?:(?:public|weak)\s+)?(?:"((?:[^"\\\n]|\\.)*)"|'((?:[^'\\\n]|\\.)*)')\s*;""",
    re.S,
)
_SERIALIZED = re.compile(rb"AddSerializedFile\((b'[^'\\]*(?:\\.[^'\\]*)*')\)")
MAX_IMPORTS = 2000
STUB = b'syntax = "proto3";\n'
_LOCK = threading.Lock()  # protoc's importer keeps process-wide state (e.g. the edition defaults)


@dataclass
class ImportNote:
    code: str  # missing_import | import_refused | broken_import
    message: str
    file: str  # the importing file (the root's display name or the import path)
    line: int
    path: str  # the import as written


@dataclass
class Compiled:
    descriptor_set: descriptor_pb2.FileDescriptorSet
    root_name: str  # the root's name inside the set
    notes: list[ImportNote] = field(default_factory=list)

    def encoded(self) -> str:
        return base64.b64encode(self.descriptor_set.SerializeToString()).decode("ascii")


@dataclass
class ProtocFailure:
    file: str
    line: int | None  # 1-based
    column: int | None
    message: str


class CompileFailed(ImportError_):
    """protoc refused the file; ``failures`` has every error it reported, ``notes`` the import problems."""

    def __init__(
        self, failures: list[ProtocFailure], notes: list[ImportNote], staged: dict[str, bytes]
    ) -> None:
        first = failures[0]
        extra = f" (and {len(failures) - 1} more)" if len(failures) > 1 else ""
        super().__init__(
            f"{first.message}{extra}",
            kind=ErrorKind.SYNTAX,
            file=first.file,
            line=first.line,
            column=first.column,
        )
        self.failures = failures
        self.notes = notes
        self.staged = staged  # the vetted imports (virtual path -> content), for a lenient fallback


def wkt_include() -> Path:
    import grpc_tools

    return Path(grpc_tools.__file__).parent / "_proto"


def scan_imports(text: str) -> list[tuple[str, int]]:
    """``import "x.proto";`` statements as (path, 1-based line), comments and strings elsewhere ignored."""
    out: list[tuple[str, int]] = []
    line, pos = 1, 0
    for m in _SCAN.finditer(text):
        path = m.group(1) if m.group(1) is not None else m.group(2)
        if path is None:
            continue
        line += text.count("\n", pos, m.start())
        pos = m.start()
        out.append((path, line))
    return out


def _bad_virtual_path(path: str) -> str | None:
    if not path:
        return "an empty import path"
    if path.startswith("/") or "\\" in path or re.match(r"^[A-Za-z]:", path):
        return "an absolute path"
    parts = PurePosixPath(path).parts
    if any(p in ("..", ".") for p in path.split("/")) or "//" in path or not parts:
        return "a path with '.', '..' or empty parts"
    return None


class _Stage:
    def __init__(
        self,
        root_text: bytes,
        display_name: str,
        search_dirs: Sequence[Path],
        roots: Sequence[Path],
        max_bytes: int,
    ) -> None:
        self.display = display_name
        self.dirs = list(search_dirs)
        self.roots = [r.resolve() for r in roots]
        self.max_bytes = max_bytes
        self.wkt = wkt_include()
        self.notes: list[ImportNote] = []
        self.files: dict[str, bytes] = {}  # virtual path -> content staged
        self.stubs: set[str] = set()
        self.root_text = root_text

    def _inside(self, path: Path) -> bool:
        resolved = path.resolve()
        return any(resolved == r or r in resolved.parents for r in self.roots)

    def _find(self, virtual: str) -> tuple[Path | None, str | None]:
        """(file, refusal reason); a file found outside every root (symlink) is refused, not skipped."""
        for d in self.dirs:
            candidate = d / virtual
            if not candidate.exists() and not candidate.is_symlink():
                continue
            if not self._inside(candidate):
                return None, "it resolves outside the spec's folder tree"
            if not candidate.is_file():
                return None, "it is not a regular file"
            size = candidate.stat().st_size
            if size > self.max_bytes:
                return None, f"it is {size} bytes, over the {self.max_bytes}-byte limit"
            return candidate, None
        return None, None

    def collect(self, root_virtual: str) -> None:
        queue: list[tuple[str, str, bytes]] = [(root_virtual, self.display, self.root_text)]
        seen = {root_virtual}
        while queue:
            _, shown, data = queue.pop()
            text = data.decode("utf-8", "replace")
            for path, line in scan_imports(text):
                if path in seen:
                    continue
                seen.add(path)
                if len(seen) > MAX_IMPORTS:
                    raise ImportError_(
                        f"more than {MAX_IMPORTS} imported files", kind=ErrorKind.TOO_LARGE, file=shown
                    )
                why = _bad_virtual_path(path)
                found: Path | None = None
                if why is None:
                    found, why = self._find(path)
                if found is None and why is None and (self.wkt / path).is_file():
                    continue  # a well-known type bundled with protoc
                if found is None:
                    code = "import_refused" if why else "missing_import"
                    reason = f" ({why})" if why else " in the include paths"
                    what = "refused" if why else "not found"
                    self.notes.append(ImportNote(code, f"import {path!r} {what}{reason}", shown, line, path))
                    if why is None or _bad_virtual_path(path) is None:
                        self.stubs.add(path)
                    continue
                content = found.read_bytes()[: self.max_bytes + 1]
                self.files[path] = content
                queue.append((path, path, content))

    def write(self, folder: Path, root_virtual: str) -> None:
        (folder / root_virtual).parent.mkdir(parents=True, exist_ok=True)
        (folder / root_virtual).write_bytes(self.root_text)
        for virtual, content in self.files.items():
            target = folder / virtual
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(content)
        for virtual in self.stubs:
            target = folder / virtual
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(STUB)


def _serialized(code: bytes) -> bytes:
    match = _SERIALIZED.search(code)
    if match is not None:
        value = ast.literal_eval(match.group(1).decode("ascii"))
        if isinstance(value, bytes):
            return value
    for node in ast.walk(ast.parse(code)):  # a generator whose output changed shape: read it properly
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr == "AddSerializedFile"
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, bytes)
        ):
            return node.args[0].value
    raise ImportError_("protoc's output holds no serialized descriptor", kind=ErrorKind.INVALID_SPEC)


def _text(value: bytes | str) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


def compile_proto(
    data: bytes,
    *,
    filename: str,
    search_dirs: Sequence[Path] = (),
    roots: Sequence[Path] | None = None,
    max_bytes: int,
) -> Compiled:
    """Compile ``data`` (the root file) with protoc; raises CompileFailed with protoc's errors."""
    from grpc_tools import _protoc_compiler

    base = PurePosixPath(filename.replace("\\", "/")).name or "spec.proto"
    stage = _Stage(data, filename, search_dirs, roots if roots is not None else search_dirs, max_bytes)
    root_virtual = base
    stage.collect(root_virtual)
    if root_virtual in stage.files or root_virtual in stage.stubs:
        root_virtual = f"__root__/{base}"
    with tempfile.TemporaryDirectory(prefix="orchestra-protoc-") as tmp:
        folder = Path(tmp)
        stage.write(folder, root_virtual)
        include = [os.fsencode(folder), os.fsencode(stage.wkt)]
        try:
            with _LOCK:
                generated = _protoc_compiler.get_protos(root_virtual.encode(), include)
        except _protoc_compiler.ProtocErrors as exc:
            failures = _failures(exc.errors(), root_virtual, filename)
            raise CompileFailed(failures, stage.notes, stage.files) from None
    fds = descriptor_pb2.FileDescriptorSet()
    for _, code in generated:
        fds.file.add().MergeFromString(_serialized(code))
    return Compiled(fds, root_virtual, stage.notes)


def _failures(errors: Sequence[object], root_virtual: str, display: str) -> list[ProtocFailure]:
    out: list[ProtocFailure] = []
    for err in errors:
        name = _text(getattr(err, "filename", b""))
        message = _text(getattr(err, "message", b"")).rstrip(".")
        line = int(getattr(err, "line", -1))
        column = int(getattr(err, "column", -1))
        where = display if name == root_virtual else name
        failure = ProtocFailure(
            where, line + 1 if line >= 0 else None, column + 1 if line >= 0 else None, message.strip()
        )
        if message.startswith("  ") and out:  # a note to the error before ("  Comment started here")
            prev = out[-1]
            note = failure.message.replace(" here", "")
            prev.message += f" ({note[:1].lower()}{note[1:]} at line {failure.line}, column {failure.column})"
            continue
        out.append(failure)
    return out or [ProtocFailure(display, None, None, "protoc refused the file")]
