"""Hostile files against the importers and the CLI (issue 7 items 3, 4, 5, 9): alias bombs refused by
count, devices and FIFOs refused without blocking, local references confined to the spec's folder
tree, no redirect to internal addresses, duplicate keys and trapped cycles reported."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from orchestra_app.domain.errors import ErrorKind, ImportError_, OrchestraError
from orchestra_app.importers.detect import import_process
from orchestra_app.importers.files import read_regular_file
from orchestra_app.importers.spec_detect import import_spec

pytestmark = pytest.mark.unit
ROOT = Path(__file__).resolve().parents[2]
SECRET = "s3cr3t-line-that-must-never-be-read"


def _cli(
    *args: str, env: dict[str, str] | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """The real console entry point in its own process: a hang fails by timeout instead of freezing."""
    return subprocess.run(
        [sys.executable, "-m", "orchestra_app.cli", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
    )


# ------------------------------------------------------------------------------ (3) alias bombs


def _alias_bomb(levels: int = 9, fan: int = 9) -> bytes:
    lines = ["openapi: 3.0.0", "info: {title: bomb, version: '1'}", "a0: &a0 [x, x, x, x, x, x, x, x, x]"]
    for i in range(1, levels):
        lines.append(f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * fan)}]")
    lines.append("paths: {}")
    return ("\n".join(lines) + "\n").encode()


@pytest.mark.parametrize(
    "variant",
    ["values", "keys", "merge", "recursive"],
)
def test_yaml_alias_bombs_are_refused_by_count(variant: str) -> None:
    data = _alias_bomb()
    if variant == "keys":  # an alias used as a mapping key is serialised to text: the costliest form
        data = data.replace(b"paths: {}", b"paths: {? *a8 : 1}")
    elif variant == "merge":
        data = data.replace(b"paths: {}", b"m: &m {k: *a8}\nn: {<<: [*m, *m]}\npaths: {}")
    elif variant == "recursive":
        data = b"openapi: 3.0.0\ninfo: {title: r, version: '1'}\nloop: &l [*l]\npaths: {}\n"
    assert len(data) < 700
    with pytest.raises(ImportError_) as caught:
        import_spec(data, filename="bomb.yaml")
    assert caught.value.kind is ErrorKind.TOO_LARGE or "recursive" in str(caught.value)
    assert caught.value.file == "bomb.yaml" and caught.value.line is not None
    assert "alias" in str(caught.value)


def test_shared_aliases_within_the_budget_still_import() -> None:
    data = (
        b"openapi: 3.0.0\ninfo: {title: shared, version: '1'}\n"
        b"x-common: &ok {description: ok}\n"
        b"paths:\n  /a:\n    get:\n      operationId: a\n      responses: {'200': *ok}\n"
        b"  /b:\n    get:\n      operationId: b\n      responses: {'200': *ok}\n"
    )
    summary = import_spec(data, filename="shared.yaml")
    assert [op.id for op in summary.operations] == ["a", "b"]


# ------------------------------------------------------------------------------ (4) not regular files


@pytest.mark.parametrize("device", ["/dev/zero", "/dev/urandom", "/dev/null"])
def test_devices_are_refused_without_reading(device: str) -> None:
    with pytest.raises(ImportError_) as caught:
        read_regular_file(device, max_bytes=1024)
    assert caught.value.kind is ErrorKind.IO and "device" in str(caught.value)


def test_fifo_and_directory_are_refused_without_blocking(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe.bpmn"
    os.mkfifo(fifo)
    with pytest.raises(ImportError_) as caught:
        read_regular_file(fifo, max_bytes=1024)
    assert "FIFO" in str(caught.value)
    with pytest.raises(ImportError_, match="directory"):
        read_regular_file(tmp_path, max_bytes=1024)


def test_cli_refuses_devices_fifos_and_files_over_the_upload_limit(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe.bpmn"
    os.mkfifo(fifo)
    big = tmp_path / "big.bpmn"
    big.write_bytes(b"<definitions>" + b" " * 5000 + b"</definitions>")
    env = {"ORCHESTRA_MAX_UPLOAD_BYTES": "4096"}
    files = ["/dev/zero", "/dev/urandom", str(fifo), str(big)]
    for command in ("import", "scenarios"):
        result = _cli("process", command, *files, "--json", env=env)
        assert result.returncode == 2, result.stderr
        lines = [json.loads(line) for line in result.stdout.splitlines()]
        assert [line["file"] for line in lines] == files
        assert [line["kind"] for line in lines] == ["io", "io", "io", "too_large"]
        assert "4096-byte limit" in lines[3]["error"] and "Traceback" not in result.stderr
    spec = _cli("spec", "import", "/dev/zero", str(fifo), "--json", env=env)
    assert spec.returncode == 2 and [json.loads(x)["kind"] for x in spec.stdout.splitlines()] == ["io", "io"]


# ------------------------------------------------------------------------------ (5) confinement


@pytest.fixture
def outside_tree(tmp_path: Path) -> Path:
    """tmp/outside.yaml (a secret next to the spec's folder) and tmp/spec/ (the spec's folder)."""
    (tmp_path / "outside.yaml").write_text(
        f"components:\n  schemas:\n    Secret: {{type: string, description: {SECRET}}}\n"
    )
    (tmp_path / "spec").mkdir()
    (tmp_path / "spec" / "local.yaml").write_text("Local: {type: integer}\n")
    (tmp_path / "spec" / "escape.yaml").symlink_to(tmp_path / "outside.yaml")
    return tmp_path


def _spec_with_refs(folder: Path, refs: list[str]) -> Path:
    schemas = "\n".join(f"    S{i}: {{$ref: '{ref}'}}" for i, ref in enumerate(refs))
    path = folder / "spec" / "api.yaml"
    path.write_text(
        "openapi: 3.0.0\ninfo: {title: t, version: '1'}\npaths: {}\ncomponents:\n  schemas:\n"
        + schemas
        + "\n"
    )
    return path


def test_local_refs_outside_the_spec_folder_are_not_followed(outside_tree: Path) -> None:
    refs = [
        "file:///etc/passwd",
        "../../../../../../etc/passwd",
        "../outside.yaml#/components/schemas/Secret",
        f"file://{outside_tree / 'outside.yaml'}#/components/schemas/Secret",
        "escape.yaml#/components/schemas/Secret",  # a symlink inside the folder pointing out of it
        "local.yaml#/Local",
    ]
    path = _spec_with_refs(outside_tree, refs)
    summary = import_spec(path)
    dumped = json.dumps(summary.to_json_dict())
    assert SECRET not in dumped and "root:x:0:0" not in dumped
    refused = [w for w in summary.warnings if w.code == "ref_refused"]
    assert len(refused) == 5, [w.message for w in summary.warnings]
    for ref, warning in zip(refs[:5], sorted(refused, key=lambda w: w.pointer), strict=True):
        assert repr(ref.split("#")[0][:200]) in warning.message or ref[:30] in warning.message
        assert "--allow-root" in warning.message
    assert summary.components["schemas"]["S5"] == {"$ref": "#/components/schemas/Local"}


def test_allow_root_names_another_folder(outside_tree: Path) -> None:
    path = _spec_with_refs(outside_tree, ["../outside.yaml#/components/schemas/Secret"])
    summary = import_spec(path, allow_roots=[outside_tree])
    assert not [w for w in summary.warnings if w.code == "ref_refused"]
    assert SECRET in json.dumps(summary.to_json_dict())
    result = _cli("spec", "import", str(path), "--json", "--allow-root", str(outside_tree))
    assert result.returncode == 0 and json.loads(result.stdout)["warnings"] == [], result.stdout
    refused = _cli("spec", "import", str(path), "--json")
    [warning] = json.loads(refused.stdout)["warnings"]
    assert refused.returncode == 0 and warning["code"] == "ref_refused" and SECRET not in refused.stdout


def test_proto_imports_outside_the_folder_are_not_read(tmp_path: Path) -> None:
    (tmp_path / "secret.proto").write_text(
        f'syntax = "proto3";\nmessage Leak {{ string {SECRET.replace("-", "_")} = 1; }}\n'
    )
    folder = tmp_path / "protos"
    folder.mkdir()
    proto = folder / "svc.proto"
    proto.write_text(
        'syntax = "proto3";\nimport "/etc/passwd";\nimport "../../../../etc/passwd";\n'
        'import "../secret.proto";\n'
        "message Ping { string id = 1; }\nservice S { rpc Call(Ping) returns (Ping); }\n"
    )
    summary = import_spec(proto)
    dumped = json.dumps(summary.to_json_dict())
    assert SECRET.replace("-", "_") not in dumped and "root:x:0:0" not in dumped
    assert [op.id for op in summary.operations] == ["S.Call"] or len(summary.operations) == 1
    assert len(summary.warnings) >= 3


class _Redirector(BaseHTTPRequestHandler):
    targets: dict[str, str] = {}
    served: list[str] = []

    def do_GET(self) -> None:
        self.served.append(self.path)
        if self.path in self.targets:
            self.send_response(302)
            self.send_header("Location", self.targets[self.path])
            self.end_headers()
            return
        body = (
            b"openapi: 3.0.0\ninfo: {title: remote, version: '1'}\npaths: {}\ncomponents:\n  schemas:\n"
            b"    Far: {$ref: '/hop#/components/schemas/X'}\n"
            if self.path == "/root.yaml"
            else b"components: {schemas: {X: {type: string}}}\n"
        )
        self.send_response(200)
        self.send_header("Content-Type", "application/yaml")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def redirector() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Redirector)
    base = f"http://127.0.0.1:{server.server_address[1]}"
    _Redirector.targets = {
        "/to-loopback.yaml": f"{base}/plain.yaml",
        "/to-metadata.yaml": "http://169.254.169.254/latest/meta-data/",
        "/to-private.yaml": "http://10.1.2.3/spec.yaml",
        "/to-ipv6-loopback.yaml": "http://[::1]:9/spec.yaml",
        "/hop": f"{base}/plain.yaml",
    }
    _Redirector.served = []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield base
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@pytest.mark.parametrize(
    "path", ["/to-loopback.yaml", "/to-metadata.yaml", "/to-private.yaml", "/to-ipv6-loopback.yaml"]
)
def test_remote_fetch_does_not_follow_redirects_to_internal_addresses(redirector: str, path: str) -> None:
    with pytest.raises(ImportError_) as caught:
        import_spec(redirector + path, allow_remote=True)
    assert caught.value.kind is ErrorKind.IO and "not followed" in str(caught.value)
    assert "/plain.yaml" not in _Redirector.served  # the loopback target was never requested


def test_remote_ref_redirecting_inward_becomes_a_warning(redirector: str) -> None:
    summary = import_spec(redirector + "/root.yaml", allow_remote=True)
    [warning] = [w for w in summary.warnings if "not followed" in w.message]
    assert warning.code == "unresolved_ref" and "/hop" in warning.message
    assert "/plain.yaml" not in _Redirector.served


# ------------------------------------------------------------------------------ (9) silent loss


def test_duplicate_keys_in_json_and_yaml_specs_are_warned_with_their_pointer() -> None:
    op = '{"operationId": "%s", "responses": {"200": {"description": "ok"}}}'
    data = (
        '{"openapi": "3.0.0", "info": {"title": "t", "version": "1"}, "paths": {"/orders": {'
        f'"post": {op % "createOrder"}, "post": {op % "createOrderV2"}}}}}}}'
    ).encode()
    summary = import_spec(data, filename="dup.json")
    [dup] = [w for w in summary.warnings if w.code == "duplicate_key"]
    assert dup.pointer == "/paths/~1orders/post" and "'post'" in dup.message
    assert [o.id for o in summary.operations] == ["createOrderV2"]
    yaml_doc = (
        b"openapi: 3.0.0\ninfo: {title: t, version: '1'}\ninfo2: 1\npaths:\n  /a:\n"
        b"    get: {operationId: a, responses: {'200': {description: ok}}}\n"
        b"    get: {operationId: b, responses: {'200': {description: ok}}}\n"
        b"x-base: &base {k: 1}\nx-merged: {<<: *base, k: 2}\n"  # overriding a merged key is no duplicate
    )
    summary = import_spec(yaml_doc, filename="dup.yaml")
    [dup] = [w for w in summary.warnings if w.code == "duplicate_key"]
    assert (dup.pointer, dup.line) == ("/paths/~1a/get", 7)


def test_cycle_without_exit_or_end_is_warned_with_its_nodes() -> None:
    data = (
        b'<?xml version="1.0"?><definitions xmlns="http://www.omg.org/spec/BPMN/20100524/MODEL" id="d">'
        b'<process id="p"><startEvent id="s"/><task id="poll" name="Poll status"/>'
        b'<exclusiveGateway id="g" name="Done?"/><task id="wait" name="Wait"/>'
        b'<sequenceFlow id="f1" sourceRef="s" targetRef="poll"/>'
        b'<sequenceFlow id="f2" sourceRef="poll" targetRef="g"/>'
        b'<sequenceFlow id="f3" sourceRef="g" targetRef="wait"/>'
        b'<sequenceFlow id="f4" sourceRef="wait" targetRef="poll"/>'
        b"</process></definitions>"
    )
    graph = import_process(data, filename="trap.bpmn")
    [trap] = [w for w in graph.warnings if w.code == "TRAPPED_CYCLE"]
    assert (
        all(name in trap.message for name in ("Poll status", "Done?", "Wait")) and trap.element_id == "poll"
    )
    escaped = data.replace(
        b"</process>", b'<endEvent id="e"/><sequenceFlow id="f5" sourceRef="g" targetRef="e"/></process>'
    )
    assert not [w for w in import_process(escaped, filename="ok.bpmn").warnings if w.code == "TRAPPED_CYCLE"]
    with_end = data.replace(
        b"</process>", b'<endEvent id="e"/><sequenceFlow id="f6" sourceRef="wait" targetRef="e"/></process>'
    )
    assert not [w for w in import_process(with_end, filename="ok.bpmn").warnings if w.code == "TRAPPED_CYCLE"]


def test_orchestra_error_survives_pickling_between_processes() -> None:
    import pickle

    error = ImportError_("broken", kind=ErrorKind.SYNTAX, file="a.bpmn", line=3, column=4, pointer="/x")
    back = pickle.loads(pickle.dumps(error))
    assert type(back) is ImportError_ and back.to_dict() == error.to_dict() and str(back) == str(error)
    assert isinstance(back, OrchestraError)
