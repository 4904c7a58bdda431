"""Small BMC driver interfaces in the Ironic style, and the typed results they return.

Each concern is its own ABC with a few async methods: `Power`, `BootDevice`, `Chassis`,
`Console`, `Users`, `Raw`. A driver's handle for one BMC implements the ones it supports;
optional operations raise `Unsupported` by default. Wire words and bytes become the enums
below at the edge (the codec) and nowhere else.
"""

from __future__ import annotations

import abc
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from enum import Enum, IntEnum, StrEnum
from pathlib import Path

from racker.adapters.bmc.errors import Unsupported


class PowerState(StrEnum):
    ON = "on"
    OFF = "off"


class BootTarget(StrEnum):
    """The boot device selector of boot flags (parameter 5, byte 2 bits 5:2)."""

    NONE = "none"
    PXE = "pxe"
    DISK = "disk"
    DISK_SAFE = "disk-safe"
    DIAG = "diag"
    CDROM = "cdrom"
    BIOS = "bios"
    FLOPPY = "floppy"
    OTHER = "other"


class Privilege(IntEnum):
    """IPMI privilege levels (channel privilege limit)."""

    CALLBACK = 1
    USER = 2
    OPERATOR = 3
    ADMINISTRATOR = 4
    OEM = 5
    NO_ACCESS = 0xF


class RestorePolicy(StrEnum):
    ALWAYS_OFF = "always-off"
    PREVIOUS = "previous"
    ALWAYS_ON = "always-on"
    UNKNOWN = "unknown"


class UserEnable(Enum):
    """User ID enable status as Get User Access reports it (IPMI 2.0 only; 1.5 BMCs: unknown)."""

    UNKNOWN = 0
    ENABLED = 1
    DISABLED = 2


@dataclass(frozen=True)
class BootSetting:
    """What a BMC will boot next: device, and the valid / persistent / EFI flags."""

    target: BootTarget
    persistent: bool
    efi: bool
    valid: bool = True
    raw: bytes = b""
    """The five boot-flag bytes as read or written."""


@dataclass(frozen=True)
class ChassisStatus:
    """Get Chassis Status, decoded (the fields `ipmitool chassis status` prints)."""

    power: PowerState
    power_overload: bool
    power_interlock: bool
    main_power_fault: bool
    power_control_fault: bool
    restore_policy: RestorePolicy
    last_power_event: str
    chassis_intrusion: bool
    front_panel_lockout: bool
    drive_fault: bool
    cooling_fault: bool


@dataclass(frozen=True)
class BmcUser:
    """One user slot as seen on a channel. An empty name means a free slot."""

    uid: int
    name: str
    privilege: Privilege
    enabled: UserEnable
    callin: bool
    link_auth: bool
    ipmi_messaging: bool


@dataclass(frozen=True)
class RawResponse:
    completion_code: int
    data: bytes


@dataclass(frozen=True)
class BmcTarget:
    """Where and as whom to reach one BMC. `node` names the node in every message."""

    node: str
    address: str
    user: str
    password: str = field(repr=False)
    port: int = 623
    bmc_mac: str = ""
    """The BMC's MAC where known: what racker keys what it learns of a BMC by (Redfish: its
    pinned TLS certificate), since its address may change with its DHCP lease."""


class BmcHandle(abc.ABC):
    """The common ground of every interface: which node and BMC it talks to."""

    @property
    @abc.abstractmethod
    def target(self) -> BmcTarget:
        """The BMC this handle talks to."""

    def unsupported(self, what: str) -> Unsupported:
        """The error for an operation this driver or BMC cannot do."""
        return Unsupported(self.target.node, self.target.address, what)


class Power(BmcHandle):
    @abc.abstractmethod
    async def power_status(self) -> PowerState:
        """Current power state of the host."""

    @abc.abstractmethod
    async def power_on(self) -> None:
        """Power the host on."""

    @abc.abstractmethod
    async def power_off(self) -> None:
        """Power the host off (hard)."""

    @abc.abstractmethod
    async def power_cycle(self) -> None:
        """Power cycle the host (off, then on)."""


class BootDevice(BmcHandle):
    @abc.abstractmethod
    async def get_boot_device(self) -> BootSetting:
        """What the BMC reports it will boot next."""

    @abc.abstractmethod
    async def set_boot_device(self, target: BootTarget, *, persistent: bool = True,
                              efi: bool = True) -> BootSetting:
        """Set the boot device, verify it was kept, and return what was read back."""


class Chassis(BmcHandle):
    @abc.abstractmethod
    async def chassis_status(self) -> ChassisStatus:
        """Get Chassis Status."""


class Console(BmcHandle):
    async def serial_console(self, *, take_over: bool = True) -> AsyncIterator[bytes]:
        """The host's serial console as a byte stream (Serial over LAN); `take_over`: end a
        session another client holds first (else that is a BmcFailure)."""
        raise self.unsupported("serial console")


class Users(BmcHandle):
    @abc.abstractmethod
    async def list_users(self, channel: int = 1) -> Sequence[BmcUser]:
        """Every user slot (1..max) with its access on `channel`."""

    @abc.abstractmethod
    async def set_user_name(self, uid: int, name: str) -> None:
        """Name user slot `uid`."""

    @abc.abstractmethod
    async def set_user_password(self, uid: int, password: str) -> None:
        """Set the password of slot `uid` (never logged)."""

    @abc.abstractmethod
    async def set_user_access(self, uid: int, privilege: Privilege, channel: int = 1, *,
                              callin: bool = True, link_auth: bool = False,
                              ipmi_messaging: bool = True) -> None:
        """Set the privilege limit and channel access of slot `uid` on `channel`."""

    @abc.abstractmethod
    async def enable_user(self, uid: int) -> None:
        """Enable slot `uid`."""

    @abc.abstractmethod
    async def disable_user(self, uid: int) -> None:
        """Disable slot `uid`."""


class Raw(BmcHandle):
    @abc.abstractmethod
    async def raw(self, netfn: int, command: int, data: bytes = b"") -> RawResponse:
        """Send any IPMI request; a non-zero completion code is returned, not raised."""


class Identity(BmcHandle):
    """Which server the BMC belongs to."""

    async def system_guid(self) -> bytes:
        """The 16 bytes of the managed system's GUID as the BMC gives them (IPMI Get System
        GUID; Redfish's `UUID` as bytes); it names the server's SMBIOS UUID, in either byte
        order of its first three fields (`racker.core.hardware.guid_matches`)."""
        raise self.unsupported("reading the system GUID")


class Bmc(Power, BootDevice, Chassis, Console, Users, Raw, Identity):
    """One BMC with every interface (a driver's handle implements all, some may raise)."""

    @abc.abstractmethod
    async def close(self) -> None:
        """Log out and release the session."""


@dataclass(frozen=True)
class DriverOptions:
    """How patient a driver is with its BMCs (each protocol maps these onto its own knobs)."""

    timeout: float = 5.0
    """Seconds one attempt of one call may take, login included."""
    retries: int = 2
    """Further attempts after a transient failure (timeout, busy, lost session)."""
    state_dir: Path | None = None
    """Where a protocol keeps what it learns of BMCs (Redfish: the pinned certificates); None
    keeps nothing (a protocol that needs it refuses to connect)."""
    ca_bundle: Path | None = None
    """A site CA bundle that BMC certificates are verified against instead of being pinned."""


class Driver(abc.ABC):
    """A transport (IPMI, Redfish): hands out handles for BMCs, owns their sessions."""

    @abc.abstractmethod
    async def open(self, target: BmcTarget) -> Bmc:
        """A handle for `target`, reusing an open session where there is one."""

    @abc.abstractmethod
    async def aclose(self) -> None:
        """Log out of every session this driver opened."""
