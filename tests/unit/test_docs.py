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


def test_the_nodes_csv_error_example_is_what_factory_check_prints(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    from racker.cli.main import main

    text = (DOCS / "management-node.md").read_text()
    rows = text.split("## nodes.csv", 1)[1].split("```", 2)[1].strip().splitlines()
    rows[-1] = rows[-1].replace("0c:c4:7a:00:01:03", "zz:00:00:00:01:03")
    oem, net = tmp_path / "oem", tmp_path / "net" / "eth1"
    oem.mkdir()
    net.mkdir(parents=True)
    (net / "address").write_text("0c:c4:7a:00:02:01\n")
    (oem / "nodes.csv").write_text("\n".join(rows) + "\n")
    (oem / "ipmi_user").write_text("admin\n")
    (oem / "ipmi_password").write_text("secret\n")
    (oem / "ipmi_password").chmod(0o600)
    for k, v in {"RACKER_OEM_DIR": oem, "RACKER_SYS_CLASS_NET": net.parent,
                 "RACKER_STATE_DIR": tmp_path / "state", "HOME": tmp_path}.items():
        monkeypatch.setenv(k, str(v))
    assert main(["factory", "check"]) == 2
    printed = capsys.readouterr().out.replace(str(oem), "/usr/share/oem")
    example = text.split("racker factory check\n```", 1)[1].split("```", 2)[1].strip()
    assert example in printed


def test_the_unit_capabilities_are_the_documented_ones() -> None:
    from racker.app.install import Layout, render_serve_unit

    unit = render_serve_unit(Layout(venv=Path("/v"), state_dir=Path("/s"),
                                    version_file=Path("/f")))
    line = unit.split("CapabilityBoundingSet=", 1)[1].split("\n", 1)[0]
    caps = set(re.findall(r"CAP_[A-Z_]+", line))
    documented = (DOCS / "installing.md").read_text().split("The unit keeps", 1)[1]
    documented = documented.split("\n\n", 1)[0]
    assert caps and caps == set(re.findall(r"CAP_[A-Z_]+", documented))


def test_the_missing_nodes_csv_hint_points_at_a_section_that_exists(tmp_path: Path) -> None:
    from racker.adapters.fs.rackmeta import read_nodes_csv_text
    from racker.errors import InputError

    with pytest.raises(InputError) as e:
        read_nodes_csv_text(tmp_path / "nodes.csv")
    hint = e.value.hint or ""
    section, page = re.search(r"the section '([^']+)' of docs/(\S+\.md)", hint).groups()  # type: ignore[union-attr]
    assert f"\n## {section}\n" in (DOCS / page).read_text()


def test_the_simulator_page_lists_every_fault_kind() -> None:
    from racker.sim.commands import FAULTS

    page = (DOCS / "simulator.md").read_text()
    for kind in FAULTS:
        assert f"| `{kind}` |" in page, kind
    assert len(blocks("sh simhost")) == 1
