from __future__ import annotations

from collections.abc import Callable

import pytest

from racker.core.render import hcl
from tests.renderplans import parse_hcl


@pytest.mark.parametrize(
    ("value", "literal"),
    [
        ("plain", '"plain"'),
        ('say "hi"', '"say \\"hi\\""'),
        ("back\\slash", '"back\\\\slash"'),
        ("racker pxe-boot $mac $domain", '"racker pxe-boot $mac $domain"'),
        ("${var.x}", '"$${var.x}"'),
        ("%{ if x }", '"%%{ if x }"'),
        ("line\nbreak", '"line\\nbreak"'),
        ("", '""'),
    ],
)
def test_string(value: str, literal: str) -> None:
    assert hcl.string(value) == literal
    assert parse_hcl(f"x = {literal}\n")["x"] == value


@pytest.mark.parametrize(
    ("render", "expected"),
    [
        (lambda: hcl.string_list([]), "[]"),
        (lambda: hcl.string_list(["a", "b"]), '["a", "b"]'),
        (lambda: hcl.string_map([]), "{}"),
        (lambda: hcl.string_map([("k.io/x", "v")]), '{"k.io/x" = "v"}'),
        (lambda: hcl.block_map([]), "{}"),
        (lambda: hcl.block_map([("n", '["a"]')]), '{\n  "n" = ["a"]\n}'),
    ],
)
def test_literals(render: Callable[[], str], expected: str) -> None:
    assert render() == expected


def test_assignments_parse_back() -> None:
    text = hcl.assignments([
        ("a", hcl.string("x")),
        ("b", hcl.string_list(["1", "2"])),
        ("c", hcl.block_map([("n1", hcl.string_map([("k", "v")])), ("n2", "{}")])),
    ])
    assert parse_hcl(text) == {"a": "x", "b": ["1", "2"], "c": {"n1": {"k": "v"}, "n2": {}}}
