"""`racker factory discover`'s checks before anything runs, and the boot server's catalog while
it runs (the whole run is tests/e2e/test_discover_sim.py)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from racker.adapters.fs.store import Store
from racker.app.discover import DiscoverOptions, DiscoveryCatalog, _check_start
from racker.cli.main import main
from racker.core.events import EventKind
from racker.errors import InputError
from racker.paths import Paths


def rack(tmp_path: Path) -> Paths:
    paths = Paths.from_env({"RACKER_OEM_DIR": str(tmp_path / "oem"),
                            "RACKER_STATE_DIR": str(tmp_path / "state"),
                            "RACKER_SYS_CLASS_NET": str(tmp_path / "net"),
                            "HOME": str(tmp_path / "home")})
    for iface, mac in (("eth0", "02:00:00:00:00:10"), ("eth1", "02:00:00:00:00:12")):
        (tmp_path / "net" / iface).mkdir(parents=True)
        (tmp_path / "net" / iface / "address").write_text(mac + "\n")
    (tmp_path / "oem").mkdir()
    return paths


def test_the_management_row_comes_from_this_machine(tmp_path: Path) -> None:
    paths = rack(tmp_path)
    row, _ = _check_start(paths, DiscoverOptions("eth1", management_bmc="02-00-00-00-00-11"))
    assert (row.primary, row.bmc, row.secondary) == (
        "02:00:00:00:00:10", "02:00:00:00:00:11", "02:00:00:00:00:12")


def test_refusals_name_the_file_or_flag(tmp_path: Path) -> None:
    paths = rack(tmp_path)
    with pytest.raises(InputError, match="no interface eth7") as e:
        _check_start(paths, DiscoverOptions("eth7"))
    assert e.value.where is not None and e.value.where.flag == "-interface"
    assert e.value.hint is not None and "eth0, eth1" in e.value.hint
    with pytest.raises(InputError, match="not a MAC"):
        _check_start(paths, DiscoverOptions("eth1", management_bmc="zz"))
    paths.nodes_csv.write_text("Primary MAC address, BMC MAC address\n02:00:00:00:00:10, x\n")
    with pytest.raises(InputError, match="exists already") as e:
        _check_start(paths, DiscoverOptions("eth1"))
    assert e.value.where is not None and e.value.where.file == str(paths.nodes_csv)
    _check_start(paths, DiscoverOptions("eth1", force=True))  # -force replaces it


def test_cli_refuses_an_existing_nodes_csv_before_touching_anything(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    paths = rack(tmp_path)
    paths.nodes_csv.write_text("something\n")
    for k, v in (("RACKER_OEM_DIR", "oem"), ("RACKER_STATE_DIR", "state"),
                 ("RACKER_SYS_CLASS_NET", "net")):
        monkeypatch.setenv(k, str(tmp_path / v))
    assert main(["factory", "discover", "-interface", "eth1"]) == 2
    err = capsys.readouterr().err
    assert "exists already" in err and "-force" in err and "Traceback" not in err
    assert not (tmp_path / "state").exists()  # nothing was started or written
    assert main(["factory", "discover"]) == 2  # -interface is required
    assert "-interface" in capsys.readouterr().err


def test_the_catalog_serves_discovery_to_leased_servers_only(tmp_path: Path) -> None:
    with Store(tmp_path / "racker.db") as store:
        catalog = DiscoveryCatalog(store, "http://172.24.213.1:8080",
                                   lambda: {"02:00:00:00:01:01"})
        store.add("02:00:00:00:01:01", EventKind.LEASE, detail={"action": "add", "ip": "x"})
        assert catalog.get("02:00:00:00:01:01") is None  # a BMC
        assert catalog.get("02:00:00:00:01:00") is None  # never leased
        store.add("02:00:00:00:01:00", EventKind.LEASE,
                  detail={"action": "add", "ip": "172.24.213.140"})
        node = catalog.get("02:00:00:00:01:00")
        assert node is not None and node.ip == "172.24.213.140"
        config = json.loads(node.install_ignition)
        files = {f["path"] for f in config["storage"]["files"]}
        assert {"/opt/racker-discovery", "/opt/racker-inventory"} <= files
        assert catalog.get("02:00:00:00:01:00") is not None
        # the first answer opened the node's install window, once
        opened = [e for e in store.events("02:00:00:00:01:00") if e.kind is EventKind.STAGE]
        assert [(e.stage, e.detail) for e in opened] == [("pxe", {"discovery": "yes"})]
        assert catalog.all() == []


def test_this_machines_bmc_is_taken_out_before_any_server_is_powered() -> None:
    import uuid

    from racker.app.discover import take_management_bmc
    from racker.core.discover import FoundBmc, Row

    own = uuid.UUID("4c4c4544-0042-3510-8052-b4c04f333132")
    mgmt = Row("02:00:00:00:00:10", "", "02:00:00:00:00:12", "mgmt", "management node")
    bmcs = {"02:00:00:00:00:11": FoundBmc("02:00:00:00:00:11", "x", own.bytes_le),
            "02:00:00:00:01:01": FoundBmc("02:00:00:00:01:01", "y", uuid.uuid4().bytes_le)}
    row = take_management_bmc(mgmt, bmcs, str(own))
    assert row.bmc == "02:00:00:00:00:11" and list(bmcs) == ["02:00:00:00:01:01"]
    given = Row(mgmt.primary, "02:00:00:00:01:01", mgmt.secondary, "mgmt", "")
    assert take_management_bmc(given, bmcs, "") == given and not bmcs  # by -management-bmc
    with pytest.raises(InputError, match="no server was powered on") as e:
        take_management_bmc(mgmt, {}, "")
    assert e.value.where is not None and e.value.where.flag == "-management-bmc"
