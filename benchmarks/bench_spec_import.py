"""Spec import speed: the largest corpus spec, then every corpus spec (total, median, max, peak memory)."""

from __future__ import annotations

import csv
import io
import resource
import statistics
import sys
import time
import tracemalloc
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from orchestra_app.importers.spec_detect import import_spec  # noqa: E402

CORPUS = ROOT.parent / "shared" / "corpus"


def corpus_files() -> list[tuple[str, Path]]:
    files = []
    for kind in ("openapi", "asyncapi", "proto"):
        manifest = CORPUS / kind / "MANIFEST.tsv"
        if not manifest.is_file():
            continue
        for row in csv.DictReader(io.StringIO(manifest.read_text(encoding="utf-8")), delimiter="\t"):
            files.append((kind, CORPUS / kind / row["path"]))
    return files


def timed(path: Path, repeat: int = 1) -> float:
    best = float("inf")
    for _ in range(repeat):
        started = time.perf_counter()
        import_spec(path, filename=path.name)
        best = min(best, time.perf_counter() - started)
    return best


def main() -> None:
    files = corpus_files()
    if not files:
        print(f"corpus not found at {CORPUS}")
        return
    largest = max((p for k, p in files if k == "openapi"), key=lambda p: p.stat().st_size)
    tracemalloc.start()
    t = timed(largest, repeat=3)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    print(f"largest openapi spec: {largest.relative_to(CORPUS)} ({largest.stat().st_size / 1e6:.1f} MB)")
    print(f"  import time (best of 3): {t * 1000:.0f} ms; python heap peak {peak / 1e6:.0f} MB")
    multi = CORPUS / "openapi" / "digitalocean" / "specification" / "DigitalOcean-public.v2.yaml"
    if multi.is_file():
        print(f"multi-file spec (DigitalOcean, 2849 files beside it): {timed(multi) * 1000:.0f} ms")
    for kind in ("openapi", "asyncapi", "proto"):
        times = sorted(((timed(p), p) for k, p in files if k == kind), key=lambda x: x[0])
        if not times:
            continue
        values = [t for t, _ in times]
        print(
            f"{kind}: {len(values)} specs, total {sum(values):.2f} s,"
            f" median {statistics.median(values) * 1000:.1f} ms,"
            f" max {values[-1] * 1000:.0f} ms ({times[-1][1].relative_to(CORPUS)})"
        )
    print(f"process peak RSS: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")
    big_generated()


def big_generated() -> None:
    """A generated 20 MB JSON spec (14k operations, 14k schemas, refs between them) and its YAML twin."""
    import json
    import tempfile

    import yaml

    from tests.unit.test_spec_malformed import _generated_spec

    data = _generated_spec(20 * 1024 * 1024)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "big.json"
        path.write_bytes(data)
        ypath = Path(tmp) / "big.yaml"
        ypath.write_text(yaml.dump(json.loads(data), Dumper=getattr(yaml, "CSafeDumper", yaml.SafeDumper)))
        del data
        for p in (path, ypath):
            started = time.perf_counter()
            summary = import_spec(p, filename=p.name)
            took = time.perf_counter() - started
            tracemalloc.start()
            import_spec(p, filename=p.name)
            _, peak = tracemalloc.get_traced_memory()
            tracemalloc.stop()
            print(
                f"generated {p.suffix[1:]} spec {p.stat().st_size / 1e6:.0f} MB,"
                f" {len(summary.operations)} operations: {took:.2f} s, python heap peak {peak / 1e6:.0f} MB"
            )


if __name__ == "__main__":
    main()
