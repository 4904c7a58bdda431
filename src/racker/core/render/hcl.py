"""HCL literals for the Terraform and lokoctl variable files racker writes.

Only the few value shapes the reference used: strings, lists of strings, maps of lists and maps
of maps, each map entry on its own line so that operators can add or remove nodes by hand.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence


def string(value: str) -> str:
    """A quoted HCL string. `${` and `%{` are escaped so that nothing is interpolated."""
    # JSON escapes are a subset of HCL's; only the template sequences need extra care.
    quoted = json.dumps(value, ensure_ascii=False)
    return quoted.replace("${", "$${").replace("%{", "%%{")


def string_list(values: Iterable[str]) -> str:
    """`["a", "b"]`"""
    return "[" + ", ".join(string(v) for v in values) + "]"


def string_map(pairs: Iterable[tuple[str, str]]) -> str:
    """`{"k" = "v", "k2" = "v2"}` on one line."""
    return "{" + ", ".join(f"{string(k)} = {string(v)}" for k, v in pairs) + "}"


def block_map(entries: Sequence[tuple[str, str]]) -> str:
    """A map with one `"key" = VALUE` line per entry; VALUE is already an HCL literal."""
    if not entries:
        return "{}"
    lines = [f"  {string(k)} = {v}" for k, v in entries]
    return "{\n" + "\n".join(lines) + "\n}"


def assignments(pairs: Sequence[tuple[str, str]]) -> str:
    """`name = VALUE` lines (VALUE already an HCL literal), ending with a newline."""
    return "".join(f"{name} = {value}\n" for name, value in pairs)
