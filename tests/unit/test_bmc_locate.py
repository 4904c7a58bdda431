"""racker.adapters.bmc.locate with the outside world replaced: a fake runner, clock and sleep."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest

from racker.adapters.bmc.locate import LEASE_POLL_SEC, Found, Locator, Source, ToolResult
from racker.errors import BmcError
from racker.paths import Paths

BMC = "aa:bb:cc:00:01:01"
NOW = 1_700_000_000.0


class FakeWorld:
    """Answers `ip neigh`, `ip route get` and `arp-scan` from tables; a clock that sleep moves."""

    def __init__(self) -> None:
        self.t = 0.0
        self.neigh: list[dict[str, object]] = []
        self.scans: list[str] = []
        """arp-scan outputs, one per call; the last one repeats."""
        self.scan_rc = 0
        self.route_dev = "rack0"
        self.calls: list[list[str]] = []
        self.lock = threading.Lock()

    def run(self, argv: Sequence[str], timeout: float) -> ToolResult:
        with self.lock:
            self.calls.append(list(argv))
        if argv[:3] == ["ip", "-j", "neigh"]:
            return ToolResult(0, json.dumps(self.neigh), "")
        if argv[:4] == ["ip", "-j", "route", "get"]:
            return ToolResult(0, json.dumps([{"dst": argv[4], "dev": self.route_dev}]), "")
        if argv[0] == "arp-scan":
            self.t += 1.5  # a scan takes time
            with self.lock:
                n = sum(1 for c in self.calls if c[0] == "arp-scan")
            out = self.scans[min(n, len(self.scans)) - 1] if self.scans else ""
            err = "ERROR: Could not obtain MAC address for interface" if self.scan_rc else ""
            return ToolResult(self.scan_rc, out, err)
        raise AssertionError(f"unexpected command {argv}")

    def clock(self) -> float:
        return self.t

    def sleep(self, s: float) -> None:
        assert s > 0
        self.t += s

    def count(self, tool: str) -> int:
        return sum(1 for c in self.calls if c[0] == tool)


@pytest.fixture
def paths(tmp_path: Path) -> Paths:
    p = Paths(oem_dir=tmp_path / "oem", state_dir=tmp_path / "state", hosts_file=tmp_path / "h",
              sys_class_net=tmp_path / "net", home=tmp_path)
    p.dnsmasq_dir.mkdir(parents=True)
    return p


def _locator(paths: Paths, w: FakeWorld) -> Locator:
    return Locator(paths, "rack0", runner=w.run, clock=w.clock, wall_clock=lambda: NOW,
                   sleep=w.sleep)


def test_lease_wins_and_route_is_checked(paths: Paths) -> None:
    paths.dnsmasq_leases.write_text(f"{int(NOW) + 60} {BMC.upper()} 10.1.0.5 * *\n")
    paths.dnsmasq_conf.write_text(f"dhcp-host={BMC},10.1.0.5,2m\n")
    w = FakeWorld()
    got = _locator(paths, w).locate_bmc(BMC, 150)
    assert (got.ip, got.source, got.planned_ip) == ("10.1.0.5", Source.LEASES, "10.1.0.5")
    assert not got.differs_from_plan
    assert w.calls == [["ip", "-j", "route", "get", "10.1.0.5"]]


def test_expired_lease_falls_through_to_neighbours(paths: Paths) -> None:
    paths.dnsmasq_leases.write_text(f"{int(NOW) - 1} {BMC} 10.1.0.5 * *\n")
    paths.dnsmasq_conf.write_text(f"dhcp-host={BMC},10.1.0.5,2m\n")
    w = FakeWorld()
    w.neigh = [{"dst": "10.1.0.77", "dev": "rack0", "lladdr": BMC, "state": ["STALE"]}]
    got = _locator(paths, w).locate_bmc(BMC, 150)
    assert (got.ip, got.source) == ("10.1.0.77", Source.NEIGHBOURS)
    assert got.differs_from_plan
    assert ["ip", "-j", "neigh", "show", "dev", "rack0"] in w.calls
    assert w.count("arp-scan") == 0


def test_arp_scan_on_the_pxe_interface_only(paths: Paths) -> None:
    w = FakeWorld()
    w.scans = [f"10.1.0.9\t{BMC}\n"]
    got = _locator(paths, w).locate_bmc(BMC, 150, planned_ip="10.1.0.6")
    assert (got.ip, got.source, got.planned_ip) == ("10.1.0.9", Source.ARP_SCAN, "10.1.0.6")
    scans = [c for c in w.calls if c[0] == "arp-scan"]
    assert scans == [["arp-scan", "--quiet", "--plain", "--ignoredups", "--localnet",
                      "--interface=rack0"]]


def test_retries_until_the_bmc_answers(paths: Paths) -> None:
    w = FakeWorld()
    w.scans = ["", "", f"10.1.0.9\t{BMC}\n"]
    got = _locator(paths, w).locate_bmc(BMC, 150)
    assert got.ip == "10.1.0.9"
    assert w.count("arp-scan") == 3
    assert w.t < 10


def test_gives_up_after_retry_sec_with_a_hint(paths: Paths) -> None:
    w = FakeWorld()
    w.scan_rc = 1
    with pytest.raises(BmcError) as e:
        _locator(paths, w).locate_bmc(BMC, 10, node="aa:bb:cc:00:00:01")
    msg = str(e.value)
    assert f"could not find the IP address of {BMC} via rack0 within 10 s" in msg
    assert "node aa:bb:cc:00:00:01" in msg
    assert "RETRY_SEC" in msg and "Could not obtain MAC address" in msg
    assert 10 <= w.t < 13
    # bounded: one scan per round, rounds at least ROUND_PAUSE + scan time apart
    assert 2 <= w.count("arp-scan") <= 6


def test_retry_zero_means_one_round(paths: Paths) -> None:
    w = FakeWorld()
    with pytest.raises(BmcError):
        _locator(paths, w).locate_bmc(BMC, 0)
    assert w.count("arp-scan") == 1


def test_route_through_another_interface_is_refused(paths: Paths) -> None:
    paths.dnsmasq_leases.write_text(f"0 {BMC} 192.168.7.5 * *\n")
    w = FakeWorld()
    w.route_dev = "eth0"
    with pytest.raises(BmcError) as e:
        _locator(paths, w).locate_bmc(BMC, 150)
    msg = str(e.value)
    assert 'goes via "eth0", not via the PXE interface "rack0"' in msg
    assert "changed the internal subnet" in msg and "power-cycling the whole rack" in msg


class SlowScanner:
    """A runner whose arp-scan takes `pause` seconds and finds every MAC; counts the scans."""

    def __init__(self, macs: Sequence[str], pause: float) -> None:
        self.macs, self.pause, self.scans = list(macs), pause, 0
        self.lock = threading.Lock()

    def run(self, argv: Sequence[str], timeout: float) -> ToolResult:
        if argv[0] != "arp-scan":
            return ToolResult(0, "[]", "")
        with self.lock:
            self.scans += 1
        time.sleep(self.pause)
        return ToolResult(0, "".join(f"10.1.0.{i}\t{m}\n" for i, m in enumerate(self.macs)), "")

    def in_threads(self, look: Callable[[str], None]) -> None:
        threads = [threading.Thread(target=look, args=(m,)) for m in self.macs]
        for t in threads:
            t.start()
        for t in threads:
            t.join()


def test_one_scan_serves_concurrent_lookups(paths: Paths) -> None:
    scanner = SlowScanner([f"aa:bb:cc:00:01:{i:02x}" for i in range(12)], 0.2)
    loc = Locator(paths, "rack0", runner=scanner.run, wall_clock=lambda: NOW)
    start = time.monotonic()
    results: dict[str, str] = {}

    def look(mac: str) -> None:
        found = loc.lookup_once(mac, not_before=start)
        assert found is not None
        results[mac] = found.ip

    scanner.in_threads(look)
    assert scanner.scans == 1
    assert results == {m: f"10.1.0.{i}" for i, m in enumerate(scanner.macs)}


def test_find_many_shares_rounds_and_returns_what_it_found(paths: Paths) -> None:
    macs = [f"aa:bb:cc:00:01:{i:02x}" for i in range(1, 4)]
    paths.dnsmasq_leases.write_text(f"0 {macs[0]} 10.1.0.1 * *\n")
    w = FakeWorld()
    w.scans = ["", f"10.1.0.2\t{macs[1]}\n"]  # the second BMC answers from round 2 on
    got = _locator(paths, w).find_many([*macs, macs[0]], 5)
    assert got == {macs[0]: Found("10.1.0.1", Source.LEASES),
                   macs[1]: Found("10.1.0.2", Source.ARP_SCAN)}
    # one scan per round for all missing MACs, none before the grace, rounds bounded by
    # RETRY_SEC; the neighbour table is read in every full round
    assert 1 <= w.count("arp-scan") < w.count("ip") <= 6
    assert 5 <= w.t < 8


def test_a_lease_within_the_grace_is_found_without_scanning(paths: Paths) -> None:
    w = FakeWorld()
    sleep = w.sleep

    def dnsmasq_leases_it_after_half_a_second(s: float) -> None:
        sleep(s)
        if w.t >= 0.5:
            paths.dnsmasq_leases.write_text(f"{int(NOW) + 60} {BMC} 10.1.0.5 * *\n")

    w.sleep = dnsmasq_leases_it_after_half_a_second  # type: ignore[method-assign]
    got = _locator(paths, w).find(BMC, 150)
    assert got == Found("10.1.0.5", Source.LEASES)
    assert w.count("arp-scan") == 0
    assert 0.5 <= w.t <= 0.5 + LEASE_POLL_SEC + 1e-9


def test_parallel_finds_share_one_scan(paths: Paths, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("racker.adapters.bmc.locate.ARP_GRACE_SEC", 0.0)
    scanner = SlowScanner([f"aa:bb:cc:00:02:{i:02x}" for i in range(16)], 0.3)
    loc = Locator(paths, "rack0", runner=scanner.run, wall_clock=lambda: NOW)
    results: dict[str, Found] = {}

    def look(mac: str) -> None:
        time.sleep(0.005 * scanner.macs.index(mac))  # lookups start moments apart, as the
        results[mac] = loc.find(mac, 30)             # engine's do

    scanner.in_threads(look)
    assert scanner.scans == 1
    assert results == {m: Found(f"10.1.0.{i}", Source.ARP_SCAN)
                       for i, m in enumerate(scanner.macs)}
