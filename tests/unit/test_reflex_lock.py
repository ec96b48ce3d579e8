"""The tracked ``reflex.lock/package.json`` is byte-for-byte what Reflex writes on a run whose
dependencies did not change, so running the app never rewrites it.

Why it used to change: Reflex renders ``.web/package.json`` from ``reflex.lock/package.json`` with
``json.dumps`` (one compact line) and copies it back after installing; only when ``bun add`` really
adds a package does bun re-print it indented. A copy committed after such an add (indented) was
turned back into one line by the next run on every other checkout. After adding a frontend
dependency, run the app once more and commit the one-line file this test expects.
"""

from __future__ import annotations

import json
from pathlib import Path

from reflex_base.compiler import templates

LOCK = Path(__file__).resolve().parents[2] / "reflex.lock"


def _as_reflex_renders(persisted: dict) -> str:
    persisted = dict(persisted)
    return templates.package_json_template(
        scripts=persisted.pop("scripts", None) or {},
        dependencies=persisted.pop("dependencies", None) or {},
        dev_dependencies=persisted.pop("devDependencies", None) or {},
        overrides=persisted.pop("overrides", None) or {},
        **persisted,
    )


def test_package_json_is_in_the_form_a_run_writes() -> None:
    text = (LOCK / "package.json").read_text()
    expected = _as_reflex_renders(json.loads(text))
    assert text == expected, (
        "reflex.lock/package.json is not in the form Reflex writes (one json.dumps line): running the "
        "app would rewrite it. Run the app once (or `reflex export --frontend-only --no-zip`) and "
        "commit the file it leaves."
    )


def test_every_locked_dependency_is_pinned() -> None:
    package = json.loads((LOCK / "package.json").read_text())
    loose = {
        name: version
        for section in ("dependencies", "devDependencies")
        for name, version in package.get(section, {}).items()
        if not version.lstrip("v")[:1].isdigit()
    }
    assert not loose, f"unpinned frontend dependencies in reflex.lock/package.json: {loose}"
    assert (LOCK / "bun.lock").is_file()
