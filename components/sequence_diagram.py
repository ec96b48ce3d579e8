"""mermaid wrapped as a Reflex component: a sequence diagram whose messages can be marked by node id."""

from __future__ import annotations

from typing import Any

import reflex as rx

MERMAID = "mermaid@12.3.0"

MESSAGE_PATH = "o-path"


def _rendered_spec(info: rx.Var[dict[str, Any]]) -> tuple[rx.Var[dict[str, Any]]]:
    return (info,)


def _failed_spec(message: rx.Var[str]) -> tuple[rx.Var[str]]:
    return (message,)


class SequenceDiagram(rx.NoSSRComponent):
    """``text``: the stored mermaid text (may be empty); ``fallback``: mermaid text generated from the
    imported model; ``messages``: the graph node ids of the messages in order (msg_1, msg_2, ...);
    ``markers``: {node id: [marker class]}; ``labels``: {node id: name} for hover titles."""

    library = rx.asset("sequence_diagram.jsx", shared=True).importable_path  # type: ignore[attr-defined]
    tag = "SequenceDiagram"
    lib_dependencies: list[str] = [MERMAID]

    text: rx.Var[str]
    fallback: rx.Var[str]
    messages: rx.Var[list[str]]
    markers: rx.Var[dict[str, list[str]]]
    labels: rx.Var[dict[str, str]]

    on_rendered: rx.EventHandler[_rendered_spec]  # type: ignore[type-arg,valid-type]
    on_failed: rx.EventHandler[_failed_spec]  # type: ignore[type-arg,valid-type]


sequence_diagram = SequenceDiagram.create
