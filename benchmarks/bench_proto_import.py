"""protoc (grpcio-tools, in process) vs the hand-written .proto parser over ../shared/corpus/proto:
speed (total and per file), peak RSS of each path in a fresh process, identical summaries, error messages.

Run: .venv/bin/python benchmarks/bench_proto_import.py [--repeat N]
"""

from __future__ import annotations

import csv
import io
import json
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from orchestra_app.domain.errors import OrchestraError  # noqa: E402
from orchestra_app.importers.protobuf import (  # noqa: E402
    _Importer,
    _search_dirs,
    parse_proto,
    summary_from_descriptors,
)
from orchestra_app.importers.protoc import _Stage, compile_proto  # noqa: E402
from orchestra_app.importers.refs import DEFAULT_MAX_BYTES, Warnings  # noqa: E402

CORPUS = ROOT.parent / "shared" / "corpus" / "proto"
BROKEN = {
    "missing ';'": 'syntax = "proto3";\nmessage A {\n  string a = 1\n  int32 b = 2;\n}\n',
    "unclosed message": 'syntax = "proto3";\nmessage A {\n  string a = 1;\n',
    "unterminated comment": 'syntax = "proto3";\n/* never closed\nmessage A {}',
    "bad rpc": 'syntax = "proto3";\nservice S { rpc M(A) returns B; }',
    "duplicate field number": 'syntax = "proto3";\nmessage A {\n  int32 a = 1;\n  int32 b = 1;\n}\n',
    "undefined type": 'syntax = "proto3";\nmessage A {\n  Missing m = 1;\n}\n',
    "proto3 enum starts at 1": 'syntax = "proto3";\nenum E { A = 1; }\n',
}


def corpus() -> list[Path]:
    rows = csv.DictReader(io.StringIO((CORPUS / "MANIFEST.tsv").read_text(encoding="utf-8")), delimiter="\t")
    return [CORPUS / row["path"] for row in rows]


def _dirs(path: Path) -> tuple[list[Path], list[Path]]:
    top = CORPUS / path.relative_to(CORPUS).parts[0] if path.is_relative_to(CORPUS) else path.parent
    return _search_dirs(str(path), [top])


def protoc_path(path: Path) -> object:
    dirs, roots = _dirs(path)
    compiled = compile_proto(
        path.read_bytes(), filename=path.name, search_dirs=dirs, roots=roots, max_bytes=DEFAULT_MAX_BYTES
    )
    return summary_from_descriptors(compiled, path.name, Warnings(root_file=path.name))


def hand_path(path: Path) -> object:
    # The same vetted imports, read from disk each time as the old importer did.
    dirs, roots = _dirs(path)
    stage = _Stage(path.read_bytes(), path.name, dirs, roots, 10**8)
    stage.collect(path.name)
    return _Importer(parse_proto(path.read_text(encoding="utf-8"), path.name), stage.files).run()


def timings(fn: object, files: list[Path], repeat: int) -> list[float]:
    out = []
    for path in files:
        best = float("inf")
        for _ in range(repeat):
            started = time.perf_counter()
            fn(path)  # type: ignore[operator]
            best = min(best, time.perf_counter() - started)
        out.append(best * 1000)
    return out


def child(which: str) -> None:
    """Peak RSS of one path over the whole corpus, in a fresh interpreter (protoc allocates in C++)."""
    files = corpus()
    fn = protoc_path if which == "protoc" else hand_path
    fn(files[0])
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    for path in files:
        fn(path)
    after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"before_kb": before, "after_kb": after}))


def errors() -> None:
    import tempfile

    print("\nerror messages (protoc path | hand-written parser), line:column 1-based:")
    for label, text in BROKEN.items():
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "x.proto"
            path.write_text(text)
            shown = []
            for fn in (protoc_path, hand_path):
                try:
                    fn(path)
                    shown.append("accepted")
                except OrchestraError as exc:
                    shown.append(str(exc).replace(str(path.parent) + "/", ""))
        print(f"  {label:26} | {shown[0]} | {shown[1]}")


def main() -> None:
    if len(sys.argv) > 2 and sys.argv[1] == "--child":
        child(sys.argv[2])
        return
    repeat = int(sys.argv[sys.argv.index("--repeat") + 1]) if "--repeat" in sys.argv else 3
    files = corpus()
    print(f"{len(files)} corpus files, best of {repeat} per file")
    for name, fn in (("protoc", protoc_path), ("hand-written", hand_path)):
        ms = timings(fn, files, repeat)
        print(
            f"  {name:12} total {sum(ms):7.1f} ms  median {statistics.median(ms):6.2f} ms  "
            f"p90 {sorted(ms)[int(len(ms) * 0.9)]:6.2f} ms  max {max(ms):6.2f} ms"
        )
    for name in ("protoc", "hand"):
        out = subprocess.run(
            [sys.executable, __file__, "--child", name], capture_output=True, text=True, check=True
        )
        rss = json.loads(out.stdout.strip().splitlines()[-1])
        print(
            f"  {name:12} peak RSS {rss['after_kb'] / 1024:6.1f} MiB "
            f"(+{(rss['after_kb'] - rss['before_kb']) / 1024:.1f} MiB over the corpus)"
        )
    same = 0
    for path in files:
        a, b = protoc_path(path), hand_path(path)
        ops_a = [o.to_json_dict() for o in a.operations]  # type: ignore[attr-defined]
        ops_b = [o.to_json_dict() for o in b.operations]  # type: ignore[attr-defined]
        schemas_a, schemas_b = a.components["schemas"], b.components["schemas"]  # type: ignore[attr-defined]
        shared = set(schemas_a) & set(schemas_b)
        if ops_a == ops_b and all(
            schemas_a[k] == schemas_b[k] for k in shared if k != "google.protobuf.NullValue"
        ):
            same += 1
    print(f"  identical operations and shared schemas: {same}/{len(files)} files")
    errors()


if __name__ == "__main__":
    main()
