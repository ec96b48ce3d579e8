"""Content-addressed store for uploaded source files (BPMN, diagrams, specs) under the data dir."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path
from uuid import UUID

from orchestra_app.settings import get_settings

_SAFE = re.compile(r"[^A-Za-z0-9._-]+")


def store(*, tenant_id: UUID, data: bytes, filename: str, root: Path | None = None) -> str:
    """Writes the bytes once per content hash; returns the ``artifact://`` URI kept in sourceUri."""
    digest = hashlib.sha256(data).hexdigest()
    name = _SAFE.sub("_", Path(filename).name)[:120] or "source"
    base = (root or get_settings().data_dir) / "artifacts" / str(tenant_id)
    base.mkdir(parents=True, exist_ok=True)
    path = base / digest
    if not path.exists():
        tmp = path.with_suffix(".part")
        tmp.write_bytes(data)
        tmp.replace(path)
    return f"artifact://{tenant_id}/{digest}/{name}"


def load(uri: str, *, root: Path | None = None) -> bytes:
    if not uri.startswith("artifact://"):
        raise ValueError(f"not an artifact URI: {uri}")
    tenant, digest = uri.removeprefix("artifact://").split("/")[:2]
    if not re.fullmatch(r"[0-9a-f]{64}", digest):
        raise ValueError(f"bad artifact digest in {uri}")
    return ((root or get_settings().data_dir) / "artifacts" / tenant / digest).read_bytes()
