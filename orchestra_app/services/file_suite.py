"""A suite straight from files, no database: generate, bind, chain (`orchestra run`, `data scaffold`).

The same steps as the app (generation/, plugins/ matching and chaining), applied to a process file
and the spec files given on the command line; every spec given is in the suite's scope.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from orchestra_app.domain.errors import ErrorKind, OrchestraError
from orchestra_app.domain.graph import ControlFlowGraph
from orchestra_app.domain.spec import Operation, SpecSummary
from orchestra_app.domain.steps import ChannelType, ScenarioStepSpec, StepKind
from orchestra_app.generation import generate_suite, scenario_steps
from orchestra_app.generation.model import SuitePlan
from orchestra_app.importers.detect import import_process
from orchestra_app.importers.spec_detect import import_spec
from orchestra_app.plugins.chaining import apply_chaining
from orchestra_app.plugins.matching import find_explicit
from orchestra_app.services.binding import BindingRow, Chosen, SpecCandidate, match_step
from orchestra_app.services.specs import _slug, protocol_id_for

MAX_FILE_BYTES = 100 * 1024 * 1024


@dataclass
class FileScenario:
    key: str
    name: str
    tags: list[str]
    steps: list[ScenarioStepSpec]


@dataclass
class FileSuite:
    """A generated, bound and chained suite held in memory."""

    name: str
    graph: ControlFlowGraph
    scenarios: list[FileScenario]
    candidates: list[SpecCandidate]
    bindings: list[BindingRow] = field(default_factory=list)
    plan: SuitePlan | None = None  # the generator's plan (coverage, caps) the scenarios come from
    sources: dict[str, Path] = field(default_factory=dict)  # service name -> the spec file it came from

    @property
    def specs(self) -> dict[str, SpecSummary]:
        return {c.service_name: c.summary for c in self.candidates}

    def resolve(self, step: ScenarioStepSpec) -> tuple[Operation, SpecSummary] | None:
        if step.endpoint_ref is None or step.channel_type is not ChannelType.HTTP_REST:
            return None
        summary = self.specs.get(step.endpoint_ref.service_name)
        if summary is None:
            return None
        op = find_explicit(step.endpoint_ref.endpoint_name, summary.operations)
        return (op, summary) if op is not None else None


def read_file(path: Path) -> bytes:
    """The bytes of a file, or an OrchestraError naming it (missing, a directory, too big, unreadable)."""
    try:
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            raise OrchestraError(
                f"the file is {size:,} bytes, above the {MAX_FILE_BYTES:,}-byte limit",
                kind=ErrorKind.TOO_LARGE,
                file=str(path),
            )
        return path.read_bytes()
    except FileNotFoundError:
        raise OrchestraError("file not found", kind=ErrorKind.IO, file=str(path)) from None
    except IsADirectoryError:
        raise OrchestraError("is a directory, not a file", kind=ErrorKind.IO, file=str(path)) from None
    except OSError as exc:
        raise OrchestraError(
            f"cannot read the file: {exc.strerror or exc}", kind=ErrorKind.IO, file=str(path)
        ) from None


def load_specs(paths: Sequence[Path]) -> list[SpecCandidate]:
    candidates: list[SpecCandidate] = []
    seen: dict[str, Path] = {}
    for path in paths:
        read_file(path)  # clear errors for missing files before the importer runs
        summary = import_spec(path, filename=str(path))
        service = _slug(summary.title or path.stem)
        if service in seen:
            raise OrchestraError(
                f"service {service!r} is also defined by {seen[service]}: one spec per service",
                kind=ErrorKind.VALIDATION,
                file=str(path),
            )
        seen[service] = path
        candidates.append(SpecCandidate(service, protocol_id_for(summary), summary))
    return candidates


def suite_from_files(
    process_file: Path,
    spec_files: Sequence[Path],
    *,
    overrides: Mapping[str, str] | None = None,
    strategy: str = "edges",
    max_scenarios: int | None = 200,
) -> FileSuite:
    """Generation, binding (within the given specs only) and chaining, as the app does them."""
    graph = import_process(read_file(process_file), filename=str(process_file))
    plan = generate_suite(graph, strategy=strategy, max_scenarios=max_scenarios)  # type: ignore[arg-type]
    candidates = load_specs(spec_files)
    overrides = dict(overrides or {})
    verdicts: dict[str, tuple[BindingRow, Chosen | None]] = {}
    scenarios: list[FileScenario] = []
    for generated in plan.scenarios:
        steps: list[ScenarioStepSpec] = []
        for step in scenario_steps(graph, generated):
            if step.kind is StepKind.ACTION and candidates:
                node = step.source_node_id or step.alias
                if node not in verdicts:
                    override = overrides.get(node) or overrides.get(step.alias)
                    verdicts[node] = match_step(step, candidates, node_id=node, override=override)
                row, chosen = verdicts[node]
                if chosen is not None:
                    best, candidate, matcher = chosen
                    step = matcher.bind(step, best, candidate.summary, candidate.service_name)
                    row.steps_updated += 1
            steps.append(step)
        scenarios.append(FileScenario(generated.key, generated.name, [generated.kind.value], steps))
    known = {s.source_node_id for sc in scenarios for s in sc.steps} | {
        s.alias for sc in scenarios for s in sc.steps
    }
    unknown = sorted(set(overrides) - known)
    if unknown:
        raise OrchestraError(
            f"override(s) for {', '.join(map(repr, unknown))} name no task of the process",
            kind=ErrorKind.VALIDATION,
            file=str(process_file),
            field="override",
        )
    suite = FileSuite(graph.name or process_file.stem, graph, scenarios, candidates, plan=plan)
    suite.sources = {c.service_name: path for c, path in zip(candidates, spec_files, strict=True)}
    suite.bindings = [row for row, _ in verdicts.values()]
    for scenario in scenarios:
        scenario.steps = apply_chaining(scenario.steps, suite.resolve)
    return suite
