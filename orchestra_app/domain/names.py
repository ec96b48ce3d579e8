"""Names and keys made from user text: invisible/bidi characters removed, keys readable in any script."""

from __future__ import annotations

import hashlib
import re
import unicodedata

MAX_KEY_LENGTH = 120

_KEEP_FORMAT = {"\u200c", "\u200d"}  # zero-width (non-)joiners are part of Persian/Indic words and emoji


def clean_name(text: str | None) -> str:
    """A display name without control, bidi-override or other invisible format characters."""
    if not text:
        return ""
    kept = (
        ch
        for ch in unicodedata.normalize("NFC", text)
        if ch in _KEEP_FORMAT or unicodedata.category(ch) not in ("Cc", "Cf", "Cs", "Co", "Cn")
    )
    return " ".join("".join(kept).split())


def has_word_character(text: str) -> bool:
    """True when ``text`` has a letter or digit that a key can keep."""
    return any(unicodedata.category(ch)[0] in "LN" for ch in unicodedata.normalize("NFKC", text))


def slug(text: str, *, fallback: str = "process") -> str:
    """A readable, URL-safe key that keeps letters and digits of every script (``заказ``, ``注文``).

    Lower case, NFKC-normalised; runs of anything else become one ``-``. When nothing is left (a name of
    emoji only), ``fallback`` plus a short hash of the text keeps different names apart.
    """
    normal = unicodedata.normalize("NFKC", clean_name(text)).lower()
    # Letters, digits and combining marks (Devanagari vowel signs...) stay; anything else separates.
    marked = "".join(ch if unicodedata.category(ch)[0] in "LNM" else "-" for ch in normal)
    key = re.sub(r"-+", "-", marked).strip("-")[:MAX_KEY_LENGTH].strip("-")
    if key:
        return key
    if not text.strip():
        return fallback
    return f"{fallback}-{hashlib.sha256(text.encode()).hexdigest()[:8]}"
