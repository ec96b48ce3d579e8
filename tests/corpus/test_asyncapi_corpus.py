"""Regression over every document in ../shared/corpus/asyncapi: channel/operation/message counts."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest

from orchestra_app.domain.errors import OrchestraError
from orchestra_app.importers.spec_detect import import_spec
from tests.unit.spec_helpers import dangling_refs

pytestmark = pytest.mark.corpus


def test_every_asyncapi_document_imports_with_manifest_counts(corpus_dir: Path) -> None:
    root = corpus_dir / "asyncapi"
    rows = list(
        csv.DictReader(io.StringIO((root / "MANIFEST.tsv").read_text(encoding="utf-8")), delimiter="	")
    )
    assert len(rows) > 30
    failures: list[str] = []
    for row in rows:
        try:
            s = import_spec(root / row["path"], filename=row["path"])
        except OrchestraError as exc:
            failures.append(f"{row['path']}: ERROR {exc}")
            continue
        # The manifest's "messages" counts components/messages plus messages written inline in the
        # document itself (a $ref to another file or to components is not a new message).
        inline = {
            m["pointer"]
            for op in s.operations
            for m in op.messages  # type: ignore[attr-defined]
            if "file" not in m and not m["pointer"].startswith("/components/messages/")
        }
        got = {
            "version": s.spec_version,
            "channels": len(s.channels),  # type: ignore[attr-defined]
            "operations": len(s.operations),
            "messages": len(s.components.get("messages", {})) + len(inline),
        }
        want = {
            "version": row["asyncapi_version"],
            "channels": int(row["channels"]),
            "operations": int(row["operations"]),
            "messages": int(row["messages"]),
        }
        if got != want:
            failures.append(f"{row['path']}: {got} != manifest {want}")
        if dangling_refs(s):
            failures.append(f"{row['path']}: $refs not resolvable in components: {dangling_refs(s)[:3]}")
        methods = {op.method for op in s.operations}
        if not methods <= {"send", "receive"}:
            failures.append(f"{row['path']}: methods {methods}")
    print(f"asyncapi corpus: {len(rows) - len(failures)}/{len(rows)} documents match")
    assert not failures, f"{len(failures)} problems:\n" + "\n".join(failures)
