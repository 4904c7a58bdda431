""""Did you mean …?" for a mistyped flag or word (pure)."""

from __future__ import annotations

import difflib
from collections.abc import Iterable


def closest(word: str, choices: Iterable[str]) -> str | None:
    """The choice `word` most likely was meant to be, or None when none is close.

    Dashes are compared apart from the name, so `--jsn` finds `--json` and `-provison`
    finds `-provision`; the choice is returned as written in `choices`."""
    bare = word.split("=", 1)[0]
    stripped = bare.lstrip("-")
    if not stripped:
        return None
    by_name: dict[str, str] = {}
    for c in choices:
        by_name.setdefault(c.lstrip("-"), c)
    found = difflib.get_close_matches(stripped, list(by_name), n=1, cutoff=0.6)
    if not found:
        return None
    best = by_name[found[0]]
    # keep the operator's dash style when the choice exists in both
    dashes = bare[: len(bare) - len(stripped)]
    styled = dashes + found[0]
    return styled if styled in set(by_name.values()) | set(choices) else best


def did_you_mean(word: str, choices: Iterable[str]) -> str | None:
    """`did you mean --json?` for `word`, or None."""
    c = closest(word, choices)
    return f"did you mean {c}?" if c else None
