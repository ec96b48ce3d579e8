"""`orchestra suite ...` and `orchestra data scaffold` on a real database file; bad options exit 2 cleanly."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from orchestra_app.cli import app
from orchestra_app.db.engine import get_engine
from orchestra_app.settings import get_settings

pytestmark = pytest.mark.integration
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
B = FIXTURES / "binding"
runner = CliRunner()


@pytest.fixture
def db(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A migrated SQLite database holding the onboarding process and two specs."""
    from orchestra_app.services import processes, specs
    from orchestra_app.services import session as svc

    url = f"sqlite:///{tmp_path / 'cli.db'}"
    monkeypatch.setenv("DB_URL", url)
    monkeypatch.setenv("ORCHESTRA_DATA_DIR", str(tmp_path / "data"))
    get_settings.cache_clear()
    get_engine.cache_clear()
    assert runner.invoke(app, ["migrate"]).exit_code == 0
    principal = svc.current_principal()
    svc.run(
        processes.import_process,
        principal,
        data=(B / "onboarding.bpmn").read_bytes(),
        filename="onboarding.bpmn",
    )
    for name in ("onboarding-api.yaml", "backfill-api.yaml"):
        svc.run(specs.import_spec, principal, data=(B / name).read_bytes(), filename=name)
    yield url
    get_engine(url).dispose()
    get_engine.cache_clear()
    get_settings.cache_clear()


def run(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, list(args))
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result.exit_code, result.stdout, result.stderr


def test_choose_bind_chain_scaffold_export_import(db: str, tmp_path: Path) -> None:
    code, _, err = run("suite", "bind", "onboarding")
    assert code == 2 and "has no specs chosen" in err and "Traceback" not in err
    code, out, _ = run("suite", "specs", "onboarding", "onboarding-api@1.0.0", "--json")
    assert code == 0 and json.loads(out)[0]["service"] == "onboarding-api"
    code, out, _ = run("suite", "bind", "onboarding", "--json", "--strict")
    assert code == 0
    bound = json.loads(out)
    assert {b["node_id"]: b["operation"] for b in bound["bindings"]}["cancel"] == "cancelApplication"
    assert len(bound["chaining"]) == 4
    code, out, _ = run(
        "suite", "chaining", "onboarding", "--set", "cancel_application/query/reason={{env.reason}}", "--json"
    )
    assert code == 0 and any(c["source"] == "{{env.reason}}" and c["overridden"] for c in json.loads(out))

    code, out, err = run("data", "scaffold", "onboarding", "--store", "--name", "default")
    assert code == 0 and "created" in err
    assert yaml.safe_load(out) == {
        "customerName": "example-customer-name",
        "email": "user@example.com",
        "amount": 100,
    }

    target = tmp_path / "suite.yaml"
    code, _, err = run("suite", "export", "onboarding", "-o", str(target))
    assert code == 0 and "2 scenarios" in err
    code, out, _ = run("suite", "export", "onboarding")
    assert out == target.read_text()
    code, out, _ = run("suite", "import", str(target), "--json")
    assert code == 0 and json.loads(out)["scenarios_unchanged"] == 2

    # the exported file scaffolds without a database, with the spec for the schemas
    code, out, _ = run(
        "data", "scaffold", str(target), "--spec", str(B / "onboarding-api.yaml"), "-f", "json"
    )
    assert code == 0 and json.loads(out) == {
        "customerName": "example-customer-name",
        "email": "user@example.com",
        "amount": 100,
    }


def test_bad_options_and_inputs_exit_2_with_a_clear_line(db: str, tmp_path: Path) -> None:
    broken = tmp_path / "broken.yaml"
    broken.write_text("format: orchestra-suite/1\nsuite: {name: x}\n")
    cases = [
        (["suite", "specs", "nope"], "no suite with id, name or process key 'nope'"),
        (["suite", "specs", "onboarding", "ghost-api"], "no spec 'ghost-api'"),
        (["suite", "specs", "onboarding", "onboarding-api", "--clear"], "not both"),
        (["suite", "bind", "onboarding", "--override", "cancel"], "expected NODE=service:operationId"),
        (["suite", "bind", "onboarding", "--env", "prod"], "no environment named 'prod'"),
        (
            ["suite", "bind", "onboarding", "--spec", "onboarding-api", "-o", "ghost=a:b"],
            "name no task of this suite",
        ),
        (
            ["suite", "chaining", "onboarding", "--set", "cancel_application/query/reason"],
            "expected STEP/POINTER=SOURCE",
        ),
        (["suite", "chaining", "onboarding", "--data", "cancel_application"], "expected STEP/POINTER"),
        (["suite", "export", "onboarding", "-o", str(tmp_path / "no" / "dir" / "s.yaml")], "cannot write"),
        (["suite", "import", str(broken)], "broken.yaml:2 field suite.process: Field required"),
        (["suite", "import", str(tmp_path / "missing.yaml")], "missing.yaml: file not found"),
        (
            ["data", "scaffold", "onboarding", "--spec", str(B / "onboarding-api.yaml")],
            "go with a process or suite file",
        ),
        (["data", "scaffold", str(B / "onboarding.bpmn"), "--store"], "import the suite first"),
        (
            ["data", "scaffold", str(B / "onboarding.bpmn"), "--spec", str(tmp_path / "nope.yaml")],
            "nope.yaml: file not found",
        ),
        (
            [
                "data",
                "scaffold",
                str(B / "onboarding.bpmn"),
                "-o",
                "ghost=svc:op",
                "--spec",
                str(B / "onboarding-api.yaml"),
            ],
            "'ghost' name no task of the process",
        ),
        (
            ["data", "scaffold", str(B / "onboarding.bpmn"), "-o", "ghost"],
            "expected NODE=service:operationId",
        ),
        (["data", "scaffold", str(tmp_path / "ghost.bpmn")], "ghost.bpmn: file not found"),
        (
            ["suite", "list", "--db", "sqlite:///" + str(tmp_path / "empty.db")],
            "not migrated: run `orchestra migrate`",
        ),
        (["suite", "list", "--db", "nonsense://x"], "not a database URL"),
    ]
    for args, fragment in cases:
        code, out, err = run(*args)
        assert code == 2, (args, code, out, err)
        assert fragment in err, (args, err)
        assert "Traceback" not in err + out
    code, _, err = run("data", "scaffold", "onboarding", "--format", "xml")
    assert code == 2 and "xml" in err  # typer's own check of the choice


def test_strict_bind_fails_when_tasks_stay_unbound(db: str) -> None:
    assert run("suite", "specs", "onboarding", "backfill-api")[0] == 0
    code, out, _ = run("suite", "bind", "onboarding", "--strict")
    assert code == 1 and "UNMATCHED" in out
