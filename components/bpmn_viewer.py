"""bpmn-js wrapped as a Reflex component: the process diagram with markers for paths, statuses, coverage."""

from __future__ import annotations

from typing import Any

import reflex as rx

BPMN_JS = "bpmn-js@18.31.1"

# Marker classes the viewer styles (components/bpmn_viewer.jsx); state sends {elementId: [class, ...]}.
PATH = "o-path"
DIM = "o-dim"
COVERED = "o-covered"
UNCOVERED = "o-uncovered"


def status_class(status: str) -> str:
    """``o-status-passed`` and the like for a step status."""
    return f"o-status-{status.lower()}"


def _rendered_spec(info: rx.Var[dict[str, Any]]) -> tuple[rx.Var[dict[str, Any]]]:
    return (info,)


def _failed_spec(message: rx.Var[str]) -> tuple[rx.Var[str]]:
    return (message,)


def _click_spec(element_id: rx.Var[str]) -> tuple[rx.Var[str]]:
    return (element_id,)


class BpmnViewer(rx.NoSSRComponent):
    """``xml``: the BPMN source; ``markers``: {element id: [marker class]}; ``labels``: {id: name}
    for hover titles; ``focus``: one element drawn in red (a clicked node)."""

    library = rx.asset("bpmn_viewer.jsx", shared=True).importable_path  # type: ignore[attr-defined]
    tag = "BpmnViewer"
    lib_dependencies: list[str] = [BPMN_JS]

    xml: rx.Var[str]
    markers: rx.Var[dict[str, list[str]]]
    labels: rx.Var[dict[str, str]]
    focus: rx.Var[str]
    height: rx.Var[str]

    on_element_click: rx.EventHandler[_click_spec]  # type: ignore[type-arg,valid-type]
    on_rendered: rx.EventHandler[_rendered_spec]  # type: ignore[type-arg,valid-type]
    on_failed: rx.EventHandler[_failed_spec]  # type: ignore[type-arg,valid-type]


bpmn_viewer = BpmnViewer.create
