from __future__ import annotations

from pathlib import Path, PurePosixPath

import pytest
import yaml

from racker.core.render import DEFAULT_KERNEL_CONSOLE, PXE_COMMANDS, install_pre_reboot_command
from racker.core.render.flatcar import flatcar_tf, render_flatcar, tfvars, variables_tf
from tests.renderplans import STATIC, build_plan, flatcar, parse_hcl, paths_under

PATHS = paths_under(Path("/r"))


def test_file_names() -> None:
    files = render_flatcar(build_plan(2, flatcar()), PATHS)
    assert [str(f.path) for f in files] == [
        "terraform.tfvars", "flatcar.tf", "variables.tf", "versions.tf",
        "templates/base.yaml.tmpl",
        "cl/node-0.yaml", "cl/node-0-custom.yaml", "cl/node-1.yaml", "cl/node-1-custom.yaml",
    ]
    assert all(f.mode == 0o644 for f in files)


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("asset_dir", "/r/home/flatcar-container-linux/assets"),
        ("node_macs", ["02:00:00:00:00:01", "02:00:00:00:00:02", "02:00:00:00:00:03"]),
        ("node_names", ["node-0", "node-1", "node-2"]),
        ("matchbox_addr", "172.24.213.1"),
        ("clc_snippets", {f"node-{i}": [f"cl/node-{i}.yaml", f"cl/node-{i}-custom.yaml"]
                          for i in range(3)}),
        ("installer_clc_snippets", {}),
        ("kernel_console", list(DEFAULT_KERNEL_CONSOLE)),
        ("install_pre_reboot_cmds", install_pre_reboot_command("172.24.213.1")),
        ("pxe_commands", PXE_COMMANDS),
    ],
)
def test_tfvars_values(variable: str, value: object) -> None:
    assert parse_hcl(tfvars(build_plan(3, flatcar()), PATHS))[variable] == value


def test_tfvars_declares_exactly_the_variables_tf() -> None:
    values = parse_hcl(tfvars(build_plan(2, flatcar()), PATHS))
    declared = {next(iter(v)) for v in parse_hcl(variables_tf())["variable"]}
    assert set(values) == declared
    assert len(values) == 9


def test_kernel_console_default() -> None:
    assert DEFAULT_KERNEL_CONSOLE == ("console=ttyS1,57600n8", "earlyprintk=serial,ttyS1,57600n8")


def test_static_address_puts_every_custom_snippet_into_the_installer() -> None:
    values = parse_hcl(tfvars(build_plan(3, flatcar(), statics={2: STATIC}), PATHS))
    assert values["installer_clc_snippets"] == {
        f"node-{i}": [f"cl/node-{i}-custom.yaml"] for i in range(3)}


def test_excluded_nodes_left_out_and_renumbered() -> None:
    plan = build_plan(3, flatcar(), exclude=[1])
    values = parse_hcl(tfvars(plan, PATHS))
    assert values["node_macs"] == ["02:00:00:00:00:02", "02:00:00:00:00:03"]
    assert values["node_names"] == ["node-0", "node-1"]
    cl = yaml.safe_load(next(f.content for f in render_flatcar(plan, PATHS)
                             if f.path == PurePosixPath("cl/node-0.yaml")))
    # addresses stay those of the full rack: the excluded node keeps .2
    assert "Address=172.24.213.3/24" in cl["networkd"]["units"][0]["contents"]


def test_flatcar_tf_is_hcl_using_the_state_dir() -> None:
    text = flatcar_tf(PATHS)
    parsed = parse_hcl(text)
    assert "module" in parsed and "provider" in parsed and "data" in parsed
    assert 'file("/r/state/matchbox-client/ca.crt")' in text
    assert "http://${var.matchbox_addr}:8080" in text
    assert "${var.matchbox_addr}:8081" in text
    assert "templates/base.yaml.tmpl" in text


def test_every_file_parses() -> None:
    for f in render_flatcar(build_plan(2, flatcar(), statics={1: STATIC}), PATHS):
        if f.path.suffix in (".tf", ".tfvars"):
            parse_hcl(f.content)
        elif f.path.suffix == ".yaml":
            yaml.safe_load(f.content)
