"""Find a BMC's (or a node's) IPv4 address by its MAC on the PXE interface.

Sources, cheapest first: dnsmasq's lease file in the state dir, the kernel neighbour table and an
active ARP scan (`arp-scan`, real ARP requests, only on the PXE interface). Retried for
`RETRY_SEC` seconds because a BMC that just got power needs up to one 2-minute lease time to ask
for an address. The neighbour table and the ARP scan are shared between threads: a thread that
waited for another's scan uses its result instead of scanning again (one scan serves a whole
`ipmi --all` run).

The parsing is in `racker.core.discovery`; this module only reads files and runs `ip` and
`arp-scan`.
"""

from __future__ import annotations

import shutil
import subprocess
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Generic, TypeVar

from racker.core import discovery
from racker.errors import BmcError, Where
from racker.paths import Paths

DEFAULT_RETRY_SEC = 150
"""Two minutes of DHCP lease time plus a margin for the ARP scan (the reference's default)."""

ROUND_PAUSE_SEC = 1.0
"""Pause between two neighbour-table and ARP-scan rounds: a missing BMC costs at most one scan
per second."""

ARP_GRACE_SEC = 2.0
"""How long a lookup relies on the leases file and the neighbour table before it also scans:
a BMC that asks racker's dnsmasq for an address shows up in the leases within moments, and a
scan of the subnet blocks the lookup for over a second."""

LEASE_POLL_SEC = 0.1
"""How often the leases file is read in between: a BMC is found as soon as dnsmasq leases it."""

SCAN_TIMEOUT_SEC = 20.0
"""Upper bound for one `arp-scan` or `ip` run."""


class Source(StrEnum):
    """Where an address was found."""

    LEASES = "dnsmasq leases"
    NEIGHBOURS = "neighbour table"
    ARP_SCAN = "arp-scan"


@dataclass(frozen=True)
class ToolResult:
    """Exit code and output of one external tool run."""

    returncode: int
    stdout: str
    stderr: str


Runner = Callable[[Sequence[str], float], ToolResult]
"""Runs argv with a timeout in seconds; injected so tests can replace the outside world."""


def run_tool(argv: Sequence[str], timeout: float) -> ToolResult:
    """Run `argv` and capture its output; a missing tool or a timeout becomes a failed result."""
    exe = shutil.which(argv[0]) or shutil.which(argv[0], path="/usr/sbin:/sbin")
    if exe is None:
        return ToolResult(127, "", f"{argv[0]} is not installed")
    try:
        p = subprocess.run(
            [exe, *argv[1:]], capture_output=True, text=True, timeout=timeout,
            stdin=subprocess.DEVNULL, check=False,
        )
    except subprocess.TimeoutExpired:
        return ToolResult(124, "", f"{argv[0]} did not finish within {timeout:g} s")
    return ToolResult(p.returncode, p.stdout, p.stderr)


@dataclass(frozen=True)
class Found:
    """An address for a MAC and where it came from."""

    ip: str
    source: Source


@dataclass(frozen=True)
class LocatedBmc:
    """A BMC's address, where it was found, and the address racker planned for it (if any)."""

    ip: str
    source: Source
    planned_ip: str | None

    @property
    def differs_from_plan(self) -> bool:
        """True when a planned address exists and the BMC answers on another one."""
        return self.planned_ip is not None and self.planned_ip != self.ip


T = TypeVar("T")


class _SingleFlight(Generic[T]):
    """A value that is expensive to get: callers that waited for a fresh one reuse it."""

    def __init__(self, fetch: Callable[[], T], clock: Callable[[], float]) -> None:
        self._fetch = fetch
        self._clock = clock
        self._lock = threading.Lock()
        self._value: T | None = None
        self._started: float | None = None

    def get(self, not_before: float) -> T:
        """A value fetched at or after `not_before` (fetches one unless another caller did)."""
        with self._lock:
            if self._value is not None and self._started is not None and (
                self._started >= not_before
            ):
                return self._value
            started = self._clock()
            value = self._fetch()
            self._value, self._started = value, started
            return value


class Locator:
    """Looks MACs up on one PXE interface; safe to share between threads."""

    def __init__(
        self,
        paths: Paths,
        pxe_interface: str,
        *,
        runner: Runner = run_tool,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
        active_scan: bool = True,
    ) -> None:
        self.paths = paths
        self.pxe_interface = pxe_interface
        self._run = runner
        self._clock = clock
        self._wall = wall_clock
        self._sleep = sleep
        self._active_scan = active_scan
        self._neigh = _SingleFlight(self._read_neighbours, clock)
        self._scan = _SingleFlight(self._arp_scan, clock)
        self._problems: dict[Source, str] = {}
        self._planned: dict[str, str] | None = None
        self._lock = threading.Lock()

    # --- the sources -------------------------------------------------------------------------

    def _read_leases(self) -> dict[str, str]:
        try:
            text = self.paths.dnsmasq_leases.read_text(errors="replace")
        except OSError:
            return {}
        return discovery.leases_by_mac(discovery.parse_leases(text), self._wall())

    def _read_neighbours(self) -> dict[str, str]:
        r = self._run(["ip", "-j", "neigh", "show", "dev", self.pxe_interface], SCAN_TIMEOUT_SEC)
        if r.returncode != 0:
            self._note(Source.NEIGHBOURS, r.stderr)
            return {}
        return discovery.neighbours_by_mac(discovery.parse_neigh_json(r.stdout))

    def _arp_scan(self) -> dict[str, str]:
        # NOTE: --localnet scans the PXE interface's own subnet only; arp-scan sends real ARP
        # requests out of that one interface and never routes anything.
        argv = ["arp-scan", "--quiet", "--plain", "--ignoredups", "--localnet",
                f"--interface={self.pxe_interface}"]
        r = self._run(argv, SCAN_TIMEOUT_SEC)
        if r.returncode != 0:
            self._note(Source.ARP_SCAN, r.stderr or r.stdout)
            return {}
        return discovery.parse_arp_scan(r.stdout)

    def _note(self, source: Source, text: str) -> None:
        first = next((ln.strip() for ln in text.splitlines() if ln.strip()), "failed")
        with self._lock:
            self._problems[source] = first

    # --- lookups -----------------------------------------------------------------------------

    def planned(self) -> dict[str, str]:
        """MAC → planned IP from the `dhcp-host=` lines of the rendered dnsmasq.conf."""
        with self._lock:
            if self._planned is None:
                try:
                    text = self.paths.dnsmasq_conf.read_text(errors="replace")
                except OSError:
                    text = ""
                self._planned = discovery.parse_dhcp_hosts(text)
            return dict(self._planned)

    def lookup_once(self, mac: str, *, not_before: float | None = None,
                    leases: dict[str, str] | None = None, scan: bool = True) -> Found | None:
        """One round over every source (the scan only if `scan`); the neighbour table and the
        scan may be results another thread fetched at or after `not_before`."""
        since = self._clock() if not_before is None else not_before
        ip = (self._read_leases() if leases is None else leases).get(mac)
        if ip is not None:
            return Found(ip, Source.LEASES)
        ip = self._neigh.get(since).get(mac)
        if ip is not None:
            return Found(ip, Source.NEIGHBOURS)
        if self._active_scan and scan:
            ip = self._scan.get(since).get(mac)
            if ip is not None:
                return Found(ip, Source.ARP_SCAN)
        return None

    def find_many(self, macs: Sequence[str], retry_sec: float) -> dict[str, Found]:
        """Look every MAC up in shared rounds until all are found or `retry_sec` passed.

        One round reads the leases once and scans at most once for all MACs, so a whole rack
        costs no more time than one missing BMC; in between, only the leases file is read,
        every LEASE_POLL_SEC. Missing MACs are absent from the result.
        """
        wanted = list(dict.fromkeys(macs))
        found: dict[str, Found] = {}
        started = self._clock()
        deadline = started + max(0.0, retry_sec)
        grace = min(ARP_GRACE_SEC, max(0.0, retry_sec))
        scanned: float | None = None  # when the last full round ended
        while True:
            since = self._clock()
            leases = self._read_leases()
            full = scanned is None or since - scanned >= ROUND_PAUSE_SEC
            for mac in wanted:
                if mac in found:
                    continue
                if full:
                    # NOTE: lookups of the same rack run in parallel threads that start their
                    # rounds moments apart: a scan begun in the last pause serves them all.
                    hit = self.lookup_once(mac, not_before=since - ROUND_PAUSE_SEC,
                                           leases=leases, scan=since - started >= grace)
                else:
                    ip = leases.get(mac)
                    hit = Found(ip, Source.LEASES) if ip is not None else None
                if hit is not None:
                    found[mac] = hit
            if full:
                scanned = self._clock()
            left = deadline - self._clock()
            if len(found) == len(wanted) or left <= 0:
                return found
            self._sleep(min(LEASE_POLL_SEC, left))

    def find(self, mac: str, retry_sec: float, *, node: str | None = None) -> Found:
        """Look `mac` up until found or `retry_sec` seconds have passed (at least one round)."""
        found = self.find_many([mac], retry_sec).get(mac)
        if found is None:
            raise self.not_found(mac, retry_sec, node=node)
        return found

    def not_found(self, mac: str, retry_sec: float, *, node: str | None = None) -> BmcError:
        """The error for a MAC that no source knew within `retry_sec` seconds."""
        with self._lock:
            problems = "; ".join(f"{s}: {t}" for s, t in self._problems.items())
        hint = (
            "Check that the BMC is cabled to the rack network and has power; a BMC asks for a "
            "new address within the 2-minute lease time. Set RETRY_SEC to wait longer."
        )
        if problems:
            hint += f" Lookup problems: {problems}."
        return BmcError(
            f"could not find the IP address of {mac} via {self.pxe_interface} within "
            f"{retry_sec:g} s (dnsmasq leases, neighbour table, arp-scan)",
            where=Where(node=node or mac), hint=hint,
        )

    def route_interface(self, ip: str) -> str | None:
        """The interface the kernel would send packets to `ip` through."""
        r = self._run(["ip", "-j", "route", "get", ip], SCAN_TIMEOUT_SEC)
        return discovery.parse_route_get_json(r.stdout) if r.returncode == 0 else None

    def check_route(self, ip: str, *, node: str | None = None) -> None:
        """Refuse an address that the kernel would not reach through the PXE interface."""
        dev = self.route_interface(ip)
        if dev == self.pxe_interface:
            return
        raise BmcError(
            f"the route to BMC address {ip} goes via \"{dev or 'no interface'}\", "
            f"not via the PXE interface \"{self.pxe_interface}\"",
            where=Where(node=node),
            hint="If you changed the internal subnet, wait until the BMCs got their new "
            "addresses via DHCP, or force a renewal by power-cycling the whole rack.",
        )

    def locate_bmc(self, bmc_mac: str, retry_sec: float, *, node: str | None = None,
                   planned_ip: str | None = None, found: Found | None = None) -> LocatedBmc:
        """Find the BMC (unless `found` already), check its route, attach the planned address."""
        if found is None:
            found = self.find(bmc_mac, retry_sec, node=node)
        self.check_route(found.ip, node=node)
        planned = planned_ip if planned_ip is not None else self.planned().get(bmc_mac)
        return LocatedBmc(ip=found.ip, source=found.source, planned_ip=planned)

