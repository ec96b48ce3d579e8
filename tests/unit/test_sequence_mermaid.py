"""Mermaid sequenceDiagram parsing: every arrow, declaration, fragment and note; never a crash."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from orchestra_app.domain.errors import ErrorKind, ImportError_
from orchestra_app.importers.sequence import import_sequence, looks_like_sequence, parse_sequence
from orchestra_app.importers.sequence_model import Fragment, Message, Note

pytestmark = pytest.mark.unit


def _messages(items: list[Message | Fragment | Note]) -> list[Message]:
    found: list[Message] = []
    for item in items:
        if isinstance(item, Message):
            found.append(item)
        elif isinstance(item, Fragment):
            for branch in item.branches:
                found.extend(_messages(branch.items))
    return found


def _parse(body: str) -> list[Message]:
    return _messages(parse_sequence("sequenceDiagram\n" + body, filename="t.mmd").document.items)


@pytest.mark.parametrize(
    ("line", "arrow", "kind", "bidirectional"),
    [
        ("A->B: x", "->", "sync", False),
        ("A-->B: x", "-->", "reply", False),
        ("A->>B: x", "->>", "sync", False),
        ("A-->>B: x", "-->>", "reply", False),
        ("A-xB: x", "-x", "async", False),
        ("A--xB: x", "--x", "async", False),
        ("A-)B: x", "-)", "async", False),
        ("A--)B: x", "--)", "async", False),
        ("A<<->>B: x", "<<->>", "sync", True),
        ("A<<-->>B: x", "<<-->>", "reply", True),
        ("A ->> B : x", "->>", "sync", False),
        ("A->>()B: x", "->>", "sync", False),
        ("A()->>B: x", "->>", "sync", False),
    ],
)
def test_every_arrow_kind(line: str, arrow: str, kind: str, bidirectional: bool) -> None:
    (message,) = _parse(line)
    assert (message.from_, message.to, message.label) == ("A", "B", "x")
    assert (message.arrow, message.kind, message.bidirectional) == (arrow, kind, bidirectional)


def test_activation_shorthands_and_names_with_dashes_and_spaces() -> None:
    first, second, third = _parse(
        "web-app->>+order-service: go\norder-service-->>-web-app: done\nOld Client ->> x-ray: scan"
    )
    assert (first.from_, first.to, first.activate) == ("web-app", "order-service", True)
    assert (second.from_, second.to, second.deactivate) == ("order-service", "web-app", True)
    assert (third.from_, third.to) == ("Old Client", "x-ray")


def test_labels_keep_special_characters_and_turn_br_into_newlines() -> None:
    (message,) = _parse('A->>B: POST /x?a=1&b=2: {"k": [1]} -> 100% #lt;ok#gt; #35;1<br/>next<br>line')
    assert message.label == 'POST /x?a=1&b=2: {"k": [1]} -> 100% <ok> #1\nnext\nline'


def test_checkout_fixture(fixtures_dir: Path) -> None:
    text = (fixtures_dir / "sequence" / "checkout.mmd").read_text()
    assert looks_like_sequence(text) == "mermaid"
    parsed = parse_sequence(text, filename="checkout.mmd")
    doc = parsed.document
    assert doc.title == "Checkout with payment"
    participants = {p.id: (p.name, p.kind) for p in doc.participants}
    assert participants == {
        "C": ("Customer", "actor"),
        "Web": ("Web shop", "participant"),
        "Pay": ("Payment service", "control"),
        "DB": (None, "database"),
        "Mail": ("Mailer", "participant"),
    }
    assert len(_messages(doc.items)) == 18
    kinds = [item.fragment for item in doc.items if isinstance(item, Fragment)]
    assert kinds == ["alt", "opt", "loop", "par", "critical", "break", "group"]
    alt = next(item for item in doc.items if isinstance(item, Fragment) and item.fragment == "alt")
    assert [b.guard for b in alt.branches] == ["card accepted", "card declined", None]
    assert parsed.stats.notes == 2
    assert parsed.stats.activations == 2  # "+" on the first message and "activate DB"
    assert [(w.code, w.line) for w in parsed.warnings] == [("unknown_statement", 61)]
    graph = import_sequence(text, filename="checkout.mmd")
    assert graph.warnings[0].line == 61
    assert "this line is not mermaid" in graph.warnings[0].message


def test_notes_in_every_position() -> None:
    doc = parse_sequence(
        "sequenceDiagram\nA->>B: x\nNote left of A: l\nnote right of B: r\n"
        "Note over A,B: o\nNote over B:wrap: w",
        filename="n.mmd",
    ).document
    notes = [item for item in doc.items if isinstance(item, Note)]
    assert [(n.position, n.participants, n.note) for n in notes] == [
        ("left", ["A"], "l"),
        ("right", ["B"], "r"),
        ("over", ["A", "B"], "o"),
        ("over", ["B"], "w"),
    ]


def test_structure_problems_are_warnings_with_line_numbers() -> None:
    parsed = parse_sequence(
        "sequenceDiagram\nend\nalt x\nA->>B: y\nand z\nloop forever\nA->>B: z", filename="w.mmd"
    )
    codes = [(w.code, w.line) for w in parsed.warnings]
    assert ("unmatched_end", 2) in codes
    assert ("misplaced_branch", 5) in codes
    assert ("unclosed_block", 3) in codes and ("unclosed_block", 6) in codes
    assert len(_messages(parsed.document.items)) == 2


def test_not_a_sequence_diagram_names_file_and_line(fixtures_dir: Path) -> None:
    data = (fixtures_dir / "sequence" / "not_sequence.mmd").read_bytes()
    assert looks_like_sequence(data.decode()) is None
    with pytest.raises(ImportError_) as info:
        import_sequence(data, filename="not_sequence.mmd")
    assert (info.value.file, info.value.line) == ("not_sequence.mmd", 2)
    assert "flowchart" in str(info.value)
    assert info.value.kind == ErrorKind.UNKNOWN_FORMAT


@pytest.mark.parametrize("text", ["", "   \n\n", "hello", "\x00\x01", "%% only a comment\n"])
def test_other_text_is_rejected_cleanly(text: str) -> None:
    with pytest.raises(ImportError_) as info:
        import_sequence(text, filename="x.txt")
    assert info.value.file == "x.txt"
    assert info.value.line is not None


def test_random_lines_never_crash() -> None:
    tokens = [
        "A",
        "B",
        "->>",
        "-->",
        "-x",
        "+",
        "-",
        ":",
        "alt",
        "else",
        "end",
        "loop",
        "par",
        "and",
        "Note",
        "over",
        "left of",
        ",",
        "participant",
        "as",
        "box",
        "rect",
        "()",
        "<br/>",
        "%%",
        "{",
        "#",
    ]
    rng = random.Random(1234)
    for _ in range(300):
        lines = [
            " ".join(rng.choice(tokens) for _ in range(rng.randint(0, 6))) for _ in range(rng.randint(0, 12))
        ]
        graph = import_sequence("sequenceDiagram\n" + "\n".join(lines), filename="fuzz.mmd")
        assert graph.nodes[0].id == "start"
