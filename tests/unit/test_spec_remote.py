"""Import by URL from a loopback HTTP server; remote $refs only with allow_remote."""

from __future__ import annotations

import functools
import threading
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from orchestra_app.domain.errors import ErrorKind, ImportError_
from orchestra_app.importers.spec_detect import import_spec
from tests.unit.spec_helpers import dangling_refs

pytestmark = pytest.mark.integration


class _Quiet(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def base_url(fixtures_dir: Path) -> Iterator[str]:
    handler = functools.partial(_Quiet, directory=str(fixtures_dir / "specs"))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def test_import_by_url(base_url: str) -> None:
    s = import_spec(f"{base_url}/petstore-3.0.yaml")
    assert s.title == "Fixture Petstore" and len(s.operations) == 6


def test_relative_refs_of_a_url_need_allow_remote(base_url: str) -> None:
    blocked = import_spec(f"{base_url}/multi/root.yaml")
    assert blocked.operations == []
    assert {w.code for w in blocked.warnings} == {"remote_ref_blocked"}
    allowed = import_spec(f"{base_url}/multi/root.yaml", allow_remote=True)
    assert [o.id for o in allowed.operations] == ["listPets", "getOwner"]
    assert dangling_refs(allowed) == []


def test_url_errors_are_clean(base_url: str) -> None:
    with pytest.raises(ImportError_) as err:
        import_spec(f"{base_url}/no-such-file.yaml")
    assert err.value.kind == ErrorKind.IO and "404" in str(err.value)
    with pytest.raises(ImportError_) as err:
        import_spec(f"{base_url}/petstore-3.0.yaml", max_bytes=100)
    assert err.value.kind == ErrorKind.TOO_LARGE


def test_fetched_document_cannot_read_local_files(base_url: str) -> None:
    s = import_spec(f"{base_url}/remote-file-ref.yaml", allow_remote=True)
    assert [w.code for w in s.warnings] == ["unresolved_ref"]
    assert s.components["schemas"]["Secret"] == {"x-unresolved-ref": "file:///etc/hostname"}
