"""The installer's Container Linux Config and the installed node's report-back snippet (pure).

The PXE-booted installer posts the node's hardware inventory (`collector.py`), runs
`flatcar-install` against racker's asset mirror, points the installed system's GRUB at the
node's own Ignition (`os=installed`), tells racker `installed` and waits for the answer (racker
sets the boot device to disk before answering), then reboots.
If any step fails (flatcar-install, the GRUB edit, the report itself) it tells racker
`install-failed` with the tail of its journal instead and stays up (SSH on 2222) for a look.
The installed node reports `booted` once it is up.
"""

from __future__ import annotations

import json
import shlex
from collections.abc import Sequence
from dataclasses import dataclass

import yaml

from racker.core.installreport import JOURNAL_BYTES, JOURNAL_LINES
from racker.core.macs import hyphenated
from racker.core.render.collector import COLLECTOR_SCRIPT, collector_script

INSTALLER_SCRIPT = "/opt/racker-installer"
INSTALLER_SSH_PORT = 2222
REPORT_SCRIPT = "/opt/racker-report-booted"


@dataclass(frozen=True)
class InstallerSettings:
    base_url: str
    """`http://MGMT:8080`, no trailing slash."""
    mac: str
    channel: str = "stable"
    version: str = "current"
    install_disk: str | None = None
    """`/dev/sdX`, or None for flatcar-install's smallest-disk choice (`-s`)."""
    kernel_args: Sequence[str] = ("console=ttyS1,57600n8", "earlyprintk=serial,ttyS1,57600n8")
    pre_reboot_commands: Sequence[str] = ()
    ssh_keys: Sequence[str] = ()


def events_url(base_url: str, mac: str) -> str:
    return f"{base_url}/racker/v1/nodes/{hyphenated(mac)}/events"


def _post(base_url: str, mac: str, event: str) -> str:
    # NOTE: --retry-all-errors so a racker restart (connection refused) does not lose the report
    body = json.dumps({"event": event})
    return (f"curl --fail --silent --show-error --retry 30 --retry-delay 2 --retry-all-errors "
            f"--max-time 300 -H 'Content-Type: application/json' "
            f"-d {shlex.quote(body)} {shlex.quote(events_url(base_url, mac))}")


def _failure_trap(base_url: str, mac: str) -> list[str]:
    """Bash lines that post `install-failed` with the journal's tail when the script exits
    with an error (`set -e` makes every failed step one)."""
    url = shlex.quote(events_url(base_url, mac))
    # NOTE: base64 because the installer has no JSON encoder: base64 text in printf's format
    # is always a valid JSON string, whatever the journal holds
    return [
        "report_failure() {",
        "  rc=$?",
        '  [ "$rc" -eq 0 ] && return 0',
        "  set +e",
        "  trap - EXIT",
        "  journalctl --sync >/dev/null 2>&1",
        f"  journal=$(journalctl -u installer.service -b -n {JOURNAL_LINES} -o short-iso "
        f"--no-pager 2>&1 | tail -c {JOURNAL_BYTES} | base64 -w0)",
        "  printf '{\"event\": \"install-failed\", \"exit_status\": %d, "
        "\"journal_b64\": \"%s\"}' \"$rc\" \"$journal\" |",
        "    curl --fail --silent --show-error --retry 10 --retry-delay 2 --retry-all-errors "
        f"--max-time 60 -H 'Content-Type: application/json' --data-binary @- {url}",
        '  exit "$rc"',
        "}",
        "trap report_failure EXIT",
    ]


def post_inventory(base_url: str, mac: str) -> str:
    """The installer's line that collects the hardware inventory and posts it to racker.

    A failed post is logged and the install goes on: the inventory informs the operator and
    the cabling check, it is not worth a node that never installs. Retried when racker is
    unreachable or busy, not when it refuses (outside the node's install window).
    """
    url = shlex.quote(events_url(base_url, mac))
    head = '{"event": "inventory", "inventory": '
    return (f"{{ printf '%s' {shlex.quote(head)}; {COLLECTOR_SCRIPT}; printf '}}'; }} "
            f"| curl --fail --silent --show-error --retry 10 --retry-delay 2 "
            f"--retry-connrefused --max-time 60 -H 'Content-Type: application/json' "
            f"--data-binary @- {url} "
            f"|| echo 'racker: the hardware inventory was not accepted' >&2")


def installer_script(s: InstallerSettings) -> str:
    """The shell script the installer unit runs.

    Every value is shell-quoted: the channel and version come from the environment, and a
    value such as `stable; touch /pwned` must stay one word (the settings refuse it too).
    """
    q = shlex.quote
    disk = f"-d {q(s.install_disk)}" if s.install_disk else "-s"
    ignition_url = f"{s.base_url}/ignition?mac={hyphenated(s.mac)}&os=installed"
    linux_append = " ".join([*s.kernel_args, f"ignition.config.url={ignition_url}"])
    # `$linux_append` is GRUB's variable, kept literal in grub.cfg: the whole line is one word.
    grub_line = f'set linux_append="$linux_append {linux_append}"'
    lines = [
        "#!/bin/bash",
        "set -euo pipefail",
        *_failure_trap(s.base_url, s.mac),
        post_inventory(s.base_url, s.mac),
        f"flatcar-install {disk} -C {q(s.channel)} -V {q(s.version)} -o '' "
        f"-b {q(s.base_url + '/assets/flatcar')}",
        "udevadm settle",
        "mkdir -p /tmp/oemfs",
        "mount /dev/disk/by-label/OEM /tmp/oemfs",
        f"echo {q(grub_line)} >> /tmp/oemfs/grub.cfg",
        "umount /tmp/oemfs",
        *s.pre_reboot_commands,
        _post(s.base_url, s.mac, "installed"),
        "systemctl reboot",
    ]
    return "\n".join(lines) + "\n"


_DUMPER: type[yaml.SafeDumper] = getattr(yaml, "CSafeDumper", yaml.SafeDumper)


def _dump(data: object) -> str:
    """YAML text of `data` (pure): libyaml's emitter where PyYAML has it. It folds long
    strings elsewhere than the Python one, the data is the same; a rack's boot catalog makes
    two of these a node, and the Python emitter took 3.6 ms for them (0.17 s for 48 nodes)."""
    return yaml.dump(data, Dumper=_DUMPER, sort_keys=False)


def installer_clc(s: InstallerSettings) -> str:
    """The installer's Container Linux Config (YAML)."""
    units = [
        {"name": "installer.service", "enabled": True, "contents": (
            "[Unit]\nDescription=Install Flatcar Container Linux for racker\n"
            "Requires=network-online.target\nAfter=network-online.target\n"
            f"[Service]\nType=oneshot\nRemainAfterExit=true\nExecStart={INSTALLER_SCRIPT}\n"
            "[Install]\nWantedBy=multi-user.target\n")},
        # NOTE: sshd of the installer listens on 2222 only, so port 22 answering means the
        # installed system is up (the reference relied on this too)
        {"name": "sshd.socket", "dropins": [{"name": "10-installer-port.conf", "contents":
            f"[Socket]\nListenStream=\nListenStream={INSTALLER_SSH_PORT}\n"}]},
    ]
    clc: dict[str, object] = {
        "systemd": {"units": units},
        "storage": {"files": [
            {"path": INSTALLER_SCRIPT, "filesystem": "root", "mode": 0o500,
             "contents": {"inline": installer_script(s)}},
            {"path": COLLECTOR_SCRIPT, "filesystem": "root", "mode": 0o555,
             "contents": {"inline": collector_script()}},
        ]},
    }
    if s.ssh_keys:
        clc["passwd"] = {"users": [{"name": "core", "ssh_authorized_keys": list(s.ssh_keys)}]}
    return _dump(clc)


def booted_report_script(base_url: str, mac: str) -> str:
    """The installed node's report: `booted` with its SSH host keys (`ssh-keygen -A` makes
    them first if sshd has not yet), which `racker apply` then checks.

    `RACKER_ROOT` (unset on nodes) lets tests run it against a folder instead of `/`.
    """
    url = shlex.quote(events_url(base_url, mac))
    return "\n".join([
        "#!/bin/sh",
        'root="${RACKER_ROOT:-}"',
        'if [ -n "$root" ]; then ssh-keygen -A -f "$root" >/dev/null 2>&1; '
        "else ssh-keygen -A >/dev/null 2>&1; fi",
        "keys=",
        'for f in "$root"/etc/ssh/ssh_host_*_key.pub; do',
        '  [ -r "$f" ] || continue',
        "  k=$(cut -d' ' -f1,2 \"$f\")",
        '  keys="$keys${keys:+,}\\"$k\\""',
        "done",
        f"exec curl --fail --silent --show-error --retry 30 --retry-delay 2 --retry-all-errors "
        f"--max-time 300 -H 'Content-Type: application/json' "
        f'-d "{{\\"event\\": \\"booted\\", \\"host_keys\\": [$keys]}}" {url}',
        "",
    ])


def booted_report_clc(base_url: str, mac: str) -> str:
    """A unit of the installed node that tells racker `booted` once the network is up."""
    unit = ("[Unit]\nDescription=Report to racker that this node booted\n"
            "Wants=network-online.target\nAfter=network-online.target\n"
            f"[Service]\nType=oneshot\nExecStart={REPORT_SCRIPT}\n"
            "[Install]\nWantedBy=multi-user.target\n")
    script = booted_report_script(base_url, mac)
    return _dump({
        "systemd": {"units": [
            {"name": "racker-report-booted.service", "enabled": True, "contents": unit}]},
        "storage": {"files": [{"path": REPORT_SCRIPT, "filesystem": "root", "mode": 0o555,
                               "contents": {"inline": script}}]},
    })


DISCOVERY_SCRIPT = "/opt/racker-discovery"


def discovery_clc(base_url: str, mac: str) -> str:
    """`racker factory discover`'s configuration: post the hardware inventory, then power the
    server off (nothing is installed; the disks are not touched)."""
    script = "\n".join(["#!/bin/bash", "# racker-discovery: report the hardware, power off",
                        "set -uo pipefail", post_inventory(base_url, mac),
                        "systemctl poweroff", ""])
    unit = ("[Unit]\nDescription=Report this server's hardware to racker, then power off\n"
            "Requires=network-online.target\nAfter=network-online.target\n"
            f"[Service]\nType=oneshot\nExecStart={DISCOVERY_SCRIPT}\n"
            "[Install]\nWantedBy=multi-user.target\n")
    return yaml.safe_dump({
        "systemd": {"units": [{"name": "racker-discovery.service", "enabled": True,
                               "contents": unit}]},
        "storage": {"files": [
            {"path": DISCOVERY_SCRIPT, "filesystem": "root", "mode": 0o500,
             "contents": {"inline": script}},
            {"path": COLLECTOR_SCRIPT, "filesystem": "root", "mode": 0o555,
             "contents": {"inline": collector_script()}},
        ]},
    }, sort_keys=False)
