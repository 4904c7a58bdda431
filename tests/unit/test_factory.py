"""`racker factory check | reset` through the real CLI, on a fake rack in a temporary folder."""

from __future__ import annotations

import io
import os
from pathlib import Path

import pytest

from racker.app.factory import ResetRequest, check, node_type_lines, reset
from racker.cli.main import main
from racker.core.inventory import HEADER, parse_nodes_csv
from racker.paths import Paths
from tests.rackfixtures import nodes_csv_text, primary_mac, secondary_mac, write_rack

MACHINE = {"eth0": primary_mac(0), "eth1": secondary_mac(0)}


@pytest.fixture
def rack(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    env = write_rack(tmp_path, 4, types=("small", "large", "small", ""))
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    return env


def racker(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err and "internal error" not in err
    return code, out, err


def test_check_ok(rack: dict[str, str], capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = racker(capsys, "factory", "check")
    oem = rack["RACKER_OEM_DIR"]
    assert code == 0
    assert out.splitlines() == [
        f"✓ {oem}/ipmi_user and {oem}/ipmi_password look valid",
        f"✓ {oem}/nodes.csv looks valid",
        "🛈 PXE interface: eth1, 4 nodes besides the management node",
        "🛈 3 node types configured:",
        '  1 ""',
        '  1 "large"',
        '  2 "small"',
    ]


@pytest.mark.parametrize(
    ("types", "expect"),
    [
        ((), ["🛈 No different node types configured"]),
        (("a",), ["🛈 1 node types configured:", '  3 "a"']),
        (("b", "a"), ["🛈 2 node types configured:", '  1 "a"', '  2 "b"']),
    ],
)
def test_node_type_lines(types: tuple[str, ...], expect: list[str]) -> None:
    inv = parse_nodes_csv(nodes_csv_text(3, types), "nodes.csv", MACHINE)
    assert node_type_lines(inv) == expect


# (what to break, file:line:column that must be named, words)
BROKEN = [
    ("append", "zz:11:22:33:44:55, 02:00:00:00:01:77, , ,\n", "nodes.csv:7:1:", "not a MAC"),
    ("append", "02:00:00:00:00:77, 02:00:00:00:01:01, , ,\n", "nodes.csv:7:20:", "appears twice"),
    ("append", "02:00:00:00:00:77, 02:00:00:00:01:77, , 02:00:00:00:01:78, c\n",
     "nodes.csv:7:41:", "looks like a MAC"),
    ("append", "02:00:00:00:00:77\n", "nodes.csv:7:18:", "BMC MAC address is missing"),
    ("replace", "02:00:00:00:00:00, 02:00:00:00:01:00, , , mgmt\n", "nodes.csv:2:38:",
     "no Secondary MAC"),
    ("replace", "", "nodes.csv:1:", "empty"),
    ("header", "", "nodes.csv:1:1:", "header"),
]


@pytest.mark.parametrize(("how", "text", "place", "words"), BROKEN)
def test_check_reports_place_without_traceback(rack: dict[str, str],
                                               capsys: pytest.CaptureFixture[str], how: str,
                                               text: str, place: str, words: str) -> None:
    csv = Path(rack["RACKER_OEM_DIR"]) / "nodes.csv"
    if how == "append":
        csv.write_text(csv.read_text() + text)
    elif how == "header":
        csv.write_text("\n".join(csv.read_text().splitlines()[1:]) + "\n")
    else:
        lines = csv.read_text().splitlines(keepends=True)
        csv.write_text(HEADER + "\n" + text + "".join(lines[2:]) if text else "")
    code, out, _ = racker(capsys, "factory", "check")
    assert code == 2
    problem = next(line for line in out.splitlines() if line.startswith("× "))
    assert f"{csv}:{place.split(':', 1)[1]}" in problem
    assert words in problem
    assert "hint:" in out
    assert "✓ " + str(csv) not in out


def test_check_collects_several_problems(rack: dict[str, str],
                                         capsys: pytest.CaptureFixture[str]) -> None:
    oem = Path(rack["RACKER_OEM_DIR"])
    os.chmod(oem / "ipmi_password", 0o644)
    csv = oem / "nodes.csv"
    csv.write_text(csv.read_text() + "x, y, z, ,\n" * 25)
    code, out, _ = racker(capsys, "factory", "check")
    assert code == 2
    problems = [line for line in out.splitlines() if line.startswith("× ")]
    assert "chmod 600" in out
    assert len(problems) == 21 and "more problems" in problems[-1]
    assert f"{csv}:7:1:" in problems[1] and f"{csv}:7:4:" in problems[2]
    assert f"{csv}:7:7:" in problems[3] and f"{csv}:8:1:" in problems[4]


def test_check_missing_files(rack: dict[str, str], capsys: pytest.CaptureFixture[str]) -> None:
    oem = Path(rack["RACKER_OEM_DIR"])
    for name in ("nodes.csv", "ipmi_user"):
        (oem / name).unlink()
    code, out, _ = racker(capsys, "factory", "check")
    assert code == 2
    assert f"× {oem}/ipmi_user: the IPMI user file is missing" in out
    assert f"× {oem}/nodes.csv: the rack metadata file nodes.csv is missing" in out


def test_check_no_row_for_this_machine(rack: dict[str, str],
                                       capsys: pytest.CaptureFixture[str]) -> None:
    net = Path(rack["RACKER_SYS_CLASS_NET"])
    (net / "eth0" / "address").write_text("0a:0b:0c:0d:0e:0f\n")
    (net / "eth1" / "address").write_text("0a:0b:0c:0d:0e:10\n")
    code, out, _ = racker(capsys, "factory", "check")
    assert code == 2
    assert "no row for this machine" in out and "eth1 0a:0b:0c:0d:0e:10" in out


def test_check_result_for_too_large_rack(tmp_path: Path) -> None:
    env = write_rack(tmp_path, 64)
    result = check(Paths.from_env(env))
    assert not result.ok and "at most 63" in str(result.problems[0])


def test_reset_without_flags_prints_usage(rack: dict[str, str],
                                          capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = racker(capsys, "factory", "reset")
    assert code == 0 and "-racker-version" in out and "-confirm" in out


@pytest.mark.parametrize("answer", ["", "n\n", "no\n", "whatever\n"])
def test_reset_not_confirmed_touches_nothing(rack: dict[str, str], answer: str,
                                             capsys: pytest.CaptureFixture[str],
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    version = Path(rack["RACKER_VERSION_FILE"])
    version.parent.mkdir(parents=True)
    version.write_text("v0.3\n")
    (Path(rack["RACKER_STATE_DIR"]) / "dnsmasq").mkdir()
    before = (Path(rack["RACKER_OEM_DIR"]) / "nodes.csv").read_text()
    monkeypatch.setattr("sys.stdin", io.StringIO(answer))
    code, out, _ = racker(capsys, "factory", "reset", "-racker-version", "--nodes")
    assert code == 0
    assert "currently v0.3" in out
    assert f"remove {rack['RACKER_STATE_DIR']}" in out
    assert "Are you sure?" in out
    assert "× Reset not confirmed; doing nothing." in out
    assert version.exists() and (Path(rack["RACKER_STATE_DIR"]) / "dnsmasq").exists()
    assert (Path(rack["RACKER_OEM_DIR"]) / "nodes.csv").read_text() == before


def test_reset_confirmed_by_answer(rack: dict[str, str], capsys: pytest.CaptureFixture[str],
                                   monkeypatch: pytest.MonkeyPatch) -> None:
    (Path(rack["HOME"]) / "lokomotive").mkdir()
    (Path(rack["RACKER_STATE_DIR"]) / "dnsmasq").mkdir()
    monkeypatch.setattr("sys.stdin", io.StringIO("y\n"))
    code, out, _ = racker(capsys, "factory", "reset", "-nodes")
    csv = Path(rack["RACKER_OEM_DIR"]) / "nodes.csv"
    assert code == 0
    assert "version" not in out.split("?")[0]
    assert f"✓ Nodes file reset ({csv})" in out
    assert csv.read_text() == HEADER + "\n"
    assert not Path(rack["RACKER_STATE_DIR"]).exists()
    assert (Path(rack["HOME"]) / "lokomotive").exists() and "Kept" in out
    # the other metadata stays
    assert (Path(rack["RACKER_OEM_DIR"]) / "ipmi_password").exists()


@pytest.mark.parametrize("flag", ["-confirm", "--confirm", "-confirm=true", "-confirm-reset"])
def test_reset_confirmed_by_flag_does_not_ask(rack: dict[str, str], flag: str,
                                              capsys: pytest.CaptureFixture[str],
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    version = Path(rack["RACKER_VERSION_FILE"])
    version.parent.mkdir(parents=True)
    version.write_text("v0.3\n")
    monkeypatch.setattr("sys.stdin", io.StringIO(""))
    code, out, _ = racker(capsys, "factory", "reset", "-racker-version", flag)
    assert code == 0
    assert "Are you sure" not in out
    assert out.strip() == "✓ Racker version reset (you can run 'racker update' to update it)"
    assert not version.exists()
    assert (Path(rack["RACKER_OEM_DIR"]) / "nodes.csv").read_text().count("\n") == 6


@pytest.mark.parametrize(
    ("argv", "words"),
    [
        (["factory", "reset", "-nodes=maybe"], "flag -nodes: 'maybe' is not true or false"),
        (["factory", "reset", "-everything"], "flag -everything: unknown flag"),
        (["factory", "reset", "nodes"], "flag nodes: unknown flag or argument"),
        (["factory", "check", "extra"], "unexpected argument 'extra'"),
        (["factory", "gen-ssh-key", "NAME"], "unexpected argument 'NAME'"),
        (["factory", "frobnicate"], "unknown command 'frobnicate'"),
    ],
)
def test_bad_arguments(rack: dict[str, str], capsys: pytest.CaptureFixture[str],
                       argv: list[str], words: str) -> None:
    code, _, err = racker(capsys, *argv)
    assert code == 2
    assert words in err


def test_reset_with_false_flags_only_prints_usage(rack: dict[str, str],
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = racker(capsys, "factory", "reset", "-nodes=false", "-confirm")
    assert code == 2 and "Usage: racker factory reset" in out
    assert (Path(rack["RACKER_OEM_DIR"]) / "nodes.csv").read_text().count("\n") == 6


def test_reset_refuses_to_remove_a_dangerous_state_dir(tmp_path: Path) -> None:
    env = write_rack(tmp_path, 1)
    env["RACKER_STATE_DIR"] = env["HOME"]
    lines: list[str] = []
    with pytest.raises(Exception, match="refusing to remove"):
        reset(ResetRequest(nodes=True, confirm=True), Paths.from_env(env),
              tmp_path / "v", lambda q: True, lines.append)
    assert Path(env["HOME"]).exists()
    assert (tmp_path / "oem" / "nodes.csv").read_text().count("\n") == 3


@pytest.mark.parametrize("argv", [["factory", "-h"], ["factory", "help"],
                                  ["factory", "check", "-h"], ["factory", "reset", "--help"],
                                  ["factory", "gen-ssh-key", "-help"]])
def test_help(rack: dict[str, str], capsys: pytest.CaptureFixture[str], argv: list[str]) -> None:
    code, out, _ = racker(capsys, *argv)
    assert code == 0 and out.startswith("Usage: racker factory")


def test_no_subcommand_prints_usage_and_fails(rack: dict[str, str],
                                              capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = racker(capsys, "factory")
    assert code == 2 and "gen-ssh-key" in out and "reset" in out


OLD_LAYOUT = ("Primary MAC address, BMC MAC address, Node Type, Comments\n"
              "0c:c4:7a:00:00:01, 0c:c4:7a:00:01:01, mgmt, management node\n"
              "0c:c4:7a:00:00:02, 0c:c4:7a:00:01:02, small,\n")


@pytest.fixture
def old_rack(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A rack of the older four-column layout; this machine's eth1 is its internal NIC."""
    oem = tmp_path / "oem"
    oem.mkdir()
    for iface, mac in {"eth0": "0c:c4:7a:00:00:01", "eth1": "0c:c4:7a:00:02:01"}.items():
        (tmp_path / "net" / iface).mkdir(parents=True)
        (tmp_path / "net" / iface / "address").write_text(mac + "\n")
    (oem / "nodes.csv").write_text(OLD_LAYOUT)
    (oem / "ipmi_user").write_text("admin\n")
    (oem / "ipmi_password").write_text("secret\n")
    (oem / "ipmi_password").chmod(0o600)
    for k, v in {"RACKER_OEM_DIR": oem, "RACKER_SYS_CLASS_NET": tmp_path / "net",
                 "RACKER_STATE_DIR": tmp_path / "state", "HOME": tmp_path}.items():
        monkeypatch.setenv(k, str(v))
    return oem


def test_old_layout_takes_the_pxe_interface_file(old_rack: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    from racker.adapters.fs.rackmeta import load_inventory

    code, out, _ = racker(capsys, "factory", "check")
    assert code == 2 and "has no Secondary MAC address" in out
    assert "name that NIC in a file pxe_interface beside nodes.csv" in out
    (old_rack / "pxe_interface").write_text("eth1\n")
    code, out, _ = racker(capsys, "factory", "check")
    assert code == 0, out
    inventory = load_inventory(Paths.from_env())
    assert inventory.pxe_interface == "eth1"
    assert inventory.management.secondary_mac == "0c:c4:7a:00:02:01"
    assert [n.primary_mac for n in inventory.nodes] == ["0c:c4:7a:00:00:02"]


def test_a_pxe_interface_file_naming_no_interface_is_refused(
        old_rack: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (old_rack / "pxe_interface").write_text("eth7\n")
    code, out, _ = racker(capsys, "factory", "check")
    assert code == 2
    assert f"{old_rack / 'pxe_interface'}:1: pxe_interface names 'eth7', which is not an " \
           "interface of this machine (it has: eth0, eth1)" in out
