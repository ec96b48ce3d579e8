"""PlantUML sequence parsing: participants, arrows, groups, notes, activations, skipped decorations."""

from __future__ import annotations

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


def _one(line: str) -> Message:
    (message,) = _messages(parse_sequence(f"@startuml\n{line}\n@enduml", filename="t.puml").document.items)
    return message


@pytest.mark.parametrize(
    ("line", "sender", "receiver", "kind"),
    [
        ("Bob -> Alice : hi", "Bob", "Alice", "sync"),
        ("Bob --> Alice : hi", "Bob", "Alice", "reply"),
        ("Bob ->> Alice : hi", "Bob", "Alice", "async"),
        ("Bob <- Alice : hi", "Alice", "Bob", "sync"),
        ("Bob <-- Alice : hi", "Alice", "Bob", "reply"),
        ("Bob ->x Alice : hi", "Bob", "Alice", "async"),
        ("Bob -\\ Alice : hi", "Bob", "Alice", "async"),
        ("Bob \\\\- Alice : hi", "Alice", "Bob", "async"),
        ("Bob //-- Alice : hi", "Alice", "Bob", "reply"),
        ("Bob ->o Alice : hi", "Bob", "Alice", "sync"),
        ("Bob o\\-- Alice : hi", "Alice", "Bob", "reply"),
        ("Bob -[#red]> Alice : hi", "Bob", "Alice", "sync"),
        ("Bob -[#blue,dashed]-> Alice : hi", "Bob", "Alice", "reply"),
        ("Bob->Alice:hi", "Bob", "Alice", "sync"),
        ("[-> Alice : hi", "external", "Alice", "sync"),
        ("Alice ->] : hi", "Alice", "external", "sync"),
        ("?-> Alice : hi", "external", "Alice", "sync"),
        ('"Web GUI" -> Alice : hi', "Web GUI", "Alice", "sync"),
    ],
)
def test_arrows(line: str, sender: str, receiver: str, kind: str) -> None:
    message = _one(line)
    assert (message.from_, message.to, message.kind, message.label) == (sender, receiver, kind, "hi")


def test_bidirectional_and_activation_suffixes() -> None:
    assert _one("Bob <-> Alice : hi").bidirectional
    message = _one("Bob -> Alice ++ : hi")
    assert message.activate and message.label == "hi"
    assert _one("Bob -> Alice -- : hi").deactivate


def test_order_fixture(fixtures_dir: Path) -> None:
    text = (fixtures_dir / "sequence" / "order.puml").read_text()
    assert looks_like_sequence(text) == "plantuml"
    parsed = parse_sequence(text, filename="order.puml")
    doc = parsed.document
    assert doc.title == "Place order"
    kinds = {p.id: (p.name, p.kind) for p in doc.participants}
    assert kinds["client"] == ("Client", "actor")
    assert kinds["orders"] == ("Order service", "participant")
    assert kinds["stock"] == ("Stock", "database")
    assert kinds["bus"] == ("Kafka", "queue")
    assert kinds["Audit"][1] == "collections"
    assert {kinds[k][1] for k in ("Billing", "Invoice", "Portal")} == {"control", "entity", "boundary"}
    assert kinds["external"] == ("(outside)", "external")
    messages = _messages(doc.items)
    assert len(messages) == 17
    returned = messages[2]
    assert (returned.from_, returned.to, returned.kind, returned.label) == (
        "stock",
        "orders",
        "reply",
        "reserved",
    )
    fragments = [item.fragment for item in doc.items if isinstance(item, Fragment)]
    assert fragments == ["alt", "loop", "opt", "par", "break", "critical", "group"]
    notes = [item for item in doc.items if isinstance(item, Note)]
    assert [(n.position, n.note) for n in notes] == [
        ("over", "multi-line note\nwith two lines"),
        ("left", "single-line note"),
        ("ref", "Publish events"),
    ]
    assert [(w.code, w.line) for w in parsed.warnings] == [("unknown_statement", 64)]


def test_declarations_in_both_alias_directions() -> None:
    doc = parse_sequence(
        '@startuml\nparticipant "Long Name" as L\nparticipant S as "Short one"\nparticipant Plain as p\n'
        'Alice -> "Castor doo()" as Castor : hello\nL -> S\n@enduml',
        filename="a.puml",
    ).document
    names = {p.id: p.name for p in doc.participants}
    assert names == {
        "L": "Long Name",
        "S": "Short one",
        "p": "Plain",
        "Alice": None,
        "Castor": "Castor doo()",
    }


def test_preprocessor_and_decorations_are_skipped() -> None:
    parsed = parse_sequence(
        '@startuml\n!pragma teoz true\n!$data = {\n  "a": [1,\n  2]\n}\nskinparam x {\n  y z\n}\n<style>\n'
        "note { x y }\n</style>\nlegend\nhello\nendlegend\nhide footbox\n== s ==\n...\n||45||\n"
        "A -> B : ok\n@enduml",
        filename="p.puml",
    )
    assert len(_messages(parsed.document.items)) == 1
    assert parsed.warnings == []


def test_another_plantuml_diagram_is_rejected_with_its_line(fixtures_dir: Path) -> None:
    data = (fixtures_dir / "sequence" / "class_diagram.puml").read_bytes()
    assert looks_like_sequence(data.decode()) is None
    with pytest.raises(ImportError_) as info:
        import_sequence(data, filename="class_diagram.puml")
    assert (info.value.file, info.value.line, info.value.kind) == (
        "class_diagram.puml",
        3,
        ErrorKind.UNKNOWN_FORMAT,
    )


def test_return_without_activation_is_a_warning() -> None:
    parsed = parse_sequence("@startuml\nA -> B : x\nreturn done\n@enduml", filename="r.puml")
    assert [(w.code, w.line) for w in parsed.warnings] == [("unmatched_return", 3)]
