"""The real `racker bootstrap` wizard driven through a pseudo-terminal (pexpect).

Each test builds a rack in a temporary directory (nodes.csv, this machine's interfaces, state,
hosts file, HOME), answers the questions with real key presses (arrows, type to filter, Enter,
`?`) and checks what racker decided. Nothing outside the temporary directory is touched.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pexpect
import pytest

DOWN = "\x1b[B"
MGMT = ("0c:c4:7a:00:00:01", "0c:c4:7a:00:00:02", "0c:c4:7a:00:00:03")


def node_mac(i: int, kind: int) -> str:
    return f"0c:c4:7a:{kind:02x}:01:{i:02x}"


@dataclass
class Rack:
    root: Path
    env: dict[str, str]
    types: tuple[str, ...]

    @property
    def home(self) -> Path:
        return self.root / "home"


def make_rack(root: Path, types: tuple[str, ...]) -> Rack:
    oem, net = root / "oem", root / "net"
    for d in (oem, net / "eno1", net / "eno2", root / "state", root / "home"):
        d.mkdir(parents=True)
    rows = ["Primary MAC address, BMC MAC address, Secondary MAC address, Node Type, Comments",
            f"{MGMT[0]}, {MGMT[1]}, {MGMT[2]}, , management node"]
    rows += [f"{node_mac(i, 1)}, {node_mac(i, 2)}, {node_mac(i, 3)}, {t}, slot {i}"
             for i, t in enumerate(types, start=1)]
    (oem / "nodes.csv").write_text("\n".join(rows) + "\n")
    for name, value in (("ipmi_user", "admin\n"), ("ipmi_password", "not-a-real-one\n")):
        (oem / name).write_text(value)
        (oem / name).chmod(0o600)
    (net / "eno1" / "address").write_text(MGMT[0] + "\n")
    (net / "eno2" / "address").write_text(MGMT[2] + "\n")
    (root / "hosts").write_text("127.0.0.1 localhost\n")
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(root / "home"),
        "LANG": "C.UTF-8",
        "TERM": "xterm",
        "PROMPT_TOOLKIT_NO_CPR": "1",
        "RACKER_OEM_DIR": str(oem),
        "RACKER_SYS_CLASS_NET": str(net),
        "RACKER_STATE_DIR": str(root / "state"),
        "RACKER_HOSTS_FILE": str(root / "hosts"),
        "EDITOR": "/bin/false",
    }
    if "PYTHONPATH" in os.environ:
        env["PYTHONPATH"] = os.environ["PYTHONPATH"]
    return Rack(root, env, types)


class Session:
    """`racker bootstrap -render-only` on a pseudo-terminal, with a full transcript."""

    def __init__(self, rack: Rack, *args: str) -> None:
        self.child = pexpect.spawn(
            sys.executable, ["-m", "racker", "bootstrap", "-render-only", *args],
            env=rack.env, cwd=str(rack.root), dimensions=(60, 300), encoding="utf-8",
            timeout=20,
        )
        self.transcript: list[str] = []

    def expect(self, text: str) -> None:
        try:
            self.child.expect_exact(text)
        except (pexpect.TIMEOUT, pexpect.EOF):
            pytest.fail(f"waited for {text!r}; the screen ended with:\n"
                        f"{clean(''.join(self.transcript) + str(self.child.before))[-3000:]}")
        self.transcript.append(str(self.child.before) + str(self.child.after))

    def answer(self, question: str, keys: str) -> None:
        self.expect(question)
        self.child.send(keys)

    def finish(self) -> tuple[int, str]:
        self.child.expect(pexpect.EOF, timeout=60)
        self.transcript.append(str(self.child.before))
        self.child.close()
        status = self.child.exitstatus
        return (-1 if status is None else status), clean("".join(self.transcript))


def clean(text: str) -> str:
    """The transcript without terminal escape sequences."""
    return re.sub(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b[()][A-Z0-9]|\r", "", text)


@pytest.fixture
def ha_rack(tmp_path: Path) -> Iterator[Rack]:
    yield make_rack(tmp_path, ("large", "large", "small", "large", "small"))


def check_outcome(rack: Rack, status: int, out: str, folder: str) -> None:
    """-render-only wrote the folder, dnsmasq.conf and hosts entries, then stopped with 0."""
    assert "Traceback" not in out
    assert status == 0, out[-2000:]
    assert (rack.home / folder).is_dir()
    assert f"✓ configuration folder {rack.home / folder}" in out
    assert (rack.root / "state" / "dnsmasq" / "dnsmasq.conf").is_file()
    assert "Stopped before any BMC, service or network is touched (-render-only)." in out


def test_lokomotive_with_ha_and_storage(ha_rack: Rack) -> None:
    s = Session(ha_rack)
    s.answer("Choose what to provision", "\r")
    s.answer("Choose a cluster name [? for help] (lokomotive)", "?")
    s.child.send("\r")
    s.expect("The name for the cluster")
    s.answer("Choose a cluster name", "rack7\r")
    s.answer("Select the type of control plane you want", "\r")  # HA is the default
    s.answer("Choose a server type for the controller nodes", "?")
    s.expect("ⓘ With different hardware in a rack")
    s.answer("Choose a server type for the controller nodes", "larg\r")  # type to filter
    s.answer("Choose how you want to assign the IP addresses", "\r")
    s.answer("Choose a Kubernetes domain name (appended to the host names)", "Bad Domain\r")
    s.expect("not accepted: expected a lower-case domain name")
    s.answer("Choose a Kubernetes domain name", "k8s.example.org\r")
    s.answer("Choose a subnet prefix for the rack-internal network", "\r")
    s.answer("Do you want to install the Lokomotive Web UI?", DOWN + "\r")
    s.answer("Choose a Kubernetes storage provider", "Rook\r")
    s.answer("Choose a node type for storage nodes", DOWN + DOWN + "\r")  # any, large, small
    s.answer("Number of machines of selected type to use as storage nodes", "2\r")
    s.answer("Do you want to set up backup/restore?", "n")
    status, out = s.finish()
    summary = out[out.index("➤ Bootstrap options:"):]
    for line in ("provision: lokomotive", "cluster name: rack7",
                 "controllers: 3 of node type large", "public IP addresses: DHCP",
                 "Kubernetes domain name: k8s.example.org", "subnet prefix: 172.24.213",
                 "web UI: no", "storage: rook on 2 nodes of type small", "backup: no"):
        assert line in summary
    check_outcome(ha_rack, status, out, "lokomotive")
    loko = (ha_rack.home / "lokomotive" / "lokocfg.vars").read_text()
    # Controllers are the first three "large" nodes by MAC; rook on both "small" nodes.
    assert "rack7-controller-2.k8s.example.org" in loko
    assert loko.count('"storage.lokomotive.io" = "rook"') == 2, loko
    assert not (ha_rack.home / "lokomotive" / "web-ui.lokocfg").exists()
    assert (ha_rack.home / "lokomotive" / "rook.lokocfg").exists()


def test_flatcar_with_manual_ip_editor(tmp_path: Path) -> None:
    rack = make_rack(tmp_path / "rack", ("a", "b", "a"))
    editor = tmp_path / "editor.sh"
    editor.write_text(
        "#!/bin/sh\n"
        'n=$(cat "$EDIT_STATE/count" 2>/dev/null || echo 0); n=$((n+1))\n'
        'echo $n > "$EDIT_STATE/count"; cp "$1" "$EDIT_STATE/seen-$n"\n'
        'if [ "$n" = 1 ]; then : > "$1"; exit 0; fi\n'
        "printf '# set by the test\\n[%s]\\nip_addr = 192.0.2.10/24\\ngateway = 192.0.2.1\\n"
        "dns = 192.0.2.53\\n' \"$EDIT_MAC\" > \"$1\"\n"
    )
    editor.chmod(0o755)
    state = tmp_path / "edit-state"
    state.mkdir()
    rack.env.update(EDITOR=str(editor), EDIT_STATE=str(state), EDIT_MAC=node_mac(2, 3))
    s = Session(rack)
    s.answer("Choose what to provision", "Flat\r")
    s.answer("Choose how you want to assign the IP addresses", DOWN + "\r")
    s.answer("An editor will open with instructions on how to configure the IP addresses", "\r")
    # The editor left the file empty: back to the IP question.
    s.answer("Choose how you want to assign the IP addresses", DOWN + "\r")
    s.answer("[Enter to launch editor]", "\r")
    s.answer("Choose a subnet prefix for the rack-internal network", "10.9.8\r")
    status, out = s.finish()
    assert (state / "count").read_text().strip() == "2"
    first = (state / "seen-1").read_text()
    for i in (1, 2, 3):
        assert f"[{node_mac(i, 3)}]\nip_addr =\ngateway =\ndns =\n" in first
    assert MGMT[2] not in first  # the management node is not configured here
    assert "# " in first.splitlines()[0]
    summary = out[out.index("➤ Bootstrap options:"):]
    assert "provision: flatcar" in summary and "public IP addresses: static (INI)" in summary
    assert "subnet prefix: 10.9.8" in summary
    check_outcome(rack, status, out, "flatcar-container-linux")
    cl = rack.home / "flatcar-container-linux" / "cl"
    custom = {p.name: p.read_text() for p in cl.glob("*-custom.yaml")}
    assert len(custom) == 3
    # The second node by primary MAC is node-1 (names count from 0).
    assert [n for n, text in custom.items() if "192.0.2.10/24" in text] == ["node-1-custom.yaml"]


def test_backing_out_of_the_backup_questions(tmp_path: Path) -> None:
    rack = make_rack(tmp_path, ("a", "b"))  # no type has 3 nodes: no HA question
    s = Session(rack)
    s.answer("Choose what to provision", "\r")
    s.answer("Choose a cluster name", "\r")
    s.answer("Choose a server type for the controller nodes", "\r")
    s.answer("Choose how you want to assign the IP addresses", "\r")
    s.answer("Choose a Kubernetes domain name", "\r")
    s.answer("Choose a subnet prefix", "\r")
    s.answer("Do you want to install the Lokomotive Web UI?", "\r")
    s.answer("Choose a Kubernetes storage provider", "\r")
    s.answer("Do you want to set up backup/restore? [? for help]", "y")
    s.answer("Enter your AWS access key", "\r")  # empty: back
    s.answer("Do you want to set up backup/restore?", "y")
    s.answer("Enter your AWS access key", "AKIAEXAMPLEKEY\r")
    s.answer("Enter your AWS secret key", "Sup3rSecretValue\r")
    s.answer("Enter the backup name [? for help] (lokomotive-backup)", "\r")
    s.answer("Enter the S3 bucket name", "\r")  # empty: back
    s.answer("Do you want to set up backup/restore?", "n")
    status, out = s.finish()
    assert "Select the type of control plane" not in out
    assert "Sup3rSecretValue" not in out and "AKIAEXAMPLEKEY" not in out
    summary = out[out.index("➤ Bootstrap options:"):]
    assert "backup: no" in summary and "controllers: 1 of node type any" in summary
    check_outcome(rack, status, out, "lokomotive")
    assert not (rack.home / "lokomotive" / "velero.lokocfg").exists()
    assert not (rack.home / "lokomotive" / "backup-credentials").exists()


def test_without_a_terminal_every_answer_is_a_default(ha_rack: Rack) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "racker", "bootstrap", "-render-only", "-provision", "flatcar"],
        env=ha_rack.env, cwd=ha_rack.root, stdin=subprocess.DEVNULL, capture_output=True,
        text=True, timeout=60,
    )
    assert "unanswered questions take their defaults" in done.stderr
    assert "public IP addresses: DHCP" in done.stdout
    assert "subnet prefix: 172.24.213" in done.stdout
    check_outcome(ha_rack, done.returncode, done.stdout + done.stderr, "flatcar-container-linux")


def test_ctrl_c_stops_the_wizard_without_writing(ha_rack: Rack) -> None:
    s = Session(ha_rack)
    s.answer("Choose what to provision", "\r")
    s.answer("Choose a cluster name", "\x03")
    status, out = s.finish()
    assert status == 130 and "racker: interrupted" in out and "Traceback" not in out
    assert not (ha_rack.home / "lokomotive").exists()
    assert not (ha_rack.root / "state" / "dnsmasq").exists()


def test_an_editor_that_cannot_run_goes_back_to_the_ip_question(tmp_path: Path) -> None:
    rack = make_rack(tmp_path, ("a",))
    rack.env["EDITOR"] = str(tmp_path / "no-such-editor")
    s = Session(rack, "-provision", "flatcar")
    s.answer("Choose how you want to assign the IP addresses", DOWN + "\r")
    s.answer("[Enter to launch editor]", "\r")
    s.expect("could not run the editor")
    s.answer("Choose how you want to assign the IP addresses", "\r")  # DHCP after all
    s.answer("Choose a subnet prefix", "\r")
    status, out = s.finish()
    assert "public IP addresses: DHCP" in out
    check_outcome(rack, status, out, "flatcar-container-linux")
