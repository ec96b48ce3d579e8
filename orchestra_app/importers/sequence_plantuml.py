"""Parser for PlantUML sequence diagrams (``@startuml`` ... ``@enduml``) into orchestra-sequence/1."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from orchestra_app.domain.errors import ErrorKind, ImportError_
from orchestra_app.importers.sequence_model import DocumentBuilder, Message, Note, SequenceParse
from orchestra_app.importers.sequence_text import clean_label, first_word

EXTERNAL = "external"  # stands for the diagram border: ``[->``, ``->]``, ``?->``, ``->?``

_KINDS = ("participant", "actor", "boundary", "control", "entity", "database", "collections", "queue")
_NAME = r'"[^"]*"|[\w.@$]+'
_ENDPOINT = rf"(?:{_NAME})(?:\s+as\s+(?:{_NAME}))?"
_ARROW = (
    r"(?P<lh>(?:[ox](?=[<\\/-]))?(?:<<|<|\\\\|\\|//|/)?)"
    r"(?P<body>-(?:\[[^\]]*\])?-?(?:\[[^\]]*\])?)"
    r"(?P<rh>(?:>>|>|\\\\|\\|//|/)?(?:[ox](?!\w))?)"
)
_MESSAGE = re.compile(
    rf"^(?P<left>{_ENDPOINT}|\[|\?)?\s*{_ARROW}\s*(?P<right>{_ENDPOINT}|\]|\?)?"
    r"\s*(?P<act>\+\+|--|\*\*|!!)?\s*(?:#\w+\s*)?(?::(?P<text>.*))?$"
)
_AS = re.compile(rf"^(?P<a>{_NAME})(?:\s+as\s+(?P<b>{_NAME}))?(?P<tail>.*)$")
_NOTE = re.compile(
    r"^(?P<shape>note|hnote|rnote)\s+(?P<pos>left|right|over|across)(?:\s+of)?\b(?P<who>[^:]*?)(?::(?P<text>.*))?$",
    re.I,
)
_NOTE_END = re.compile(r"^end\s*[hr]?note$", re.I)
_REF = re.compile(r"^ref\s+over\s+(?P<who>[^:]+?)(?::(?P<text>.*))?$", re.I)
_BLOCKS = {
    "alt": "alt",
    "opt": "opt",
    "loop": "loop",
    "par": "par",
    "par2": "par",
    "break": "break",
    "critical": "critical",
    "group": "group",
}
_BRANCH_KEYWORDS = {"else": {"alt", "par", "critical"}, "also": {"par"}}
_IGNORED_WORDS = {
    "hide",
    "show",
    "scale",
    "newpage",
    "autonumber",
    "caption",
    "mainframe",
    "left",
    "top",
    "skin",
    "footbox",
    "delay",
    "allowmixing",
    "allow_mixing",
}
_NOT_SEQUENCE = re.compile(
    r"^(?:class|interface|abstract|enum|annotation|usecase|state|component|node|package|object|rectangle|"
    r"artifact|cloud|folder|frame|storage|start|stop|endif|if\s*\(|while\s*\(|repeat\b|fork\b|"
    r"@startmindmap|@startgantt|@startwbs|@startjson|@startyaml|@startsalt)\b|^:.*;$|^\S+\s*-+>\s*\(",
    re.I,
)


@dataclass
class _State:
    builder: DocumentBuilder
    activations: list[tuple[str, str | None]] = field(default_factory=list)
    autoactivate: bool = False
    last_to: dict[str, str] = field(default_factory=dict)  # receiver -> sender of its latest message
    note_block: Note | None = None
    note_lines: list[str] = field(default_factory=list)
    skip_until: re.Pattern[str] | None = None
    depth: int = 0  # open braces of a skipped {...} block
    bracket_depth: int = 0  # open brackets of a skipped preprocessor value


def _meaningful(text: str) -> list[tuple[int, str]]:
    return [(n, line.strip()) for n, line in enumerate(text.splitlines(), start=1)]


def is_plantuml(text: str) -> bool:
    for _, line in _meaningful(text):
        if not line or line.startswith("'"):
            continue
        return line.lower().startswith("@startuml")
    return False


def plantuml_sequence_problem(text: str) -> tuple[int, str] | None:
    """Line and statement showing a PlantUML file is some other diagram kind, or None."""
    for number, line in _meaningful(text):
        if line.startswith(("'", "!")):
            continue
        if _NOT_SEQUENCE.search(line):
            return number, line
    return None


def _unquote(name: str) -> str:
    return name[1:-1] if len(name) >= 2 and name.startswith('"') and name.endswith('"') else name


def _resolve(a: str, b: str | None) -> tuple[str, str | None]:
    """(id, display name) from ``a [as b]``: the quoted side is the display name, the bare side the id."""
    if b is None:
        return _unquote(a), None
    if a.startswith('"'):
        return _unquote(b), _unquote(a)
    if b.startswith('"'):
        return a, _unquote(b)
    return b, a


def parse_plantuml(text: str, *, filename: str) -> SequenceParse:
    lines = _meaningful(text)
    start = next((i for i, (_, line) in enumerate(lines) if line.lower().startswith("@startuml")), None)
    if start is None:
        raise ImportError_("no @startuml line", kind=ErrorKind.UNKNOWN_FORMAT, file=filename, line=1)
    problem = plantuml_sequence_problem(text)
    if problem is not None:
        raise ImportError_(
            f"not a PlantUML sequence diagram: {problem[1][:60]!r} belongs to another diagram kind",
            kind=ErrorKind.UNKNOWN_FORMAT,
            file=filename,
            line=problem[0],
        )
    state = _State(DocumentBuilder("plantuml"))
    in_comment = False
    for number, line in lines[start + 1 :]:
        if in_comment:
            in_comment = "'/" not in line
            continue
        if line.startswith("/'"):
            in_comment = "'/" not in line[2:]
            continue
        if line.lower().startswith("@enduml"):
            break
        try:
            _line(state, line, number)
        except ValueError as exc:
            state.builder.warn("bad_statement", f"line {number}: {exc}", number)
    if state.note_block is not None:
        state.builder.warn("unclosed_block", "note is never closed with 'end note'", state.note_block.line)
        _finish_note(state)
    return state.builder.finish()


def _finish_note(state: _State) -> None:
    assert state.note_block is not None
    state.note_block.note = clean_label("\n".join(state.note_lines))
    state.builder.add_note(state.note_block)
    state.note_block = None
    state.note_lines = []


def _line(state: _State, line: str, number: int) -> None:
    b = state.builder
    if state.note_block is not None:
        if _NOTE_END.match(line) or re.match(r"^end\s*ref$", line, re.I):
            _finish_note(state)
        else:
            state.note_lines.append(line)
        return
    if state.skip_until is not None:
        if state.skip_until.match(line):
            state.skip_until = None
        return
    if state.depth:
        state.depth += line.count("{") - line.count("}")
        state.depth = max(state.depth, 0)
        return
    if state.bracket_depth:
        state.bracket_depth = max(state.bracket_depth + _bracket_balance(line), 0)
        return
    if not line or line.startswith("'"):
        return
    if line.startswith("!"):
        state.bracket_depth = max(_bracket_balance(line), 0)  # skips multi-line !$x = {...} values
        return
    lowered = line.lower()
    word = first_word(lowered)

    if word == "skinparam" or word == "sprite":
        if line.endswith("{"):
            state.depth = 1
        return
    if lowered.startswith("<style>"):
        if "</style>" not in lowered:
            state.skip_until = re.compile(r"^</style>", re.I)
        return
    if word in ("title", "header", "footer", "legend") or re.match(
        r"^(?:left|right|center)\s+(?:header|footer)\b", lowered
    ):
        _titles(state, line, word, number)
        return
    if word in _IGNORED_WORDS:
        return
    if word == "autoactivate":
        state.autoactivate = "on" in lowered.split()
        return
    if (
        re.match(r"^==.*==$", line)
        or re.match(r"^\.\.\..*$", line)
        or re.match(r"^\|\|(?:\||\d+\|\|)$", line)
    ):
        return
    if word in _KINDS:
        _participant(state, word, line.split(None, 1)[1] if len(line.split(None, 1)) == 2 else "", number)
        return
    if word == "create":
        parts = line.split(None, 2)
        if len(parts) >= 3 and parts[1].lower() in _KINDS:
            _participant(state, parts[1].lower(), parts[2], number)
        elif len(parts) == 2:
            _participant(state, "participant", parts[1], number)
        return
    if word == "destroy" and len(line.split()) == 2:
        b.ensure(_unquote(line.split()[1]))
        return
    if word in ("activate", "deactivate") and len(line.split()) >= 2:
        who = _unquote(line.split()[1])
        b.ensure(who)
        if word == "activate":
            b.stats.activations += 1
            state.activations.append((who, state.last_to.get(who)))
        else:
            _pop_activation(state, who)
        return
    if word == "return":
        _return(state, line[len("return") :].strip(), number)
        return
    if word == "box":
        b.open_box(number)
        return
    if re.match(r"^end\s*box$", lowered):
        if b.in_box():
            b.close(number)
        else:
            b.warn("unmatched_end", "'end box' without 'box' ignored", number)
        return
    if word in _BLOCKS and not _MESSAGE.match(line):
        guard = line.split(None, 1)[1] if len(line.split(None, 1)) == 2 else ""
        guard = re.sub(r"#\w+\s*", "", guard, count=1) if guard.startswith("#") else guard
        b.open(_BLOCKS[word], word, clean_label(guard) or None, number)
        return
    if word in _BRANCH_KEYWORDS:
        guard = line.split(None, 1)[1] if len(line.split(None, 1)) == 2 else ""
        b.add_branch(word, clean_label(guard) or None, number, _BRANCH_KEYWORDS)
        return
    if re.match(r"^end(\s+\w+)?$", lowered):
        if b.in_box():
            b.warn("unmatched_end", f"{line!r} inside a box ignored", number)
        else:
            b.close(number)
        return
    if word in ("note", "hnote", "rnote"):
        _note(state, line, number)
        return
    if word == "ref":
        _ref(state, line, number)
        return
    if _message(state, line, number):
        return
    b.warn("unknown_statement", f"line {number}: unrecognised statement {line!r} ignored", number)


def _bracket_balance(line: str) -> int:
    without_strings = re.sub(r'"[^"]*"', "", line)
    return sum(without_strings.count(c) for c in "[{(") - sum(without_strings.count(c) for c in "]})")


def _titles(state: _State, line: str, word: str, number: int) -> None:
    rest = line.split(None, 1)[1].strip() if len(line.split(None, 1)) == 2 else ""
    if word in ("left", "right", "center"):  # "right footer ..." / "center header ..."
        parts = line.split(None, 2)
        word = parts[1].lower() if len(parts) > 1 else word
        rest = parts[2] if len(parts) > 2 else ""
    if word == "legend" or not rest:
        ends = {"legend": r"^end\s*legend$", "title": r"^end\s*title$"}
        state.skip_until = re.compile(ends.get(word, rf"^end\s*{word}$"), re.I)
        return
    if word == "title":
        state.builder.title = clean_label(_unquote(rest.lstrip(":").strip())) or None


def _participant(state: _State, kind: str, rest: str, number: int) -> None:
    match = _AS.match(rest.strip())
    if match is None:
        state.builder.warn("unknown_statement", f"line {number}: cannot read participant {rest!r}", number)
        return
    pid, name = _resolve(match.group("a"), match.group("b"))
    state.builder.declare(pid, clean_label(name.replace("\\n", "\n")) if name else None, kind)
    if match.group("tail").strip().endswith("["):
        state.skip_until = re.compile(r"^\]")


def _note(state: _State, line: str, number: int) -> None:
    match = _NOTE.match(line)
    if match is None:
        state.builder.warn("unknown_statement", f"line {number}: cannot read note {line!r}", number)
        return
    who = re.sub(r"<<[^>]*>>|#\w+", "", match.group("who"))
    participants = [_unquote(w.strip()) for w in who.split(",") if w.strip()]
    position = match.group("pos").lower()
    note = Note(note="", participants=participants, position=position, line=number)  # type: ignore[arg-type]
    if match.group("text") is None:
        state.note_block = note
        state.note_lines = []
        return
    note.note = clean_label(match.group("text").replace("\\n", "\n"))
    state.builder.add_note(note)


def _ref(state: _State, line: str, number: int) -> None:
    match = _REF.match(line)
    if match is None:
        state.builder.warn("unknown_statement", f"line {number}: cannot read {line!r}", number)
        return
    who = re.sub(r"#\w+", "", match.group("who"))
    participants = [_unquote(w.strip()) for w in who.split(",") if w.strip()]
    note = Note(note="", participants=participants, position="ref", line=number)
    if match.group("text") is None:
        state.note_block = note
        state.note_lines = []
        return
    note.note = clean_label(match.group("text"))
    state.builder.add_note(note)


def _endpoint(raw: str | None) -> tuple[str, str | None]:
    if raw is None or raw in ("[", "]", "?"):
        return EXTERNAL, "(outside)"
    match = _AS.match(raw)
    assert match is not None
    pid, name = _resolve(match.group("a"), match.group("b"))
    return pid, name.replace("\\n", "\n") if name else None


_HEADS = set("<>\\/")


def _message(state: _State, line: str, number: int) -> bool:
    match = _MESSAGE.match(line)
    if match is None:
        return False
    lh, body, rh = match.group("lh"), match.group("body"), match.group("rh")
    left_head = any(c in _HEADS for c in lh)
    right_head = any(c in _HEADS for c in rh)
    lost = "x" in rh or "x" in lh
    if not (left_head or right_head or lost):
        return False
    if match.group("left") is None and match.group("right") is None:
        return False
    b = state.builder
    left, left_name = _endpoint(match.group("left"))
    right, right_name = _endpoint(match.group("right"))
    for pid, name in ((left, left_name), (right, right_name)):
        if pid == EXTERNAL:
            b.declare(EXTERNAL, "(outside)", "external")
        elif name:
            b.declare(pid, clean_label(name))
    reverse = left_head and not right_head
    sender, receiver = (right, left) if reverse else (left, right)
    dotted = body.count("-") >= 2 or bool(re.search(r"dotted|dashed", body, re.I))
    half = any(c in "\\/" for c in lh + rh) or ">>" in rh or "<<" in lh
    kind = "reply" if dotted else "async" if half or lost else "sync"
    act = match.group("act") or ""
    text = match.group("text")
    message = Message.model_validate(
        {
            "from": sender,
            "to": receiver,
            "label": clean_label(text.replace("\\n", "\n")) if text else "",
            "kind": kind,
            "arrow": lh + body + rh,
            "bidirectional": left_head and right_head,
            "activate": act == "++",
            "deactivate": act == "--",
            "line": number,
        }
    )
    b.add_message(message)
    state.last_to[receiver] = sender
    if act == "++" or (state.autoactivate and kind == "sync"):
        state.activations.append((receiver, sender))
    elif act == "--" or (state.autoactivate and kind == "reply"):
        _pop_activation(state, sender)
    return True


def _pop_activation(state: _State, who: str) -> None:
    for index in range(len(state.activations) - 1, -1, -1):
        if state.activations[index][0] == who:
            del state.activations[index]
            return


def _return(state: _State, label: str, number: int) -> None:
    if not state.activations or state.activations[-1][1] is None:
        state.builder.warn(
            "unmatched_return", f"line {number}: 'return' with no activation to return from", number
        )
        return
    who, caller = state.activations.pop()
    assert caller is not None
    state.builder.add_message(
        Message.model_validate(
            {
                "from": who,
                "to": caller,
                "label": clean_label(label),
                "kind": "reply",
                "arrow": "return",
                "line": number,
            }
        )
    )
