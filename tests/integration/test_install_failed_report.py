"""The installer script as racker renders it, run for real (bash, its EXIT trap, base64, curl)
against the boot server over loopback: a failing step posts `install-failed` with the journal's
tail, which the store keeps; a step that succeeds posts only `installed`.

The node's tools are stood in for by small scripts on PATH: `flatcar-install` (fails as it does
when its image cannot be written), the mount and udev tools, and `journalctl`, which prints what
the stand-ins wrote (a unit's output is its journal; there is no journald in a test).
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from racker.adapters.fs.store import Store
from racker.core.bootnode import BootNode
from racker.core.events import EventKind
from racker.core.render.installer import InstallerSettings, installer_script
from tests.bootthread import boot_server_thread
from tests.conftest import require_tool

NODE = BootNode("52:54:00:00:00:07", "127.0.0.1", "node-7", b"{}", b"{}")


def node_tools(bin_dir: Path, journal: Path, install_fails: bool, no_oem: bool) -> None:
    """Stand-ins for the installer's tools; each logs to `journal` as the unit's output."""
    bin_dir.mkdir()
    tools = {
        "flatcar-install": (f'echo "flatcar-install: Downloading image" >> {journal}\n'
                            + (f'echo "flatcar-install: Error: write to /dev/sda failed: No '
                               f'space left on device" >> {journal}\nexit 1\n'
                               if install_fails else "")),
        "udevadm": "", "umount": "",
        "mount": (f'echo "mount: can\'t find LABEL=OEM" >> {journal}\nexit 32\n'
                  if no_oem else ""), "systemctl": f'echo "reboot" >> {journal}\n',
        "journalctl": f'case " $* " in *" --sync "*) exit 0;; esac\ncat {journal}\n',
    }
    for name, body in tools.items():
        (bin_dir / name).write_text("#!/bin/sh\n" + body)
        (bin_dir / name).chmod(0o755)


def run_installer(tmp_path: Path, base: str, install_fails: bool,
                  no_oem: bool = False) -> subprocess.CompletedProcess[str]:
    journal = tmp_path / "journal.txt"
    journal.write_text("systemd[1]: Starting Install Flatcar Container Linux for racker...\n")
    node_tools(tmp_path / "bin", journal, install_fails, no_oem)
    script = tmp_path / "racker-installer"
    text = installer_script(InstallerSettings(base, NODE.mac))
    # the GRUB edit goes to the OEM partition mounted at /tmp/oemfs; here a folder of the test
    script.write_text(text.replace("/tmp/oemfs", str(tmp_path / "oemfs")))
    return subprocess.run(["bash", str(script)], capture_output=True, text=True, timeout=120,
                          check=False, env={**os.environ,
                                            "PATH": f"{tmp_path / 'bin'}:{os.environ['PATH']}"})


def test_a_failing_install_step_reports_install_failed_with_the_journal(tmp_path: Path) -> None:
    require_tool("curl")
    require_tool("base64")
    with Store(tmp_path / "racker.db") as store:
        store.add(NODE.mac, EventKind.STAGE, stage="pxe")  # the engine opened the window
    with boot_server_thread(tmp_path, tmp_path / "racker.db", [NODE]) as boot:
        r = run_installer(tmp_path, boot.url, install_fails=True)
    assert r.returncode == 1, r.stdout + r.stderr  # the unit fails with the step's status
    with Store(tmp_path / "racker.db") as store:
        events = store.events(NODE.mac)
    kinds = [e.kind for e in events]
    assert EventKind.INSTALLED not in kinds
    (failed,) = [e for e in events if e.kind is EventKind.INSTALL_FAILED]
    assert failed.detail["exit_status"] == 1
    assert failed.detail["journal"] == [
        "systemd[1]: Starting Install Flatcar Container Linux for racker...",
        "flatcar-install: Downloading image",
        "flatcar-install: Error: write to /dev/sda failed: No space left on device"]
    assert "reboot" not in (tmp_path / "journal.txt").read_text()  # it stays up for a look


def test_a_successful_install_reports_only_installed(tmp_path: Path) -> None:
    require_tool("curl")
    (tmp_path / "oemfs").mkdir()
    with Store(tmp_path / "racker.db") as store:
        store.add(NODE.mac, EventKind.STAGE, stage="pxe")
    with boot_server_thread(tmp_path, tmp_path / "racker.db", [NODE]) as boot:
        r = run_installer(tmp_path, boot.url, install_fails=False)
    assert r.returncode == 0, r.stdout + r.stderr
    with Store(tmp_path / "racker.db") as store:
        kinds = [e.kind for e in store.events(NODE.mac)]
    assert EventKind.INSTALLED in kinds and EventKind.INSTALL_FAILED not in kinds
    assert "ignition.config.url=" in (tmp_path / "oemfs" / "grub.cfg").read_text()
    assert (tmp_path / "journal.txt").read_text().endswith("reboot\n")


def test_a_failing_grub_edit_reports_install_failed_too(tmp_path: Path) -> None:
    """flatcar-install succeeds but the OEM partition is missing: the GRUB edit fails."""
    require_tool("curl")
    with Store(tmp_path / "racker.db") as store:
        store.add(NODE.mac, EventKind.STAGE, stage="pxe")
    with boot_server_thread(tmp_path, tmp_path / "racker.db", [NODE]) as boot:
        r = run_installer(tmp_path, boot.url, install_fails=False, no_oem=True)
    assert r.returncode == 32, r.stdout + r.stderr
    with Store(tmp_path / "racker.db") as store:
        events = store.events(NODE.mac)
    assert EventKind.INSTALLED not in [e.kind for e in events]
    (failed,) = [e for e in events if e.kind is EventKind.INSTALL_FAILED]
    assert failed.detail["exit_status"] == 32
    assert failed.detail["journal"][-1] == "mount: can't find LABEL=OEM"


def test_a_long_journal_arrives_bounded_to_its_tail(tmp_path: Path) -> None:
    """A chatty installer: 5,000 lines of journal; the script sends its last 32 KiB, the boot
    server keeps the last 100 lines, ending with the failure."""
    require_tool("curl")
    with Store(tmp_path / "racker.db") as store:
        store.add(NODE.mac, EventKind.STAGE, stage="pxe")
    with boot_server_thread(tmp_path, tmp_path / "racker.db", [NODE]) as boot:
        journal = tmp_path / "journal.txt"
        r = run_installer(tmp_path, boot.url, install_fails=True)
        assert r.returncode == 1
        # a second attempt in a new window, after a journal grown long
        with Store(tmp_path / "racker.db") as store:
            store.add(NODE.mac, EventKind.STAGE, stage="pxe")
        noise = "".join(f"flatcar-install: progress {i:05d} " + "." * 80 + "\n"
                        for i in range(5000))
        journal.write_text(noise)
        (tmp_path / "bin" / "flatcar-install").write_text(
            f"#!/bin/sh\necho 'flatcar-install: Error: the last words' >> {journal}\nexit 1\n")
        script = tmp_path / "racker-installer"
        r = subprocess.run(["bash", str(script)], capture_output=True, text=True, timeout=120,
                           check=False, env={**os.environ,
                                             "PATH": f"{tmp_path / 'bin'}:{os.environ['PATH']}"})
        assert r.returncode == 1, r.stdout + r.stderr
    with Store(tmp_path / "racker.db") as store:
        reports = [e for e in store.events(NODE.mac) if e.kind is EventKind.INSTALL_FAILED]
    assert len(reports) == 2
    lines = reports[-1].detail["journal"]
    assert len(lines) == 100 and lines[-1] == "flatcar-install: Error: the last words"
    assert lines[-2].startswith("flatcar-install: progress 04999 ")
