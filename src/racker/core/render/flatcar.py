"""The Flatcar configuration folder `~/flatcar-container-linux/` (Terraform layout).

`terraform.tfvars` holds the per-rack values; `flatcar.tf`, `variables.tf`, `versions.tf` and
`templates/base.yaml.tmpl` are the same for every rack apart from racker's state paths.
"""

from __future__ import annotations

from pathlib import PurePosixPath

from racker.core.render import (
    BOOT_HTTP_PORT,
    DEFAULT_KERNEL_CONSOLE,
    MATCHBOX_API_PORT,
    PXE_COMMANDS,
    RenderedFile,
    asset_dir,
    clc,
    clc_paths,
    hcl,
    install_pre_reboot_command,
    ssh_pubkey,
)
from racker.model import ClusterPlan, Provision
from racker.paths import Paths

TERRAFORM_MODULE = "/opt/racker/terraform/"
"""Where racker installs the matchbox Flatcar provisioning module that flatcar.tf uses."""


def snippet_maps(plan: ClusterPlan) -> tuple[str, str]:
    """HCL of `clc_snippets` and `installer_clc_snippets` (shared with Lokomotive).

    The installer gets every node's custom snippet as soon as any node has a static public
    address: without it the installer could not reach the asset mirror or racker.
    """
    clc_snippets = [(n.name, hcl.string_list(clc_paths(n.name))) for n in plan.nodes]
    installer: list[tuple[str, str]] = []
    if any(n.static is not None for n in plan.nodes):
        installer = [(n.name, hcl.string_list(clc_paths(n.name)[1:])) for n in plan.nodes]
    return hcl.block_map(clc_snippets), hcl.block_map(installer)


def common_tail(plan: ClusterPlan) -> list[tuple[str, str]]:
    """kernel_console, install_pre_reboot_cmds and pxe_commands (shared with Lokomotive)."""
    return [
        ("kernel_console", hcl.string_list(DEFAULT_KERNEL_CONSOLE)),
        ("install_pre_reboot_cmds", hcl.string(install_pre_reboot_command(plan.management_ip))),
        ("pxe_commands", hcl.string(PXE_COMMANDS)),
    ]


def tfvars(plan: ClusterPlan, paths: Paths) -> str:
    """`terraform.tfvars`"""
    clc_snippets, installer = snippet_maps(plan)
    return hcl.assignments([
        ("asset_dir", hcl.string(str(asset_dir(paths, Provision.FLATCAR)))),
        ("node_macs", hcl.string_list(n.mac for n in plan.nodes)),
        ("node_names", hcl.string_list(n.name for n in plan.nodes)),
        ("matchbox_addr", hcl.string(plan.management_ip)),
        ("clc_snippets", clc_snippets),
        ("installer_clc_snippets", installer),
        *common_tail(plan),
    ])


def flatcar_tf(paths: Paths) -> str:
    """`flatcar.tf`: one provisioning module instance per node, fed by terraform.tfvars."""
    client = paths.state_dir / "matchbox-client"
    return f'''\
module "flatcar-provisioning" {{
  source = "{TERRAFORM_MODULE}"

  count                    = length(var.node_names)
  http_endpoint            = "http://${{var.matchbox_addr}}:{BOOT_HTTP_PORT}"
  cached_install           = "true"
  kernel_args              = ["flatcar.autologin"]
  install_to_smallest_disk = "true"
  ssh_keys                 = [file(pathexpand({hcl.string(ssh_pubkey(paths))}))]
  asset_dir                = var.asset_dir
  kernel_console           = var.kernel_console
  pxe_commands             = var.pxe_commands
  install_pre_reboot_cmds  = var.install_pre_reboot_cmds
  node_name                = var.node_names[count.index]
  node_mac                 = var.node_macs[count.index]
  node_domain              = var.node_names[count.index]
  ignition_clc_config      = data.ct_config.node_clc_config[count.index].rendered
  installer_clc_snippets   = [
    for path in lookup(var.installer_clc_snippets, var.node_names[count.index], []) : file(path)
  ]
}}

provider "matchbox" {{
  ca          = file("{client / "ca.crt"}")
  client_cert = file("{client / "client.crt"}")
  client_key  = file("{client / "client.key"}")
  endpoint    = "${{var.matchbox_addr}}:{MATCHBOX_API_PORT}"
}}

# Each node's Ignition: the base template, then its snippets cl/NAME.yaml and cl/NAME-custom.yaml.
data "ct_config" "node_clc_config" {{
  count = length(var.node_names)
  content = templatefile("${{path.module}}/templates/base.yaml.tmpl", {{
    ssh_keys = jsonencode([file(pathexpand({hcl.string(ssh_pubkey(paths))}))])
  }})

  snippets = [for path in lookup(var.clc_snippets, var.node_names[count.index], []) : file(path)]
}}
'''


_VARIABLES = (
    ("asset_dir", "string"),
    ("node_macs", "list(string)"),
    ("node_names", "list(string)"),
    ("clc_snippets", "map(list(string))"),
    ("installer_clc_snippets", "map(list(string))"),
    ("pxe_commands", "string"),
    ("kernel_console", "list(string)"),
    ("install_pre_reboot_cmds", "string"),
    ("matchbox_addr", "string"),
)


def variables_tf() -> str:
    """`variables.tf`: the declarations of every terraform.tfvars variable."""
    return "\n".join(f'variable "{n}" {{\n  type = {t}\n}}\n' for n, t in _VARIABLES)


VERSIONS_TF = """\
terraform {
  required_version = ">= 0.13"

  required_providers {
    ct = {
      source  = "poseidon/ct"
      version = "0.7.1"
    }
    matchbox = {
      source  = "poseidon/matchbox"
      version = "0.4.1"
    }
  }
}
"""


def render_flatcar(
    plan: ClusterPlan, paths: Paths
) -> tuple[RenderedFile, ...]:
    """Every file of `~/flatcar-container-linux/`, relative to that folder."""
    files = [
        RenderedFile(PurePosixPath("terraform.tfvars"),
                     tfvars(plan, paths)),
        RenderedFile(PurePosixPath("flatcar.tf"), flatcar_tf(paths)),
        RenderedFile(PurePosixPath("variables.tf"), variables_tf()),
        RenderedFile(PurePosixPath("versions.tf"), VERSIONS_TF),
        RenderedFile(PurePosixPath("templates/base.yaml.tmpl"), clc.base_template()),
    ]
    files += node_files(plan)
    return tuple(files)


def node_files(plan: ClusterPlan) -> list[RenderedFile]:
    """`cl/<name>.yaml` and `cl/<name>-custom.yaml` of every planned node."""
    out: list[RenderedFile] = []
    configs = clc.render_node_configs(plan)
    for n in plan.nodes:
        main, custom = clc_paths(n.name)
        out.append(RenderedFile(PurePosixPath(main), configs[n.name]))
        out.append(RenderedFile(PurePosixPath(custom), clc.render_custom(n)))
    return out
