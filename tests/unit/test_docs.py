"""The user guide's links resolve and its shell examples name commands racker has."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from racker.cli.main import COMMANDS
from racker.cli.sim import SUBCOMMANDS
from tests.docs_blocks import DOCS, README, blocks

LINK = re.compile(r"\]\(([^)#\s]+)(?:#[^)]*)?\)")
PAGES = [*sorted(DOCS.glob("*.md")), README]


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_relative_links_point_at_files(page: Path) -> None:
    for target in LINK.findall(page.read_text()):
        if "://" in target:
            continue
        assert (page.parent / target).exists(), f"{page.name}: broken link {target}"


def test_every_page_is_reachable_from_the_index() -> None:
    index = (DOCS / "index.md").read_text()
    for page in DOCS.glob("*.md"):
        assert page.name == "index.md" or f"({page.name})" in index, page.name


def test_examples_use_existing_commands() -> None:
    racker = {c.name for c in COMMANDS}
    sim = {c.words[0] for c in SUBCOMMANDS}
    seen = 0
    for md, text in blocks():
        for line in text.splitlines():
            words = line.split("#", 1)[0].split()
            for i, w in enumerate(words[:-1]):
                if w == "racker" and not words[i + 1].startswith("-"):
                    assert words[i + 1] in racker, f"{md.name}: racker {words[i + 1]}"
                    seen += 1
                if w == "racker-sim" and not words[i + 1].startswith("-"):
                    assert words[i + 1] in sim, f"{md.name}: racker-sim {words[i + 1]}"
    assert seen > 10
