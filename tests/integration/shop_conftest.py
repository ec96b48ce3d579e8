"""Helpers shared by the demo-shop test modules (pytest does not collect this file)."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import sqlalchemy as sa

from orchestra_app.domain.spec import Operation, SpecSummary
from orchestra_app.domain.steps import Violation
from orchestra_app.importers.spec_detect import import_spec
from orchestra_app.plugins.http.contract import HttpContractValidator, HttpResponseData, media_type
from tests.fixtures.shop import ROOT

SPECS = ROOT / "examples" / "shop" / "specs"
SERVICE_SPECS = {"orders": "orders.yaml", "payments": "payments.yaml", "inventory": "inventory.yaml"}
BASES = {"orders": "/order-api/v1", "payments": "/payment-api/v1", "inventory": "/inventory-api/v1"}


def load_specs() -> dict[str, SpecSummary]:
    return {name: import_spec(SPECS / file) for name, file in SERVICE_SPECS.items()}


def _pattern(template: str) -> re.Pattern[str]:
    return re.compile("^" + re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(template)) + "$")


class ContractChecker:
    """Validates recorded responses of the shop against its own specs with Orchestra's validator."""

    def __init__(self) -> None:
        self.specs = load_specs()
        self.validator = HttpContractValidator()
        self.routes: list[tuple[str, str, re.Pattern[str], Operation]] = []
        for name, spec in self.specs.items():
            for op in spec.operations:
                self.routes.append((name, op.method.upper(), _pattern(BASES[name] + op.path), op))

    def operation(self, method: str, path: str) -> tuple[str, Operation] | None:
        for name, op_method, pattern, op in self.routes:
            if op_method == method.upper() and pattern.match(path):
                return name, op
        return None

    def violations(self, response: httpx.Response) -> list[Violation]:
        found = self.operation(response.request.method, response.request.url.path)
        if found is None:
            return []  # admin endpoints and unknown routes are not part of the product API
        name, op = found
        raw = response.content
        body: Any = None
        is_json = False
        if raw and "json" in media_type(response.headers.get("content-type")):
            body = response.json()
            is_json = True
        observed = HttpResponseData(
            status=response.status_code,
            headers=response.headers,
            content_type=response.headers.get("content-type"),
            body=body,
            is_json=is_json,
            empty=not raw,
            method=response.request.method,
        )
        return self.validator.validate_response(self.specs[name], op, observed)


class Recorder:
    """An httpx response hook keeping every response (read) for the contract check."""

    def __init__(self) -> None:
        self.responses: list[httpx.Response] = []

    def __call__(self, response: httpx.Response) -> None:
        response.read()
        self.responses.append(response)


def assert_conforms(checker: ContractChecker, responses: list[httpx.Response]) -> int:
    checked = 0
    problems = []
    for response in responses:
        if checker.operation(response.request.method, response.request.url.path) is None:
            continue
        checked += 1
        for violation in checker.violations(response):
            problems.append(
                f"{response.request.method} {response.request.url.path} -> {response.status_code}: "
                f"{violation.code} {violation.message}"
            )
    assert not problems, "responses break the shop's own spec:\n" + "\n".join(problems)
    return checked


def module_database(pg_url: str) -> Iterator[str]:
    """A database of its own for one test module (wrap in a module-scoped fixture)."""
    name = f"shop_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(pg_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    yield pg_url.rsplit("/", 1)[0] + "/" + name
    with admin.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def engine_for(url: str) -> Iterator[sa.Engine]:
    engine = sa.create_engine(url)
    yield engine
    engine.dispose()


def rows(engine: sa.Engine, sql: str, **params: Any) -> list[dict[str, Any]]:
    with engine.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(sa.text(sql), params)]
