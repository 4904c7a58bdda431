"""Pure IPMI encoding and decoding: boot options, chassis status, users, completion codes,
the ipmitool command line. No I/O; table-tested in tests/unit/test_bmc_codec.py.

Byte layouts follow the IPMI 2.0 specification (Set/Get System Boot Options, Get Chassis
Status, Set/Get User Access, Set/Get User Name, Set User Password, Get Session Info).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum

from racker.adapters.bmc.interfaces import (
    BmcUser,
    BootSetting,
    BootTarget,
    ChassisStatus,
    PowerState,
    Privilege,
    RestorePolicy,
    UserEnable,
)

# netfn, command pairs racker sends
NETFN_CHASSIS = 0x00
NETFN_APP = 0x06
CMD_GET_CHASSIS_STATUS = 0x01
CMD_CHASSIS_CONTROL = 0x02
CMD_SET_BOOT_OPTIONS = 0x08
CMD_GET_BOOT_OPTIONS = 0x09
CMD_GET_DEVICE_ID = 0x01
CMD_GET_CHANNEL_AUTH_CAPS = 0x38
CMD_GET_SESSION_INFO = 0x3D
CMD_GET_SYSTEM_GUID = 0x37
CMD_SET_USER_ACCESS = 0x43
CMD_GET_USER_ACCESS = 0x44
CMD_SET_USER_NAME = 0x45
CMD_GET_USER_NAME = 0x46
CMD_SET_USER_PASSWORD = 0x47
CMD_SET_SESSION_PRIVILEGE = 0x3B
CMD_CLOSE_SESSION = 0x3C
CMD_ACTIVATE_PAYLOAD = 0x48
CMD_DEACTIVATE_PAYLOAD = 0x49
CMD_GET_PAYLOAD_INSTANCE_INFO = 0x4B

CONTROL_POWER_OFF = 0x00
CONTROL_POWER_ON = 0x01
CONTROL_POWER_CYCLE = 0x02

USER_NAME_LEN = 16
PASSWORD_MAX_LEN = 20


# --- boot options -------------------------------------------------------------------------

BOOT_TIMER_KEEP_VALID = 0x1F
"""Parameter 3: do not clear the valid bit on power-up/reset, watchdog, the 60 s timeout, PEF."""

_SELECTOR: dict[BootTarget, int] = {
    BootTarget.NONE: 0x0,
    BootTarget.PXE: 0x1,
    BootTarget.DISK: 0x2,
    BootTarget.DISK_SAFE: 0x3,
    BootTarget.DIAG: 0x4,
    BootTarget.CDROM: 0x5,
    BootTarget.BIOS: 0x6,
    BootTarget.FLOPPY: 0xF,
}
_TARGET_BY_SELECTOR = {v: k for k, v in _SELECTOR.items()}

FLAG_VALID = 0x80
FLAG_PERSISTENT = 0x40
FLAG_EFI = 0x20


def boot_timer_request() -> bytes:
    """Set System Boot Options data for parameter 3 = 0x1f (`raw 0x0 0x8 0x3 0x1f`)."""
    return bytes([0x03, BOOT_TIMER_KEEP_VALID])


def boot_flags(target: BootTarget, *, persistent: bool, efi: bool) -> bytes:
    """The five boot-flag bytes of parameter 5: valid, persistent, EFI and the device.

    PXE persistent EFI is `e0 04 00 00 00`, disk `e0 08 00 00 00`; legacy clears bit 5.
    """
    byte1 = FLAG_VALID | (FLAG_PERSISTENT if persistent else 0) | (FLAG_EFI if efi else 0)
    return bytes([byte1, _SELECTOR[target] << 2, 0, 0, 0])


def boot_flags_request(target: BootTarget, *, persistent: bool, efi: bool) -> bytes:
    """Set System Boot Options data for parameter 5 (selector byte + five flag bytes)."""
    return bytes([0x05]) + boot_flags(target, persistent=persistent, efi=efi)


GET_BOOT_FLAGS_REQUEST = bytes([0x05, 0x00, 0x00])
"""Get System Boot Options data for parameter 5, set 0, block 0 (`chassis bootparam get 5`)."""


def decode_boot_flags(flags: bytes) -> BootSetting:
    """Five boot-flag bytes → BootSetting."""
    if len(flags) < 2:
        raise ValueError(f"boot flags need at least 2 bytes, got {flags.hex()}")
    selector = (flags[1] >> 2) & 0x0F
    return BootSetting(
        target=_TARGET_BY_SELECTOR.get(selector, BootTarget.OTHER),
        persistent=bool(flags[0] & FLAG_PERSISTENT),
        efi=bool(flags[0] & FLAG_EFI),
        valid=bool(flags[0] & FLAG_VALID),
        raw=bytes(flags[:5]),
    )


def decode_boot_flags_response(data: bytes) -> BootSetting:
    """Get System Boot Options response data (after the completion code) for parameter 5.

    Layout: parameter version, parameter selector (bit 7 = invalid/locked), five flag bytes.
    """
    if len(data) < 4 or (data[1] & 0x7F) != 0x05:
        raise ValueError(f"not a boot flags (parameter 5) response: {data.hex()}")
    return decode_boot_flags(bytes(data[2:7]))


def boot_flags_differences(wanted: bytes, got: bytes) -> list[str]:
    """What the BMC did not keep of `wanted`, in words; empty when it kept everything."""
    w, g = decode_boot_flags(wanted), decode_boot_flags(got)
    diffs: list[str] = []
    if w.target is not g.target:
        diffs.append(f"device {g.target} instead of {w.target}")
    for name in ("valid", "persistent", "efi"):
        if getattr(w, name) != getattr(g, name):
            diffs.append(f"{name} bit {'clear' if getattr(w, name) else 'set'}")
    return diffs


# --- chassis status ------------------------------------------------------------------------

_POLICY = (RestorePolicy.ALWAYS_OFF, RestorePolicy.PREVIOUS, RestorePolicy.ALWAYS_ON,
           RestorePolicy.UNKNOWN)
_LAST_EVENT = ((0x10, "command"), (0x08, "fault"), (0x04, "interlock"), (0x02, "overload"),
               (0x01, "ac-failed"))


def decode_chassis_status(data: bytes) -> ChassisStatus:
    """Get Chassis Status response data (after the completion code)."""
    if len(data) < 3:
        raise ValueError(f"chassis status needs 3 bytes, got {data.hex()}")
    state, event, misc = data[0], data[1], data[2]
    last = next((word for bit, word in _LAST_EVENT if event & bit), "")
    return ChassisStatus(
        power=PowerState.ON if state & 0x01 else PowerState.OFF,
        power_overload=bool(state & 0x02),
        power_interlock=bool(state & 0x04),
        main_power_fault=bool(state & 0x08),
        power_control_fault=bool(state & 0x10),
        restore_policy=_POLICY[(state >> 5) & 0x03],
        last_power_event=last,
        chassis_intrusion=bool(misc & 0x01),
        front_panel_lockout=bool(misc & 0x02),
        drive_fault=bool(misc & 0x04),
        cooling_fault=bool(misc & 0x08),
    )


def chassis_control_request(action: int) -> bytes:
    """Chassis Control data: 0 power off, 1 power on, 2 power cycle."""
    return bytes([action])


# --- users -----------------------------------------------------------------------------

def get_user_access_request(uid: int, channel: int = 1) -> bytes:
    """Get User Access data: channel, slot."""
    return bytes([channel & 0x0F, uid & 0x3F])


@dataclass(frozen=True)
class UserAccess:
    """Get User Access, decoded."""

    max_users: int
    enabled_users: int
    fixed_names: int
    enabled: UserEnable
    callin: bool
    link_auth: bool
    ipmi_messaging: bool
    privilege: Privilege


def _privilege(value: int) -> Privilege:
    try:
        return Privilege(value)
    except ValueError:
        return Privilege.NO_ACCESS


def decode_user_access(data: bytes) -> UserAccess:
    """Get User Access response data (after the completion code)."""
    if len(data) < 4:
        raise ValueError(f"user access needs 4 bytes, got {data.hex()}")
    status = (data[1] >> 6) & 0x03
    return UserAccess(
        max_users=data[0] & 0x3F,
        enabled_users=data[1] & 0x3F,
        fixed_names=data[2] & 0x3F,
        enabled={1: UserEnable.ENABLED, 2: UserEnable.DISABLED}.get(status, UserEnable.UNKNOWN),
        # bit 6 set means "restricted to callback", i.e. no call-in
        callin=not bool(data[3] & 0x40),
        link_auth=bool(data[3] & 0x20),
        ipmi_messaging=bool(data[3] & 0x10),
        privilege=_privilege(data[3] & 0x0F),
    )


def set_user_access_request(uid: int, privilege: Privilege, channel: int = 1, *,
                            callin: bool = True, link_auth: bool = False,
                            ipmi_messaging: bool = True) -> bytes:
    """Set User Access data; bit 7 of byte 1 makes the BMC apply the access bits too."""
    byte1 = 0x80 | (0 if callin else 0x40) | (0x20 if link_auth else 0) | (
        0x10 if ipmi_messaging else 0) | (channel & 0x0F)
    return bytes([byte1, uid & 0x3F, int(privilege) & 0x0F])


def valid_user_name(name: str) -> str | None:
    """Why `name` cannot be an IPMI user name, or None when it can."""
    if not name:
        return "the user name is empty"
    if not name.isascii() or not name.isprintable() or " " in name:
        return "the user name must be printable ASCII without spaces"
    if len(name) > USER_NAME_LEN:
        return f"the user name is longer than {USER_NAME_LEN} characters"
    return None


def valid_password(password: str) -> str | None:
    """Why `password` cannot be an IPMI 2.0 password, or None when it can."""
    if not password:
        return "the password is empty"
    if not password.isascii() or not password.isprintable():
        return "the password must be printable ASCII"
    if len(password) > PASSWORD_MAX_LEN:
        return f"the password is longer than {PASSWORD_MAX_LEN} characters (IPMI 2.0 limit)"
    return None


def set_user_name_request(uid: int, name: str) -> bytes:
    """Set User Name data: slot and the name NUL-padded to 16 bytes."""
    problem = valid_user_name(name)
    if problem:
        raise ValueError(problem)
    return bytes([uid & 0x3F]) + name.encode("ascii").ljust(USER_NAME_LEN, b"\0")


def decode_user_name(data: bytes) -> str:
    """Get User Name response data → the name ('' for a free slot)."""
    return bytes(data[:USER_NAME_LEN]).split(b"\0", 1)[0].decode("ascii", "replace").strip()


PASSWORD_DISABLE, PASSWORD_ENABLE, PASSWORD_SET, PASSWORD_TEST = 0, 1, 2, 3


def set_user_password_request(uid: int, operation: int, password: str = "") -> bytes:
    """Set User Password data. Passwords over 16 characters use the 20-byte form (bit 7)."""
    wide = len(password) > 16
    head = bytes([(0x80 if wide else 0) | (uid & 0x3F), operation & 0x03])
    if operation in (PASSWORD_DISABLE, PASSWORD_ENABLE):
        return head
    problem = valid_password(password)
    if problem:
        raise ValueError(problem)
    return head + password.encode("ascii").ljust(20 if wide else 16, b"\0")


def user_from(uid: int, name: str, access: UserAccess) -> BmcUser:
    """One slot's name and access as the interface's BmcUser."""
    return BmcUser(uid=uid, name=name, privilege=access.privilege, enabled=access.enabled,
                   callin=access.callin, link_auth=access.link_auth,
                   ipmi_messaging=access.ipmi_messaging)


def decode_session_info(data: bytes) -> tuple[int, int]:
    """Get Session Info response data → (session slots, active sessions)."""
    if len(data) < 3:
        raise ValueError(f"session info needs 3 bytes, got {data.hex()}")
    return data[1] & 0x3F, data[2] & 0x3F


def decode_system_guid(data: bytes) -> bytes:
    """Get System GUID response data → its 16 bytes, in the order the BMC sent them."""
    if len(data) != 16:
        raise ValueError(f"a system GUID has 16 bytes, got {len(data)}: {data.hex()}")
    return bytes(data)


# --- errors -----------------------------------------------------------------------------

class ErrorKind(StrEnum):
    UNREACHABLE = "unreachable"
    AUTH = "authentication failed"
    TIMEOUT = "timed out"
    NO_SESSION = "no free session slot"
    UNSUPPORTED = "not supported"
    BUSY = "busy"
    REJECTED = "rejected"
    FAILED = "failed"

    @property
    def transient(self) -> bool:
        """Worth retrying after a backoff."""
        return self in (ErrorKind.TIMEOUT, ErrorKind.BUSY)


_CC: dict[int, tuple[ErrorKind, str]] = {
    0xC0: (ErrorKind.BUSY, "node busy"),
    0xC1: (ErrorKind.UNSUPPORTED, "invalid command"),
    0xC2: (ErrorKind.UNSUPPORTED, "command invalid for given LUN"),
    0xC3: (ErrorKind.TIMEOUT, "timeout while processing command"),
    0xC4: (ErrorKind.FAILED, "out of space"),
    0xC5: (ErrorKind.BUSY, "reservation cancelled or invalid"),
    0xC6: (ErrorKind.REJECTED, "request data truncated"),
    0xC7: (ErrorKind.REJECTED, "request data length invalid"),
    0xC8: (ErrorKind.REJECTED, "request data field length limit exceeded"),
    0xC9: (ErrorKind.REJECTED, "parameter out of range"),
    0xCA: (ErrorKind.REJECTED, "cannot return number of requested data bytes"),
    0xCB: (ErrorKind.UNSUPPORTED, "requested sensor, data, or record not present"),
    0xCC: (ErrorKind.REJECTED, "invalid data field in request"),
    0xCD: (ErrorKind.UNSUPPORTED, "command illegal for specified sensor or record type"),
    0xCE: (ErrorKind.BUSY, "command response could not be provided"),
    0xCF: (ErrorKind.REJECTED, "cannot execute duplicated request"),
    0xD0: (ErrorKind.BUSY, "SDR repository in update mode"),
    0xD1: (ErrorKind.BUSY, "device in firmware update mode"),
    0xD2: (ErrorKind.BUSY, "BMC initialization in progress"),
    0xD3: (ErrorKind.FAILED, "destination unavailable"),
    0xD4: (ErrorKind.AUTH, "insufficient privilege level"),
    0xD5: (ErrorKind.UNSUPPORTED, "command not supported in present state"),
    0xD6: (ErrorKind.UNSUPPORTED, "command sub-function disabled or unavailable"),
    0xFF: (ErrorKind.FAILED, "unspecified error"),
}

# Command-specific completion codes (0x80..0xBE mean different things per command)
_CC_SPECIFIC: dict[tuple[int, int, int], tuple[ErrorKind, str]] = {
    (NETFN_CHASSIS, CMD_SET_BOOT_OPTIONS, 0x80): (ErrorKind.UNSUPPORTED, "parameter not supported"),
    (NETFN_CHASSIS, CMD_SET_BOOT_OPTIONS, 0x81): (ErrorKind.BUSY, "set in progress"),
    (NETFN_CHASSIS, CMD_SET_BOOT_OPTIONS, 0x82): (ErrorKind.REJECTED, "parameter is read-only"),
    (NETFN_CHASSIS, CMD_GET_BOOT_OPTIONS, 0x80): (ErrorKind.UNSUPPORTED, "parameter not supported"),
    (NETFN_APP, CMD_SET_USER_PASSWORD, 0x80): (ErrorKind.AUTH, "password test failed"),
    (NETFN_APP, CMD_SET_USER_PASSWORD, 0x81): (ErrorKind.REJECTED, "wrong password size"),
}


def completion_code_kind(netfn: int, command: int, code: int) -> tuple[ErrorKind, str]:
    """A non-zero completion code → what kind of failure it is and its meaning in words."""
    specific = _CC_SPECIFIC.get((netfn, command, code))
    if specific:
        return specific
    return _CC.get(code, (ErrorKind.FAILED, f"completion code 0x{code:02x}"))


_LOGIN_WORDS: tuple[tuple[str, ErrorKind], ...] = (
    ("insufficient resources", ErrorKind.NO_SESSION),
    ("incorrect password", ErrorKind.AUTH),
    ("unauthorized name", ErrorKind.AUTH),
    ("invalid username", ErrorKind.AUTH),
    ("unauthorized role", ErrorKind.AUTH),
    ("invalid integrity check", ErrorKind.AUTH),
    ("wrong kg", ErrorKind.AUTH),
    ("invalid role", ErrorKind.AUTH),
    ("cipher suite", ErrorKind.UNSUPPORTED),
)


def login_error_kind(message: str | None) -> ErrorKind:
    """Classify a session set-up failure by the library's message; silence means unreachable."""
    text = (message or "").lower()
    for words, kind in _LOGIN_WORDS:
        if words in text:
            return kind
    return ErrorKind.UNREACHABLE


# --- ipmitool ---------------------------------------------------------------------------

PASSWORD_ENV = "IPMI_PASSWORD"


def ipmitool_argv(address: str, user: str, args: Sequence[str], *, port: int = 623,
                  tool: str = "ipmitool") -> list[str]:
    """`ipmitool -I lanplus -C3 -H IP -U USER -E ARGS...`; the password only via `-E`/env."""
    argv = [tool, "-I", "lanplus", "-C3", "-H", address]
    if port != 623:
        argv += ["-p", str(port)]
    return [*argv, "-U", user, "-E", *args]


def ipmitool_env(password: str, base: Mapping[str, str]) -> dict[str, str]:
    """The environment for `ipmitool -E`: `base` plus IPMI_PASSWORD."""
    return {**base, PASSWORD_ENV: password}


# --- sessionless probe (Get Channel Authentication Capabilities over RMCP) ---------------

def _checksum(data: bytes) -> int:
    return (-sum(data)) & 0xFF


def channel_auth_probe(seq: int = 1) -> bytes:
    """A sessionless Get Channel Authentication Capabilities request: an IPMI ping that
    every BMC answers before any login (used to tell 'unreachable' fast)."""
    header = bytes([0x20, NETFN_APP << 2])
    body = bytes([0x81, (seq & 0x3F) << 2, CMD_GET_CHANNEL_AUTH_CAPS, 0x8E, 0x04])
    message = header + bytes([_checksum(header)]) + body + bytes([_checksum(body)])
    rmcp = bytes([0x06, 0x00, 0xFF, 0x07])
    session = bytes([0x00]) + bytes(4) + bytes(4) + bytes([len(message)])
    return rmcp + session + message


def is_channel_auth_reply(packet: bytes) -> bool:
    """Whether `packet` answers `channel_auth_probe` (any completion code)."""
    return (len(packet) >= 21 and packet[:4] == bytes([0x06, 0x00, 0xFF, 0x07])
            and packet[4] == 0x00 and packet[15] >> 2 == NETFN_APP + 1
            and packet[19] == CMD_GET_CHANNEL_AUTH_CAPS)
