"""A lite node: one coroutine per server doing what its firmware, iPXE and Flatcar would do.

Driven only by its chassis (power events, boot device). Every step goes to its timeline.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import uuid as uuidlib
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx

from racker.core.macs import hyphenated
from racker.errors import InputError
from racker.sim.net import dhcp_packet as dp
from racker.sim.net.dhcp_client import DhcpTimeout, obtain_lease
from racker.sim.net.http import client_in_netns
from racker.sim.net.tftp_client import TftpFailed, tftp_get
from racker.sim.nodes import install_config as ic
from racker.sim.nodes.chassis import BootDevice, Chassis, PowerEvent
from racker.sim.nodes.hardware import lite_inventory, smbios_uuid
from racker.sim.nodes.ipxe_interp import Boot, Chain, ipxe_vars, run_script
from racker.sim.nodes.liteconsole import IGNITION_ERROR, console_lines
from racker.sim.state import append_timeline

NODE_FAULTS = ("no-pxe", "installer-fails", "ignition-fails", "no-boot-report", "dhcp-lost",
               "net-lossy")
NET_LOSSY_RATE = 0.05
"""The share of a `net-lossy` node's DHCP and TFTP datagrams lost on its link (TCP, and so
HTTP, recovers from loss below the application: only the UDP protocols see it)."""
MAX_BOOTS = 20
MAX_CHAIN = 8
FAILED_BOOT_PAUSE = 10.0
INSTALLED_WAIT = 300.0
HTTP_TRIES = 3


def installer_failure_journal(name: str) -> list[str]:
    """What the journal of a real installer unit holds when flatcar-install cannot write its
    image (the `installer-fails` fault): the lines racker shows in its failure summary."""
    unit = f"{name} racker-installer[812]"
    return [
        f"{name} systemd[1]: Starting installer.service - Install Flatcar Container Linux for "
        "racker...",
        f"{unit}: Downloading, writing and verifying flatcar_production_image.bin.bz2...",
        f"{unit}: bzip2: (stdin): unexpected end of file",
        f"{unit}: Error: failed to write flatcar_production_image.bin.bz2 to /dev/sda: "
        "Input/output error",
        f"{name} systemd[1]: installer.service: Main process exited, code=exited, "
        "status=1/FAILURE",
        f"{name} systemd[1]: installer.service: Failed with result 'exit-code'.",
    ]


class _Outcome(Enum):
    REBOOT = "reboot"
    HALT = "halt"
    FAILED = "failed"


class BootFailed(Exception):
    """This boot attempt failed; the message says where (it goes to the timeline)."""


@dataclass
class LiteNodeState:
    phase: str = "off"
    ip: str | None = None
    installed: bool = False
    installed_ignition_url: str | None = None
    faults: set[str] = field(default_factory=set)


class LiteNode:
    """One simulated server host. `set_address(ns, iface, cidr|None)` configures its NIC."""

    def __init__(self, name: str, mac: str, ns: str, iface: str, chassis: Chassis,
                 timeline: Path, set_address: Callable[[str, str, str | None], Any],
                 console: Callable[[str], None] | None = None, *, primary_mac: str = "",
                 secondary_mac: str = "", node_type: str = "") -> None:
        self.name = name
        self.mac = mac
        """The MAC of the NIC cabled to the rack network (it PXE boots from it)."""
        self.on_phase: Callable[[str], None] | None = None
        """Told each phase the node enters (the simulator's faults that follow the node)."""
        self.primary_mac = primary_mac or mac
        self.secondary_mac = secondary_mac
        self.node_type = node_type
        self.ns = ns
        self.iface = iface
        self.chassis = chassis
        self.timeline = timeline
        self.uuid = smbios_uuid(self.primary_mac)
        self.state = LiteNodeState()
        self._set_address = set_address
        self._console = console
        self._task: asyncio.Task[None] | None = None

    # -- power -----------------------------------------------------------------------------
    def power_event(self, event: PowerEvent) -> None:
        """React to the BMC: start, stop or restart the boot (call in the event loop)."""
        self.log("power", state=event.value)
        if event is PowerEvent.OFF:
            self._stop()
            self.state.phase = "off"
            self._spawn(self._unconfigure())
        elif event is PowerEvent.RESET or self._task is None or self._task.done():
            self._stop()
            self._task = asyncio.get_running_loop().create_task(self._run())

    def _stop(self) -> None:
        if self._task is not None and not self._task.done():
            self._task.cancel()
        self._task = None

    def _spawn(self, coro: Any) -> None:
        asyncio.get_running_loop().create_task(coro)

    async def close(self) -> None:
        """Stop whatever the node is doing (simulator shutdown)."""
        task = self._task
        self._stop()
        if task is not None:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

    def log(self, event: str, **fields: Any) -> None:
        """Append to the node's timeline and write what a real server would show of it on
        its serial console (`liteconsole`; an attached SOL session carries it)."""
        append_timeline(self.timeline, event, **fields)
        if self._console is not None:
            for line in console_lines(self.name, event, fields):
                self._console(line)

    def _phase(self, phase: str, **fields: Any) -> None:
        self.state.phase = phase
        self.log(phase, **fields)
        if self.on_phase is not None:
            self.on_phase(phase)

    async def _unconfigure(self) -> None:
        self.state.ip = None
        try:
            await self._set_address(self.ns, self.iface, None)
        except OSError as e:  # the next lease fails with the reason too
            self.log("nic-error", error=str(e))

    # -- boot loop ---------------------------------------------------------------------------
    async def _run(self) -> None:
        for _ in range(MAX_BOOTS):
            await self._unconfigure()
            device = self.chassis.take_boot_device()
            self.log("firmware", boot_device=device.value, installed=self.state.installed)
            try:
                if device is BootDevice.PXE or (device is BootDevice.NONE
                                                and not self.state.installed):
                    outcome = await self._pxe_boot()
                elif device in (BootDevice.DISK, BootDevice.NONE):
                    outcome = await self._disk_boot()
                else:
                    raise BootFailed(f"boot device {device.value} has nothing to boot")
            except BootFailed as e:
                self._phase("boot-failed", reason=str(e))
                outcome = _Outcome.FAILED
            except (OSError, httpx.HTTPError) as e:
                # A socket the node needs failed (e.g. its interface went away).
                self._phase("boot-failed", reason=f"{type(e).__name__}: {e}")
                outcome = _Outcome.FAILED
            if outcome is _Outcome.HALT:
                return
            if outcome is _Outcome.FAILED:
                # NOTE: real firmware retries its boot order after a failed boot.
                await asyncio.sleep(FAILED_BOOT_PAUSE)
            self._phase("reboot")
        self._phase("halted", reason=f"gave up after {MAX_BOOTS} boots")

    def _loss(self) -> float:
        return NET_LOSSY_RATE if "net-lossy" in self.state.faults else 0.0

    async def _lease(self, profile: dp.ClientProfile, stage: str) -> dp.DhcpMessage:
        self._phase(stage, user_class=profile.user_class or "", arch=profile.arch)
        try:
            ack = await obtain_lease(self.ns, self.iface, profile,
                                     deaf="dhcp-lost" in self.state.faults, loss=self._loss())
        except DhcpTimeout as e:
            raise BootFailed(f"{stage}: {e}") from None
        cidr = f"{ack.yiaddr}/{ack.prefix_len}"
        await self._set_address(self.ns, self.iface, cidr)
        self.state.ip = ack.yiaddr
        self.log("lease", ip=cidr, server=ack.option_ip(dp.OPT_SERVER_ID) or "",
                 boot_file=ack.boot_file, next_server=ack.next_server)
        return ack

    async def _get(self, client: httpx.AsyncClient, url: str, stage: str,
                   stream_only: bool = False) -> tuple[str, int]:
        """GET `url` with bounded retries; return (text or "", size)."""
        last = ""
        for attempt in range(1, HTTP_TRIES + 1):
            try:
                if stream_only:
                    size = 0
                    async with client.stream("GET", url) as r:
                        if r.status_code != 200:
                            raise BootFailed(f"{stage}: GET {url}: HTTP {r.status_code}")
                        async for chunk in r.aiter_bytes():
                            size += len(chunk)
                    self.log("http", url=url, status=200, size=size)
                    return "", size
                r = await client.get(url)
                self.log("http", url=url, status=r.status_code, size=len(r.content))
                if r.status_code != 200:
                    raise BootFailed(f"{stage}: GET {url}: HTTP {r.status_code}")
                return r.text, len(r.content)
            except httpx.HTTPError as e:
                last = f"{type(e).__name__}: {e}"
                self.log("http-error", url=url, attempt=attempt, error=last)
                await asyncio.sleep(min(2.0 * attempt, 5.0))
        raise BootFailed(f"{stage}: GET {url} failed: {last}")

    async def _pxe_boot(self) -> _Outcome:
        if "no-pxe" in self.state.faults:
            self._phase("no-pxe", reason="network boot disabled in firmware (fault)")
            return _Outcome.HALT
        uuid_bytes = uuidlib.UUID(self.uuid).bytes
        rom = dp.ClientProfile(self.mac, uuid=uuid_bytes, arch=7, client_id=False)
        ack = await self._lease(rom, "pxe-dhcp")
        if not ack.boot_file:
            raise BootFailed("pxe-dhcp: the DHCP answer names no boot file")
        self._phase("tftp", server=ack.next_server, file=ack.boot_file)
        try:
            got = await tftp_get(self.ns, ack.next_server, ack.boot_file, loss=self._loss())
        except TftpFailed as e:
            raise BootFailed(f"tftp: {e}") from None
        if got.size == 0:
            raise BootFailed(f"tftp: {ack.boot_file} is empty")
        self.log("tftp-done", size=got.size, sha256=got.sha256[:16],
                 retransmits=got.retransmits)
        ipxe = dp.ClientProfile(self.mac, uuid=uuid_bytes, arch=7, user_class="iPXE")
        ack2 = await self._lease(ipxe, "ipxe-dhcp")
        url = ack2.boot_file
        if not url.startswith(("http://", "https://")):
            raise BootFailed(f"ipxe-dhcp: boot file {url!r} is not an HTTP URL "
                             "(iPXE would chain-load itself forever)")
        async with client_in_netns(self.ns) as client:
            boot = await self._follow_scripts(client, url)
            self._phase("kernel", kernel=boot.kernel, initrds=len(boot.initrds))
            for asset in (boot.kernel, *boot.initrds):
                await self._get(client, asset, "kernel", stream_only=True)
            ign_url = boot.arg("ignition.config.url")
            if not ign_url:
                raise BootFailed("kernel: no ignition.config.url on the kernel command line")
            self._phase("ignition", url=ign_url)
            ign, _ = await self._get(client, ign_url, "ignition")
            return await self._install(client, ign, ign_url)

    async def _follow_scripts(self, client: httpx.AsyncClient, url: str) -> Boot:
        variables = ipxe_vars(self.mac, self.uuid)
        for _ in range(MAX_CHAIN):
            self._phase("ipxe", url=url)
            text, _ = await self._get(client, url, "ipxe")
            try:
                outcome = run_script(text, url, variables)
            except InputError as e:
                raise BootFailed(f"ipxe: {e.message} ({e.hint})") from None
            if isinstance(outcome, Chain):
                url = outcome.url
                continue
            return outcome
        raise BootFailed(f"ipxe: more than {MAX_CHAIN} chained scripts")

    async def _install(self, client: httpx.AsyncClient, ign: str, ign_url: str) -> _Outcome:
        texts = ic.config_texts(ign)
        mgmt = urlsplit(ign_url)
        base = f"{mgmt.scheme}://{mgmt.netloc}"
        if ic.posts_inventory(texts):  # as the collector would, before touching the disks
            await self._post_inventory(client, ic.find_event_url(texts)
                                       or f"{base}/racker/v1/nodes/{self.mac}/events")
        if ic.is_discovery(texts):  # racker only wanted to know the hardware
            self.chassis.shut_down()
            self._phase("off", reason="the discovery configuration powered the server off")
            return _Outcome.HALT
        self._phase("installing")
        events = ic.find_event_url(texts) or f"{base}/racker/v1/nodes/{self.mac}/events"
        if "installer-fails" in self.state.faults:
            return await self._install_fails(client, events)
        plan = ic.find_install_plan(texts)
        if plan is None:
            self.log("install-image-skipped", reason="no 'flatcar-install -b' in the Ignition")
        else:
            version = plan.version
            if version == "current":
                txt, _ = await self._get(client, plan.version_txt_url, "install")
                version = ic.parse_version_txt(txt) or "current"
            await self._get(client, plan.image_url(version), "install", stream_only=True)
        self.state.installed_ignition_url = (ic.find_installed_ignition_url(texts)
                                             or f"{base}/ignition?mac={hyphenated(self.mac)}"
                                                "&os=installed")
        await self._post_event(client, events, "installed", INSTALLED_WAIT)
        self.state.installed = True
        return _Outcome.REBOOT

    async def _install_fails(self, client: httpx.AsyncClient, events: str) -> _Outcome:
        """The installer's unit fails as racker's installer script does on a real node: it
        reports `install-failed` with its journal's tail and stays up (it does not reboot)."""
        journal = installer_failure_journal(self.name)
        self._phase("install-failed", reason="flatcar-install failed (fault)")
        body = {"event": "install-failed", "exit_status": 1,
                "journal_b64": base64.b64encode("\n".join(journal).encode()).decode()}
        with contextlib.suppress(BootFailed):  # refused or unreachable: the node stays up
            await self._post_event(client, events, "install-failed", 60.0, body)
        return _Outcome.HALT

    async def _post_inventory(self, client: httpx.AsyncClient, url: str) -> None:
        """Post the node type's hardware; like the real installer, go on when refused."""
        raw = lite_inventory(self.uuid, self.primary_mac, self.secondary_mac, self.node_type)
        self._phase("report-inventory", url=url)
        try:
            r = await client.post(url, json={"event": "inventory", "inventory": raw},
                                  timeout=60.0)
            self.log("http", url=url, method="POST", status=r.status_code)
        except httpx.HTTPError as e:
            self.log("http-error", url=url, error=f"{type(e).__name__}")

    async def _post_event(self, client: httpx.AsyncClient, url: str, event: str,
                          wait: float, body: dict[str, object] | None = None) -> None:
        self._phase(f"report-{event}", url=url)
        for attempt in range(1, HTTP_TRIES + 1):
            try:
                r = await client.post(url, json=body or {"event": event}, timeout=wait)
                self.log("http", url=url, method="POST", status=r.status_code)
                if r.status_code < 300:
                    return
            except httpx.HTTPError as e:
                self.log("http-error", url=url, attempt=attempt, error=f"{type(e).__name__}")
            await asyncio.sleep(2.0 * attempt)
        raise BootFailed(f"report-{event}: POST {url} failed")

    async def _disk_boot(self) -> _Outcome:
        if not self.state.installed:
            raise BootFailed("disk: no bootable operating system on the disk")
        self._phase("disk-boot")
        os_profile = dp.ClientProfile(self.mac, hostname=self.name)
        await self._lease(os_profile, "os-dhcp")
        url = self.state.installed_ignition_url
        assert url is not None
        async with client_in_netns(self.ns) as client:
            self._phase("os-ignition", url=url)
            ign, _ = await self._get(client, url, "os-ignition")
            if "ignition-fails" in self.state.faults:  # stops in the emergency shell
                self._phase("ignition-failed", reason=f"{IGNITION_ERROR} (fault)")
                return _Outcome.HALT
            if "no-boot-report" in self.state.faults:
                self._phase("running", reported=False, reason="boot report lost (fault)")
                return _Outcome.HALT
            texts = ic.config_texts(ign)
            parts = urlsplit(url)
            events = (ic.find_event_url(texts)
                      or f"{parts.scheme}://{parts.netloc}/racker/v1/nodes/{self.mac}/events")
            await self._post_event(client, events, "booted", 60.0)
        self._phase("running", reported=True)
        return _Outcome.HALT
