"""The Lokomotive configuration folder `~/lokomotive/` (lokoctl layout).

`lokocfg.vars` holds the per-rack values; `baremetal.lokocfg` is the cluster, and one
`.lokocfg` per chosen component (web UI, Rook or OpenEBS, Velero) sits next to it.
"""

from __future__ import annotations

from pathlib import PurePosixPath

from racker.core.render import (
    BOOT_HTTP_PORT,
    MATCHBOX_API_PORT,
    RenderedFile,
    asset_dir,
    hcl,
    ssh_pubkey,
)
from racker.core.render.flatcar import common_tail, node_files, snippet_maps
from racker.model import Backup, ClusterPlan, Provision, StorageProvider
from racker.paths import Paths

BACKUP_CREDENTIALS = "backup-credentials"


def lokocfg_vars(plan: ClusterPlan, paths: Paths) -> str:
    """`lokocfg.vars`"""
    o = plan.options
    clc_snippets, installer = snippet_maps(plan)
    labels = hcl.block_map([(n.name, hcl.string_map(n.labels)) for n in plan.nodes])
    pairs = [
        ("cluster_name", hcl.string(o.cluster_name)),
        ("asset_dir", hcl.string(str(asset_dir(paths, Provision.LOKOMOTIVE)))),
        ("k8s_domain_name", hcl.string(o.k8s_domain_name)),
        ("controller_macs", hcl.string_list(n.mac for n in plan.controllers)),
        ("worker_macs", hcl.string_list(n.mac for n in plan.workers)),
        ("controller_names", hcl.string_list(n.name for n in plan.controllers)),
        ("worker_names", hcl.string_list(n.name for n in plan.workers)),
        ("matchbox_addr", hcl.string(plan.management_ip)),
        ("clc_snippets", clc_snippets),
        ("installer_clc_snippets", installer),
        ("node_specific_labels", labels),
        *common_tail(plan),
    ]
    if o.backup is not None:
        pairs += [
            ("backup_name", hcl.string(o.backup.name)),
            ("backup_s3_bucket_name", hcl.string(o.backup.s3_bucket)),
            ("backup_aws_region", hcl.string(o.backup.aws_location)),
        ]
    return hcl.assignments(pairs)


_VARIABLES = (
    ("cluster_name", "string"),
    ("asset_dir", "string"),
    ("matchbox_addr", "string"),
    ("controller_macs", "list(string)"),
    ("controller_names", "list(string)"),
    ("worker_macs", "list(string)"),
    ("worker_names", "list(string)"),
    ("clc_snippets", "map(list(string))"),
    ("installer_clc_snippets", "map(list(string))"),
    ("pxe_commands", "string"),
    ("kernel_console", "list(string)"),
    ("install_pre_reboot_cmds", "string"),
    ("k8s_domain_name", "string"),
    ("node_specific_labels", "map(map(string))"),
)


def _declarations(variables: tuple[tuple[str, str], ...]) -> str:
    return "\n".join(f'variable "{n}" {{\n  type = {t}\n}}\n' for n, t in variables)


def baremetal_lokocfg(paths: Paths) -> str:
    """`baremetal.lokocfg`: the bare-metal cluster fed by lokocfg.vars, plus the update operator."""
    client = paths.state_dir / "matchbox-client"
    cluster = f'''\
cluster "bare-metal" {{
  asset_dir                 = var.asset_dir
  ssh_pubkeys               = [file(pathexpand({hcl.string(ssh_pubkey(paths))}))]
  cached_install            = "true"
  matchbox_ca_path          = pathexpand("{client / "ca.crt"}")
  matchbox_client_cert_path = pathexpand("{client / "client.crt"}")
  matchbox_client_key_path  = pathexpand("{client / "client.key"}")
  matchbox_endpoint         = "${{var.matchbox_addr}}:{MATCHBOX_API_PORT}"
  matchbox_http_endpoint    = "http://${{var.matchbox_addr}}:{BOOT_HTTP_PORT}"
  cluster_name              = var.cluster_name
  k8s_domain_name           = var.k8s_domain_name
  controller_domains        = var.controller_names
  controller_macs           = var.controller_macs
  controller_names          = var.controller_names
  worker_domains            = var.worker_names
  worker_macs               = var.worker_macs
  worker_names              = var.worker_names
  clc_snippets = {{
    for name, paths in var.clc_snippets : name => [for path in paths : file(path)]
  }}
  installer_clc_snippets = {{
    for name, paths in var.installer_clc_snippets : name => [for path in paths : file(path)]
  }}
  network_ip_autodetection_method = "can-reach=${{var.matchbox_addr}}"
  kernel_args               = ["flatcar.autologin"]
  kernel_console            = var.kernel_console
  install_to_smallest_disk  = "true"
  pxe_commands              = var.pxe_commands
  install_pre_reboot_cmds   = var.install_pre_reboot_cmds
  node_specific_labels      = var.node_specific_labels
  wipe_additional_disks     = true
  # Set to true to keep workers from being reinstalled when their configuration changes: they
  # keep their state (e.g. storage volumes), but changes such as new SSH keys are then manual.
  ignore_worker_changes     = false

  labels = {{
    "testing.io" = "yes",
    "roleofnode" = "testing",
  }}

  conntrack_max_per_core = 65000
}}

component "flatcar-linux-update-operator" {{}}

'''
    return cluster + _declarations(_VARIABLES)


WEB_UI_LOKOCFG = 'component "web-ui" {}\n\ncomponent "metrics-server" {}\n'

ROOK_LOKOCFG = """\
component "rook" {
  node_selector = {
    "storage.lokomotive.io" = "rook"
  }

  csi_plugin_node_selector = {
    "storage.lokomotive.io" = "rook"
  }
}

component "rook-ceph" {
  storage_class {
    enable  = true
    default = true
  }

  node_affinity {
    key      = "storage.lokomotive.io"
    operator = "In"
    values   = ["rook"]
  }
}
"""

OPENEBS_LOKOCFG = """\
component "openebs-operator" {
  ndm_selector_label = "storage.lokomotive.io"
  ndm_selector_value = "openebs"
}

component "openebs-storage-class" {
  storage-class "openebs-cstor" {
    replica_count = 3
    default       = true
  }
}
"""

VELERO_LOKOCFG = f"""\
component "velero" {{
  namespace = "velero"
  provider  = "restic"

  restic {{
    credentials = file("./{BACKUP_CREDENTIALS}")

    backup_storage_location {{
      name     = var.backup_name
      provider = "aws"
      bucket   = var.backup_s3_bucket_name
      region   = var.backup_aws_region
    }}
  }}
}}

""" + _declarations((("backup_name", "string"), ("backup_s3_bucket_name", "string"),
                     ("backup_aws_region", "string")))


def backup_credentials(backup: Backup) -> str:
    """`backup-credentials`: the AWS profile Velero uses (a secret: written with mode 0600)."""
    return (f"[default]\naws_access_key_id={backup.aws_access_key}\n"
            f"aws_secret_access_key={backup.aws_secret_key}\n")


def render_lokomotive(
    plan: ClusterPlan, paths: Paths
) -> tuple[RenderedFile, ...]:
    """Every file of `~/lokomotive/`, relative to that folder."""
    o = plan.options
    files = [
        RenderedFile(PurePosixPath("lokocfg.vars"),
                     lokocfg_vars(plan, paths)),
        RenderedFile(PurePosixPath("baremetal.lokocfg"), baremetal_lokocfg(paths)),
    ]
    if o.web_ui:
        files.append(RenderedFile(PurePosixPath("web-ui.lokocfg"), WEB_UI_LOKOCFG))
    if o.storage_provider is StorageProvider.ROOK:
        files.append(RenderedFile(PurePosixPath("rook.lokocfg"), ROOK_LOKOCFG))
    elif o.storage_provider is StorageProvider.OPENEBS:
        files.append(RenderedFile(PurePosixPath("openebs.lokocfg"), OPENEBS_LOKOCFG))
    if o.backup is not None:
        files.append(RenderedFile(PurePosixPath("velero.lokocfg"), VELERO_LOKOCFG))
        files.append(RenderedFile(PurePosixPath(BACKUP_CREDENTIALS),
                                  backup_credentials(o.backup), mode=0o600))
    files += node_files(plan)
    return tuple(files)
