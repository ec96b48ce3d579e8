"""Regression over every file in ../shared/corpus/proto: services, rpcs, streaming, messages, enums."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest

from orchestra_app.domain.errors import OrchestraError
from orchestra_app.importers.spec_detect import import_spec
from tests.unit.spec_helpers import dangling_refs

pytestmark = pytest.mark.corpus


def _top_level(names: list[str], package: str) -> int:
    depth = package.count(".") + 1 if package else 0
    return sum(1 for n in names if n.count(".") == depth)


def test_every_proto_file_imports_with_manifest_counts(corpus_dir: Path) -> None:
    root = corpus_dir / "proto"
    rows = list(
        csv.DictReader(io.StringIO((root / "MANIFEST.tsv").read_text(encoding="utf-8")), delimiter="	")
    )
    assert len(rows) > 60
    failures: list[str] = []
    for row in rows:
        try:
            # As protoc is run on this tree: -I <the top folder> (googleapis, grpc-proto, protobuf).
            top = root / row["path"].split("/")[0]
            s = import_spec(root / row["path"], filename=row["path"], include_paths=[top])
        except OrchestraError as exc:
            failures.append(f"{row['path']}: ERROR {exc}")
            continue
        count, _, names = row["services"].partition(":")
        package = s.package  # type: ignore[attr-defined]
        # The manifest counts top-level messages and enums (nested ones are not counted).
        got = {
            "package": package,
            "services": sorted(x.rsplit(".", 1)[-1] for x in s.services),  # type: ignore[attr-defined]
            "rpc_methods": len(s.operations),
            "streaming": sum(1 for o in s.operations if o.client_streaming or o.server_streaming),  # type: ignore[attr-defined]
            "messages": _top_level(s.messages, package),  # type: ignore[attr-defined]
            "enums": _top_level(s.enums, package),  # type: ignore[attr-defined]
            "imports": ",".join(s.imports) or "-",  # type: ignore[attr-defined]
        }
        want = {
            "package": row["package"],
            "services": sorted(n.strip() for n in names.split(",") if n.strip()) if int(count) else [],
            "rpc_methods": int(row["rpc_methods"]),
            "streaming": int(row["streaming_methods"]),
            "messages": int(row["messages"]),
            "enums": int(row["enums"]),
            "imports": row["imports"],
        }
        if got != want:
            diff = {k: (got[k], want[k]) for k in got if got[k] != want[k]}
            failures.append(f"{row['path']}: (got, manifest) {diff}")
        if dangling_refs(s):
            failures.append(f"{row['path']}: $refs not resolvable in components: {dangling_refs(s)[:3]}")
        if any(w.code == "unresolved_type" for w in s.warnings) and not any(
            w.code == "missing_import" for w in s.warnings
        ):
            failures.append(f"{row['path']}: unresolved types without a missing import: {s.warnings[:3]}")
    print(f"proto corpus: {len(rows) - len(failures)}/{len(rows)} files match")
    assert not failures, f"{len(failures)} problems:\n" + "\n".join(failures)
