"""JUnit XML for CI: one <testsuite> per scenario run, one <testcase> per step, violations as failures.

Shape (what Jenkins, GitLab and GitHub test reporters read)::

    <testsuites name tests failures errors skipped time>
      <testsuite name="Order fulfilment/S001" tests failures errors skipped time timestamp>
        <properties><property name="runId" value="..."/></properties>
        <testcase name="01 create_order" classname="order.S001" time="0.042">
          <failure type="CONTRACT_VIOLATION" message="...">code, message, details</failure>
        </testcase>
        <testcase name="02 ship_order" ...><skipped message="not run: an earlier step failed"/></testcase>

A FAILED step is a <failure>; a VALIDATION_ERROR-only failure (the step could not be sent: bad
template, missing secret, configuration) is an <error>, so CI tells a broken test from a broken
system. SKIPPED/PENDING steps are <skipped>; FLAKY steps pass with a note in <system-out>.
"""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from orchestra_app.domain.steps import StepResultData, StepStatus, Violation, ViolationType

_INVALID_XML = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
MAX_TEXT = 8000


@dataclass
class JUnitCase:
    name: str
    classname: str
    time_s: float = 0.0
    status: str = "passed"  # passed | failed | error | skipped
    failures: list[tuple[str, str, str]] = field(default_factory=list)  # (type, message, text)
    skipped_message: str = ""
    system_out: str = ""


@dataclass
class JUnitSuite:
    name: str
    cases: list[JUnitCase] = field(default_factory=list)
    timestamp: datetime | None = None
    properties: dict[str, str] = field(default_factory=dict)
    error: str = ""  # the run could not start (configuration): reported as one <error> case


def _clean(text: str) -> str:
    text = _INVALID_XML.sub("?", text)
    return text if len(text) <= MAX_TEXT else text[:MAX_TEXT] + "... (truncated)"


def _violation_text(violation: Violation) -> str:
    details = (
        json.dumps(violation.details, ensure_ascii=False, default=str, indent=1) if violation.details else ""
    )
    return f"{violation.type}/{violation.code}: {violation.message}" + (f"\n{details}" if details else "")


def case_from_step(
    result: StepResultData, *, classname: str, index: int, skipped_reason: str = ""
) -> JUnitCase:
    """One step result as a test case (``index`` is 1-based, so cases sort in run order)."""
    case = JUnitCase(
        name=f"{index:02d} {result.step_alias}", classname=classname, time_s=result.duration_ms / 1000
    )
    if result.status in (StepStatus.FAILED,):
        only_setup = bool(result.violations) and all(
            v.type is ViolationType.VALIDATION_ERROR for v in result.violations
        )
        case.status = "error" if only_setup else "failed"
        case.failures = [(str(v.type), v.message, _violation_text(v)) for v in result.violations] or [
            ("FAILED", "the step failed without a recorded violation", "")
        ]
    elif result.status in (StepStatus.SKIPPED, StepStatus.PENDING, StepStatus.RUNNING):
        case.status = "skipped"
        case.skipped_message = skipped_reason or f"not run ({result.status})"
    elif result.status is StepStatus.FLAKY:
        case.system_out = "FLAKY: failed first, passed on a retry\n" + "\n".join(
            _violation_text(v) for v in result.violations
        )
    if result.actual_status_code is not None:
        prefix = case.system_out + "\n" if case.system_out else ""
        case.system_out = f"{prefix}HTTP {result.actual_status_code}"
    return case


def _counts(cases: Sequence[JUnitCase]) -> dict[str, int]:
    return {
        "tests": len(cases),
        "failures": sum(c.status == "failed" for c in cases),
        "errors": sum(c.status == "error" for c in cases),
        "skipped": sum(c.status == "skipped" for c in cases),
    }


def _suite_cases(suite: JUnitSuite) -> list[JUnitCase]:
    if suite.error:
        return [
            JUnitCase(
                name="run",
                classname=suite.name,
                status="error",
                failures=[("CONFIGURATION", suite.error, suite.error)],
            ),
            *suite.cases,
        ]
    return suite.cases


def write_junit(suites: Sequence[JUnitSuite], *, name: str = "orchestra") -> bytes:
    """The JUnit XML document (UTF-8 bytes with an XML declaration)."""
    root = ET.Element("testsuites", {"name": name})
    totals = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
    total_time = 0.0
    for suite in suites:
        cases = _suite_cases(suite)
        counts = _counts(cases)
        elapsed = sum(c.time_s for c in cases)
        attrs = {
            "name": _clean(suite.name),
            **{k: str(v) for k, v in counts.items()},
            "time": f"{elapsed:.3f}",
        }
        if suite.timestamp is not None:
            attrs["timestamp"] = suite.timestamp.replace(microsecond=0).isoformat()
        element = ET.SubElement(root, "testsuite", attrs)
        if suite.properties:
            props = ET.SubElement(element, "properties")
            for key, value in suite.properties.items():
                ET.SubElement(props, "property", {"name": _clean(key), "value": _clean(value)})
        for case in cases:
            item = ET.SubElement(
                element,
                "testcase",
                {
                    "name": _clean(case.name),
                    "classname": _clean(case.classname),
                    "time": f"{case.time_s:.3f}",
                },
            )
            if case.status in ("failed", "error"):
                tag = "failure" if case.status == "failed" else "error"
                for kind, message, text in case.failures:
                    node = ET.SubElement(item, tag, {"type": _clean(kind), "message": _clean(message)})
                    node.text = _clean(text)
            elif case.status == "skipped":
                ET.SubElement(item, "skipped", {"message": _clean(case.skipped_message)})
            if case.system_out:
                ET.SubElement(item, "system-out").text = _clean(case.system_out)
        for key in totals:
            totals[key] += counts[key]
        total_time += elapsed
    for key, total in totals.items():
        root.set(key, str(total))
    root.set("time", f"{total_time:.3f}")
    ET.indent(root)
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"
    ).encode()
