"""The report as one self-contained HTML file: inline CSS, no script, no external reference (no
link, image, font or URL the browser would fetch), so it opens offline from disk or a mail attachment.

Every value from the run is escaped; step details fold with <details> (works without JavaScript).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from html import escape
from typing import Any

CSS = """
:root{--fg:#1d232a;--muted:#5d6773;--line:#d9dee4;--bg:#fff;--pass:#1a7f37;--fail:#cf222e;
--flaky:#9a6700;--skip:#6e7781;font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;
color:var(--fg);background:var(--bg)}
body{margin:0 auto;max-width:1200px;padding:1.5rem;line-height:1.45}
h1{font-size:1.4rem;margin:.2rem 0}
h2{font-size:1.1rem;margin:1.6rem 0 .5rem;border-bottom:1px solid var(--line)}
table{border-collapse:collapse;width:100%;font-size:.9rem;table-layout:auto}
th,td{border-bottom:1px solid var(--line);padding:.35rem .5rem;text-align:left;vertical-align:top;
overflow-wrap:anywhere}
th{color:var(--muted);font-weight:600}
.badge{display:inline-block;padding:.05rem .5rem;border-radius:1rem;font-size:.8rem;font-weight:600;
color:#fff}
.PASSED{background:var(--pass)}
.FAILED{background:var(--fail)}
.FLAKY{background:var(--flaky)}
.SKIPPED,.PENDING,.RUNNING,.CANCELLED,.QUEUED,.IN_PROGRESS{background:var(--skip)}
.cards{display:flex;flex-wrap:wrap;gap:.75rem}
.card{border:1px solid var(--line);border-radius:.5rem;padding:.5rem .9rem;min-width:7rem}
.card b{display:block;font-size:1.3rem}
.muted{color:var(--muted)}
pre{background:#f6f8fa;border:1px solid var(--line);border-radius:.4rem;padding:.6rem;
overflow-x:auto;white-space:pre-wrap;overflow-wrap:anywhere;font-size:.8rem;margin:.3rem 0}
details{border:1px solid var(--line);border-radius:.5rem;margin:.4rem 0;padding:.3rem .7rem}
summary{cursor:pointer;font-weight:600}
.violation{border-left:3px solid var(--fail);padding-left:.6rem;margin:.4rem 0}
"""


def _e(value: Any) -> str:
    return escape("" if value is None else str(value), quote=True)


def _pre(value: Any) -> str:
    if value is None or value == {} or value == []:
        return ""
    text = value if isinstance(value, str) else json.dumps(value, indent=2, ensure_ascii=False, default=str)
    return f"<pre>{_e(text)}</pre>"


def _badge(status: Any) -> str:
    return f'<span class="badge {_e(status)}">{_e(status)}</span>'


def _table(headers: list[str], rows: list[list[str]], empty: str) -> str:
    if not rows:
        return f'<p class="muted">{_e(empty)}</p>'
    head = "".join(f"<th>{_e(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _ms(value: Any) -> str:
    if not isinstance(value, int | float):
        return ""
    return f"{int(value)} ms" if value < 1000 else f"{value / 1000:.2f} s"


def _step(step: Mapping[str, Any]) -> str:
    parts = [
        f'<details id="step-{_e(step["index"])}"{" open" if step["status"] == "FAILED" else ""}>',
        f"<summary>{_e(step['index'] + 1)}. {_e(step['alias'])} {_badge(step['status'])} "
        f'<span class="muted">{_e(step["channel"])} {_e(step["endpoint"])} · {_ms(step["durationMs"])}'
        + (f" · HTTP {_e(step['statusCode'])}" if step.get("statusCode") is not None else "")
        + "</span></summary>",
    ]
    for v in step["violations"]:
        parts.append(
            f'<div class="violation"><b>{_e(v["type"])} / {_e(v["code"])}</b> '
            f"{_e(v.get('severity', 'error'))}<br>{_e(v['message'])}{_pre(v.get('details'))}</div>"
        )
    if step.get("reproducer"):
        r = step["reproducer"]
        note = f'<p class="muted">{_e(r["note"])}</p>' if r.get("note") else ""
        parts.append(f"<p><b>Reproduce with {_e(r['tool'])}</b></p><pre>{_e(r['command'])}</pre>{note}")
    if step.get("request"):
        parts.append("<p><b>Request</b></p>" + _pre(step["request"]))
    response = step.get("response") or {}
    if response.get("headers") or response.get("body") is not None:
        truncated = " (truncated)" if response.get("truncated") else ""
        parts.append(
            f"<p><b>Response{truncated}</b></p>" + _pre(response.get("headers")) + _pre(response.get("body"))
        )
    for key, label in (
        ("dbResult", "DB rows"),
        ("kafkaMessage", "Kafka message"),
        ("queueMessage", "Queue message"),
    ):
        if step.get(key) is not None:
            parts.append(f"<p><b>{label}</b></p>" + _pre(step[key]))
    parts.append("</details>")
    return "".join(parts)


def render_html(report: Mapping[str, Any]) -> str:
    """The whole document (UTF-8 text)."""
    run, summary, violations = report["run"], report["summary"], report["violations"]
    title = f"{run.get('scenarioName') or run.get('scenarioKey')} — run {str(run.get('id'))[:8]}"
    rate = summary.get("passRate")
    cards = [
        ("Status", _badge(run.get("status"))),
        ("Steps", _e(summary["steps"])),
        ("Passed", _e(summary["passed"])),
        ("Failed", _e(summary["failed"])),
        ("Flaky", _e(summary["flaky"])),
        ("Skipped / not run", _e(summary["skipped"] + summary["notRun"])),
        ("Violations", _e(summary["violations"])),
        ("Pass rate", _e(f"{rate * 100:.0f} %" if isinstance(rate, int | float) else "-")),
        ("Duration", _e(_ms(run.get("durationMs")))),
    ]
    env = run.get("environment") or {}
    data_set = run.get("dataSet") or {}
    facts = [
        ["Suite", _e(run.get("suiteName"))],
        [
            "Scenario",
            f"{_e(run.get('scenarioName'))} <code>{_e(run.get('scenarioKey'))}</code>"
            f" v{_e(run.get('scenarioVersion'))}",
        ],
        [
            "Run",
            f"<code>{_e(run.get('id'))}</code> · {_e(run.get('mode'))} · attempt {_e(run.get('attempt'))}",
        ],
        ["Environment", _e(env.get("name"))],
        ["Data set", _e(data_set.get("name") or "(none: the scenario's own values)")],
        ["Started / finished", f"{_e(run.get('startedAt'))} / {_e(run.get('finishedAt'))}"],
        ["Triggered by", _e(run.get("triggeredBy"))],
    ]
    if run.get("error"):
        facts.append(["Error", _e(run["error"])])
    body = [
        f"<h1>{_e(title)}</h1>",
        f'<p class="muted">Orchestra report · {_e(report["schema"])}'
        f" · generated {_e(report['generatedAt'])}</p>",
        '<div class="cards">'
        + "".join(f'<div class="card"><span class="muted">{_e(k)}</span><b>{v}</b></div>' for k, v in cards)
        + "</div>",
        "<h2>Run</h2>",
        _table(["", ""], facts, ""),
        "<h2>Violations by type</h2>",
        _table(
            ["Type", "Count"],
            [[_e(r["type"]), _e(r["count"])] for r in violations["byType"]],
            "No violations.",
        ),
        "<h2>Violations by code</h2>",
        _table(
            ["Type", "Code", "Count"],
            [[_e(r["type"]), f"<code>{_e(r['code'])}</code>", _e(r["count"])] for r in violations["byCode"]],
            "No violations.",
        ),
        "<h2>Violations by endpoint</h2>",
        _table(
            ["Endpoint", "Count"],
            [[f"<code>{_e(r['endpoint'])}</code>", _e(r["count"])] for r in violations["byEndpoint"]],
            "No violations.",
        ),
        "<h2>Flaky steps</h2>",
        _table(
            ["Step", "Attempts", "First failure"],
            [
                [
                    _e(f"{f['index'] + 1}. {f['alias']}"),
                    _e(f.get("attempts")),
                    _e(f["violations"][0]["message"] if f["violations"] else ""),
                ]
                for f in report["flakySteps"]
            ],
            "No flaky steps.",
        ),
        "<h2>Data set</h2>",
        _pre(data_set.get("data")) or '<p class="muted">No data.</p>',
        "<h2>Steps</h2>",
        *[_step(s) for s in report["steps"]],
    ]
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        # no network at all, even if a value slipped through as markup
        '<meta http-equiv="Content-Security-Policy" '
        "content=\"default-src 'none'; style-src 'unsafe-inline'\">"
        f"<title>{_e(title)}</title><style>{CSS}</style></head><body>" + "\n".join(body) + "</body></html>\n"
    )
