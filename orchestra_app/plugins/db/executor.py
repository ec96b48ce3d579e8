"""DB ASSERTION: poll a read-only SELECT until the business rules hold (seed 4.5, 5.2)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pydantic import Field

from orchestra_app.domain.rules import RuleSet
from orchestra_app.domain.steps import (
    ScenarioStepSpec,
    StepKind,
    StepResultData,
    Violation,
    ViolationType,
)
from orchestra_app.domain.templating import TemplateScope
from orchestra_app.plugins.base import DbProfile, StepRunContext
from orchestra_app.plugins.db.connect import Database, QueryError, QueryResult, normalize_url
from orchestra_app.plugins.db.sql import PreparedSql, SqlRefused, prepare
from orchestra_app.plugins.polling import PollEnd, poll_until
from orchestra_app.plugins.sideeffects import (
    PollingMeta,
    StepFailed,
    cancel_check,
    compile_rules,
    invalid,
    json_safe,
    parse_meta,
    render_value,
    step_result,
    step_timeout_s,
    violation,
)

FAILED = ViolationType.DB_ASSERTION_FAILED
SHOWN_ROWS = 10  # rows quoted in a violation (all kept rows are in dbResult)


class DbAssertMeta(PollingMeta):
    data_source: str = Field(min_length=1)
    sql: str = Field(min_length=1)
    params: dict[str, Any] = Field(default_factory=dict)
    max_rows: int | None = Field(default=None, ge=1, le=10_000)


@dataclass
class Observation:
    result: QueryResult | None = None
    error: QueryError | None = None
    failures: list[Violation] = field(default_factory=list)

    def subject(self) -> dict[str, Any]:
        rows = rows_as_objects(self.result) if self.result else []
        return {"rows": rows, "rowCount": len(rows), "columns": self.result.columns if self.result else []}


def rows_as_objects(result: QueryResult) -> list[dict[str, Any]]:
    return [
        {name: json_safe(value) for name, value in zip(result.columns, row, strict=True)}
        for row in result.rows
    ]


class DbStepExecutor:
    def __init__(self, *, plugin_id: str = "db") -> None:
        self.plugin_id = plugin_id

    def database(self, run: StepRunContext, alias: str, scope: TemplateScope) -> Database:
        profile = run.environment.profile("db", alias)
        assert isinstance(profile, DbProfile)

        def make() -> Database:
            url, dialect = normalize_url(profile.url, alias)
            username = render_value(profile.username, scope, f"/environment/db/{alias}/username")
            password = render_value(profile.password, scope, f"/environment/db/{alias}/password")
            options = render_value(profile.options, scope, f"/environment/db/{alias}/options")
            return Database(
                alias=alias,
                url=url,
                dialect=dialect,
                username=None if username is None else str(username),
                password=None if password is None else str(password),
                default_schema=profile.default_schema,
                connect_timeout_s=profile.connect_timeout_s,
                pool_size=profile.pool_size,
                connect_args=dict(options or {}),
            )

        return run.environment.resource(f"{self.plugin_id}:database:{alias}", make)

    def execute(self, step: ScenarioStepSpec, run: StepRunContext) -> StepResultData:
        with step_result(step, run) as (result, scope):
            if step.kind != StepKind.ASSERTION:
                raise invalid(
                    "UNSUPPORTED_STEP_KIND",
                    "a DB step is an ASSERTION (it reads; writes belong to the system under test)",
                    pointer="/kind",
                )
            meta = parse_meta(DbAssertMeta, step)
            rules = compile_rules(step)
            profile = run.environment.profile("db", meta.data_source)
            assert isinstance(profile, DbProfile)
            db = self.database(run, meta.data_source, scope)
            prepared = self._prepare(meta, db, scope)
            max_rows = meta.max_rows or profile.max_rows
            self._poll(step, run, meta, db, prepared, rules, profile, max_rows, result)
        return result

    @staticmethod
    def _prepare(meta: DbAssertMeta, db: Database, scope: TemplateScope) -> PreparedSql:
        params = {
            name: render_value(value, scope, f"/action/meta/params/{name}")
            for name, value in meta.params.items()
        }

        def placeholder(expression: str, index: int) -> Any:
            value = render_value("{{" + expression + "}}", scope, "/action/meta/sql")
            return json_param(value)

        try:
            return prepare(
                meta.sql,
                dialect=db.dialect,
                paramstyle=db.paramstyle,
                render_placeholder=placeholder,
                params={k: json_param(v) for k, v in params.items()},
            )
        except SqlRefused as exc:
            code = "READ_ONLY_VIOLATION" if exc.code in ("NOT_A_SELECT", "MULTIPLE_STATEMENTS") else exc.code
            raise StepFailed(
                violation(
                    ViolationType.VALIDATION_ERROR,
                    code,
                    f"{exc.message}; nothing was executed",
                    pointer="/action/meta/sql",
                    reason=exc.code,
                    position=exc.position,
                )
            ) from None

    def _poll(
        self,
        step: ScenarioStepSpec,
        run: StepRunContext,
        meta: DbAssertMeta,
        db: Database,
        prepared: PreparedSql,
        rules: RuleSet,
        profile: DbProfile,
        max_rows: int,
        result: StepResultData,
    ) -> None:
        def observe(_budget: float) -> Observation:
            try:
                found = db.query(
                    prepared.text, prepared.params, timeout_ms=profile.statement_timeout_ms, max_rows=max_rows
                )
            except QueryError as exc:
                if exc.transient:
                    return Observation(error=exc)
                raise
            observation = Observation(result=found)
            observation.failures = self._failures(rules, observation)
            return observation

        timeout_s = step_timeout_s(run, meta.timeout_ms)
        try:
            outcome = poll_until(
                observe,
                lambda o: o.error is None and not o.failures,
                timeout_s=timeout_s,
                interval_s=meta.poll_interval_ms / 1000,
                should_cancel=cancel_check(run),
            )
        except QueryError as exc:
            result.db_result = self._db_result(meta, prepared, None, 1, 0, db)
            raise StepFailed(self._query_violation(exc, meta, db)) from None

        last = outcome.last
        result.db_result = self._db_result(
            meta, prepared, last.result if last else None, outcome.attempts, outcome.elapsed_ms, db
        )
        if outcome.end is PollEnd.SATISFIED:
            return
        if outcome.end is PollEnd.CANCELLED:
            raise StepFailed(
                violation(
                    ViolationType.TIMEOUT,
                    "CANCELLED",
                    f"the run was cancelled while waiting for the rows ({outcome.attempts} queries)",
                    attempts=outcome.attempts,
                )
            )
        violations: list[Violation] = []
        if meta.timeout_ms > 0:
            violations.append(
                violation(
                    ViolationType.TIMEOUT,
                    "ASSERTION_TIMEOUT",
                    f"the rows did not satisfy the rules within {meta.timeout_ms} ms "
                    f"({outcome.attempts} queries, every {meta.poll_interval_ms} ms)",
                    timeoutMs=meta.timeout_ms,
                    attempts=outcome.attempts,
                )
            )
        if last is not None and last.error is not None:
            violations.append(self._query_violation(last.error, meta, db))
        elif last is not None:
            violations.extend(last.failures)
        raise StepFailed(*violations)

    @staticmethod
    def _failures(rules: RuleSet, observation: Observation) -> list[Violation]:
        subject = observation.subject()
        shown = subject["rows"][:SHOWN_ROWS]
        if not rules.rules:
            if subject["rowCount"] == 0:
                return [
                    violation(
                        FAILED,
                        "NO_ROWS",
                        "the query returned no rows (with no businessRules, at least one row is expected)",
                        lastRows=[],
                        rowCount=0,
                    )
                ]
            return []
        found = rules.violations(subject, FAILED, case_insensitive_roots=frozenset())
        for item in found[:1]:
            item.details["lastRows"] = shown
            item.details["rowCount"] = subject["rowCount"]
        return found

    @staticmethod
    def _query_violation(exc: QueryError, meta: DbAssertMeta, db: Database) -> Violation:
        where = f"database {meta.data_source!r}"
        if exc.kind == "READ_ONLY_VIOLATION":
            return violation(
                ViolationType.VALIDATION_ERROR,
                "READ_ONLY_VIOLATION",
                f"{where} refused a write inside the read-only transaction ({exc.message}); "
                "the transaction was rolled back and nothing changed",
                sqlstate=exc.sqlstate,
                pointer="/action/meta/sql",
            )
        if exc.kind == "STATEMENT_TIMEOUT":
            return violation(
                ViolationType.TIMEOUT,
                "STATEMENT_TIMEOUT",
                f"{where}: the query ran longer than the statement timeout ({exc.message})",
                sqlstate=exc.sqlstate,
            )
        if exc.kind == "CONNECTION_FAILED":
            return violation(
                FAILED,
                "CONNECTION_FAILED",
                f"cannot query {where} ({db.display_url}): {exc.message}",
                sqlstate=exc.sqlstate,
            )
        return violation(
            FAILED,
            "QUERY_FAILED",
            f"{where} rejected the query: {exc.message}",
            sqlstate=exc.sqlstate,
            pointer="/action/meta/sql",
        )

    @staticmethod
    def _db_result(
        meta: DbAssertMeta,
        prepared: PreparedSql,
        found: QueryResult | None,
        attempts: int,
        elapsed_ms: int,
        db: Database,
    ) -> dict[str, Any]:
        rows = rows_as_objects(found) if found else []
        return {
            "dataSource": meta.data_source,
            "dialect": db.dialect,
            "sql": meta.sql,
            "parameters": [
                {"from": source, "value": json_safe(value)}
                for source, value in zip(prepared.bound, prepared.params, strict=True)
            ],
            "columns": found.columns if found else [],
            "rows": rows,
            "rowCount": len(rows),
            "truncated": bool(found and found.truncated),
            "attempts": attempts,
            "elapsedMs": elapsed_ms,
        }


def json_param(value: Any) -> Any:
    """A rendered template value as a driver parameter: objects and arrays are passed as JSON text."""
    if isinstance(value, dict | list):
        import json

        return json.dumps(value, separators=(",", ":"))
    return value
