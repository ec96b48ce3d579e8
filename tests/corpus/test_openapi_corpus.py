"""Regression over every spec in ../shared/corpus/openapi: operation counts equal the manifest's."""

from __future__ import annotations

import csv
import io
import time
from pathlib import Path

import pytest

from orchestra_app.domain.errors import OrchestraError
from orchestra_app.importers.spec_detect import import_spec
from tests.unit.spec_helpers import dangling_refs

pytestmark = pytest.mark.corpus


def test_every_openapi_spec_imports_with_manifest_counts(corpus_dir: Path) -> None:
    root = corpus_dir / "openapi"
    rows = list(
        csv.DictReader(io.StringIO((root / "MANIFEST.tsv").read_text(encoding="utf-8")), delimiter="	")
    )
    assert len(rows) > 250
    failures: list[str] = []
    slowest = (0.0, "")
    for row in rows:
        started = time.perf_counter()
        try:
            summary = import_spec(root / row["path"], filename=row["path"])
        except OrchestraError as exc:
            failures.append(f"{row['path']}: ERROR {exc}")
            continue
        slowest = max(slowest, (time.perf_counter() - started, row["path"]))
        # The manifest counts operations under paths only; webhook operations are a column of their own.
        got = (len(summary.operations), len(getattr(summary, "webhooks", None) or []))
        want = (int(row["operations"]), int(row["webhook_operations"]))
        if got != want:
            failures.append(f"{row['path']}: (operations, webhooks) {got} != manifest {want}")
        if row["external_refs"] == "no" and any(w.code == "unresolved_ref" for w in summary.warnings):
            failures.append(f"{row['path']}: unresolved refs in a spec without external refs")
        dangling = dangling_refs(summary)
        if dangling:
            failures.append(
                f"{row['path']}: {len(dangling)} $refs not resolvable in components, e.g. {dangling[0]}"
            )
    ok = len(rows) - len({f.split(":")[0] for f in failures})
    print(f"openapi corpus: {ok}/{len(rows)} specs match; slowest {slowest[0]:.2f}s ({slowest[1]})")
    assert not failures, f"{len(failures)} problems:\n" + "\n".join(failures)
