"""Bounded mutation fuzzing of the spec fixtures: import_spec raises nothing but OrchestraError."""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from pathlib import Path

import pytest

from orchestra_app.domain.errors import OrchestraError
from orchestra_app.importers.spec_detect import import_spec

pytestmark = pytest.mark.unit

SPECS = Path(__file__).resolve().parent.parent / "fixtures" / "specs"
FIXTURES = sorted(p for p in SPECS.rglob("*") if p.suffix in (".yaml", ".json", ".proto"))
# Characters that change YAML/JSON/proto structure when dropped in at random.
_NOISE = [
    "{",
    "}",
    "[",
    "]",
    ":",
    '"',
    "'",
    "\t",
    "\n",
    "-",
    "*",
    "&a ",
    "!!binary ",
    "#",
    "/*",
    "\\u",
    "\ufeff",
]


def _mutants(data: bytes, seed: str) -> Iterator[tuple[str, bytes]]:
    rng = random.Random(seed)
    for frac in (0.05, 0.17, 0.33, 0.5, 0.66, 0.8, 0.95):
        cut = int(len(data) * frac)
        yield f"truncated at {cut}", data[:cut]
    lines = data.split(b"\n")
    for n in range(8):
        kept = [line for line in lines if rng.random() > 0.15]
        yield f"line drop {n}", b"\n".join(kept)
    for n in range(24):
        text = data.decode("utf-8", "replace")
        pos = rng.randrange(len(text) + 1)
        noise = rng.choice(_NOISE)
        yield f"noise {n} {noise!r} at {pos}", (text[:pos] + noise + text[pos:]).encode()
    for n in range(4):
        i = rng.randrange(len(lines))
        yield f"line {i} repeated {n}", b"\n".join(lines[: i + 1] + lines[i:] * (n + 2))


@pytest.mark.parametrize("path", FIXTURES, ids=lambda p: str(p.relative_to(SPECS)))
def test_mutated_fixtures_raise_only_orchestra_errors(path: Path) -> None:
    data = path.read_bytes()
    for label, mutant in _mutants(data, path.name):
        try:
            summary = import_spec(mutant, filename=path.name, base_dir=path.parent)
        except OrchestraError:
            continue
        except Exception as exc:  # pragma: no cover - the failure message is the point
            pytest.fail(f"{path.name} ({label}): {type(exc).__name__}: {exc}")
        # What was imported must be storable: the services keep it as JSON.
        json.dumps(summary.to_json_dict())
