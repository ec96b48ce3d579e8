"""Text helpers shared by the mermaid and PlantUML sequence parsers."""

from __future__ import annotations

import html
import re

_BR = re.compile(r"<br\s*/?\s*>", re.IGNORECASE)
_MERMAID_ENTITY = re.compile(r"#(\w+);")


def clean_label(text: str) -> str:
    """Turn ``<br/>`` variants into newlines and mermaid's ``#lt;``/``#35;`` codes into characters."""
    text = _BR.sub("\n", text)
    text = _MERMAID_ENTITY.sub(_entity, text)
    return "\n".join(part.strip() for part in text.split("\n")).strip()


def _entity(match: re.Match[str]) -> str:
    code = match.group(1)
    if code.isdigit():
        try:
            return chr(int(code))
        except (ValueError, OverflowError):
            return match.group(0)
    decoded = html.unescape(f"&{code};")
    return match.group(0) if decoded.startswith("&") else decoded


def first_word(line: str) -> str:
    return line.split(None, 1)[0] if line.split() else ""
