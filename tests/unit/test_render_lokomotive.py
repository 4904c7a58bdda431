from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from racker.core.render import DEFAULT_KERNEL_CONSOLE, PXE_COMMANDS, install_pre_reboot_command
from racker.core.render.lokomotive import baremetal_lokocfg, lokocfg_vars, render_lokomotive
from racker.model import Backup, Options, StorageProvider
from tests.renderplans import STATIC, build_plan, lokomotive, parse_hcl, paths_under

PATHS = paths_under(Path("/r"))
BACKUP = Backup(aws_access_key="AKIAEXAMPLE", aws_secret_key="secret/key+x", name="nightly",
                s3_bucket="my-bucket", aws_location="eu-central-1")
C = "lokomotive-controller-{}.k8s.localdomain"
W = "lokomotive-worker-{}.k8s.localdomain"


def names(opts: Options, n: int = 4) -> list[str]:
    return [str(f.path) for f in render_lokomotive(build_plan(n, opts), PATHS)
            if not str(f.path).startswith("cl/")]


@pytest.mark.parametrize(
    ("opts", "expected"),
    [
        (lokomotive(), ["lokocfg.vars", "baremetal.lokocfg"]),
        (lokomotive(web_ui=True), ["lokocfg.vars", "baremetal.lokocfg", "web-ui.lokocfg"]),
        (lokomotive(storage_provider=StorageProvider.ROOK),
         ["lokocfg.vars", "baremetal.lokocfg", "rook.lokocfg"]),
        (lokomotive(storage_provider=StorageProvider.OPENEBS),
         ["lokocfg.vars", "baremetal.lokocfg", "openebs.lokocfg"]),
        (lokomotive(backup=BACKUP),
         ["lokocfg.vars", "baremetal.lokocfg", "velero.lokocfg", "backup-credentials"]),
        (lokomotive(web_ui=True, storage_provider=StorageProvider.OPENEBS, backup=BACKUP),
         ["lokocfg.vars", "baremetal.lokocfg", "web-ui.lokocfg", "openebs.lokocfg",
          "velero.lokocfg", "backup-credentials"]),
    ],
)
def test_component_files(opts: Options, expected: list[str]) -> None:
    assert names(opts) == expected


def test_node_files() -> None:
    files = [str(f.path) for f in render_lokomotive(build_plan(2, lokomotive()), PATHS)]
    assert files[-4:] == [f"cl/{C.format(0)}.yaml", f"cl/{C.format(0)}-custom.yaml",
                          f"cl/{W.format(0)}.yaml", f"cl/{W.format(0)}-custom.yaml"]


def test_backup_credentials_secret_file() -> None:
    f = next(f for f in render_lokomotive(build_plan(2, lokomotive(backup=BACKUP)), PATHS)
             if str(f.path) == "backup-credentials")
    assert f.mode == 0o600
    assert f.content == ("[default]\naws_access_key_id=AKIAEXAMPLE\n"
                         "aws_secret_access_key=secret/key+x\n")


def vars_of(opts: Options, n: int = 4, **kw: Any) -> dict[str, Any]:
    return parse_hcl(lokocfg_vars(build_plan(n, opts, **kw), PATHS))


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("cluster_name", "lokomotive"),
        ("asset_dir", "/r/home/lokomotive/lokoctl-assets"),
        ("k8s_domain_name", "k8s.localdomain"),
        ("controller_macs", ["02:00:00:00:00:01"]),
        ("worker_macs", ["02:00:00:00:00:02", "02:00:00:00:00:03", "02:00:00:00:00:04"]),
        ("controller_names", [C.format(0)]),
        ("worker_names", [W.format(i) for i in range(3)]),
        ("matchbox_addr", "172.24.213.1"),
        ("clc_snippets", {n: [f"cl/{n}.yaml", f"cl/{n}-custom.yaml"]
                          for n in [C.format(0)] + [W.format(i) for i in range(3)]}),
        ("installer_clc_snippets", {}),
        ("node_specific_labels", {n: {"metadata.node-type": ""}
                                  for n in [C.format(0)] + [W.format(i) for i in range(3)]}),
        ("kernel_console", list(DEFAULT_KERNEL_CONSOLE)),
        ("install_pre_reboot_cmds", install_pre_reboot_command("172.24.213.1")),
        ("pxe_commands", PXE_COMMANDS),
    ],
)
def test_vars_values(variable: str, value: object) -> None:
    assert vars_of(lokomotive())[variable] == value


def test_vars_cover_every_declared_variable() -> None:
    declared = {next(iter(v)) for v in parse_hcl(baremetal_lokocfg(PATHS))["variable"]}
    assert set(vars_of(lokomotive())) == declared
    velero = next(f for f in render_lokomotive(build_plan(2, lokomotive(backup=BACKUP)), PATHS)
                  if str(f.path) == "velero.lokocfg")
    declared |= {next(iter(v)) for v in parse_hcl(velero.content)["variable"]}
    assert set(vars_of(lokomotive(backup=BACKUP))) == declared


def test_backup_vars() -> None:
    v = vars_of(lokomotive(backup=BACKUP))
    assert (v["backup_name"], v["backup_s3_bucket_name"], v["backup_aws_region"]) == (
        "nightly", "my-bucket", "eu-central-1")
    # the keys never appear in lokocfg.vars
    assert "AKIAEXAMPLE" not in lokocfg_vars(build_plan(2, lokomotive(backup=BACKUP)), PATHS)


def test_ha_cluster_with_types_and_storage_labels() -> None:
    opts = lokomotive(cluster_name="prod", k8s_domain_name="rack.example", num_controllers=3,
                      controller_type="small", storage_provider=StorageProvider.ROOK,
                      storage_node_type="large", number_of_storage_nodes=1)
    v = vars_of(opts, 6, types=["small", "large"])
    # nodes 1, 3, 5 are small (controllers), 2, 4, 6 large (workers; first one stores)
    assert v["controller_macs"] == ["02:00:00:00:00:01", "02:00:00:00:00:03",
                                    "02:00:00:00:00:05"]
    assert v["worker_names"] == [f"prod-worker-{i}.rack.example" for i in range(3)]
    assert v["node_specific_labels"]["prod-worker-0.rack.example"] == {
        "metadata.node-type": "large", "storage.lokomotive.io": "rook"}
    assert v["node_specific_labels"]["prod-worker-1.rack.example"] == {
        "metadata.node-type": "large"}
    assert v["node_specific_labels"]["prod-controller-2.rack.example"] == {
        "metadata.node-type": "small"}


def test_static_addresses() -> None:
    v = vars_of(lokomotive(), 2, statics={2: STATIC})
    assert v["installer_clc_snippets"] == {C.format(0): [f"cl/{C.format(0)}-custom.yaml"],
                                           W.format(0): [f"cl/{W.format(0)}-custom.yaml"]}


def test_every_file_parses() -> None:
    opts = lokomotive(web_ui=True, storage_provider=StorageProvider.ROOK, backup=BACKUP)
    for f in render_lokomotive(build_plan(3, opts, statics={1: STATIC}), PATHS):
        if f.path.suffix in (".lokocfg", ".vars"):
            parse_hcl(f.content)
        elif f.path.suffix == ".yaml":
            yaml.safe_load(f.content)


def test_baremetal_lokocfg_uses_state_dir_and_ports() -> None:
    text = baremetal_lokocfg(PATHS)
    assert 'pathexpand("/r/state/matchbox-client/client.key")' in text
    assert '"http://${var.matchbox_addr}:8080"' in text
    assert "ignore_worker_changes     = false" in text
    cluster = parse_hcl(text)["cluster"][0]["bare-metal"]
    assert cluster["kernel_console"] == "${var.kernel_console}"
