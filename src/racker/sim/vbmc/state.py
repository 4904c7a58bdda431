"""The state a virtual BMC keeps, handled at the byte level: boot options and user slots. Pure.

Times are passed in (`now`, seconds of a monotonic clock) so that the 60-second rule of the
boot-flag valid bit needs no timer: it is evaluated whenever somebody looks.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from racker.sim.vbmc.chassis import BootDevice, BootRequest

# Completion codes (IPMI 2.0 table 5-2) and command-specific ones used below.
CC_OK = 0x00
CC_PARAM_UNSUPPORTED = 0x80
CC_INVALID_COMMAND = 0xC1
CC_BAD_LENGTH = 0xC7
CC_OUT_OF_RANGE = 0xC9
CC_INVALID_DATA = 0xCC
CC_INSUFFICIENT_PRIVILEGE = 0xD4
CC_NOT_IN_PRESENT_STATE = 0xD5

# Parameter 5 byte 1 and parameter 3 bits (IPMI 2.0 table 28-14).
FLAG_VALID = 0x80
FLAG_PERSISTENT = 0x40
FLAG_EFI = 0x20
KEEP_ON_POWER_UP = 0x01
KEEP_ON_RESET = 0x02
KEEP_AFTER_TIMEOUT = 0x08

PARAM_LENGTHS = {0: 1, 1: 1, 2: 1, 3: 1, 4: 2, 5: 5, 6: 9}
PARAM_VERSION = 0x01


@dataclass
class BootOptions:
    """System boot options parameters 0-6 with the valid-bit clearing rules of the spec.

    - Parameter 5 with the valid bit set starts the `valid_timeout` (60 s) timer; unless a
      chassis control command arrives first or parameter 3 has bit 3 (0x08) set, the valid bit
      is cleared when it runs out.
    - A power-up or reset consumes the flags: the valid bit is cleared unless the flags are
      persistent or parameter 3 keeps them (bit 0 for power-up, bit 1 for reset).
    """

    valid_timeout: float = 60.0
    set_in_progress: int = 0
    keep_mask: int = 0
    ack_data: int = 0
    flags: bytearray = field(default_factory=lambda: bytearray(5))
    other: dict[int, bytes] = field(default_factory=lambda: {1: b"\0", 2: b"\0", 6: bytes(9)})
    timer_started: float | None = None
    pending: bytes | None = None
    """Boot flags staged through Redfish's @Redfish.Settings, applied at the next power-up or
    reset (as BMCs apply pending settings)."""

    def expire(self, now: float) -> None:
        """Apply the 60-second rule as of `now`."""
        start = self.timer_started
        if start is None or now - start < self.valid_timeout:
            return
        self.timer_started = None
        if self.flags[0] & FLAG_VALID and not self.keep_mask & KEEP_AFTER_TIMEOUT:
            self.flags[0] &= ~FLAG_VALID & 0xFF

    def get(self, param: int, now: float) -> tuple[int, bytes]:
        """Get System Boot Options: completion code and response data."""
        self.expire(now)
        param &= 0x7F
        if param == 0:
            value = bytes([self.set_in_progress])
        elif param == 3:
            value = bytes([self.keep_mask])
        elif param == 4:
            value = bytes([0, self.ack_data])  # the write mask reads back as 0
        elif param == 5:
            value = bytes(self.flags)
        elif param in self.other:
            value = self.other[param]
        else:
            return CC_PARAM_UNSUPPORTED, b""
        return CC_OK, bytes([PARAM_VERSION, param]) + value

    def set(self, param: int, data: bytes, now: float) -> int:
        """Set System Boot Options; returns the completion code."""
        self.expire(now)
        param &= 0x7F  # bit 7 marks the parameter invalid/locked: we never lock
        length = PARAM_LENGTHS.get(param)
        if length is None:
            return CC_PARAM_UNSUPPORTED
        if len(data) != length:
            return CC_BAD_LENGTH
        if param == 0:
            self.set_in_progress = data[0] & 0x03
        elif param == 3:
            self.keep_mask = data[0] & 0x1F
        elif param == 4:
            self.ack_data = (self.ack_data & ~data[0] | data[1] & data[0]) & 0xFF
        elif param == 5:
            self.flags[:] = data
            self.timer_started = now if data[0] & FLAG_VALID else None
        else:
            self.other[param] = bytes(data)
        return CC_OK

    def forget(self) -> None:
        """Lose the boot flags, as a flaky BMC does (the `lose_boot_flags` fault)."""
        self.flags[:] = bytes(5)
        self.timer_started = None
        self.pending = None

    def set_override(self, flags: bytes) -> None:
        """Boot flags written through Redfish: no 60-second timer (a Redfish override stays
        until it is used or changed)."""
        self.flags[:] = flags
        self.timer_started = None

    def chassis_control(self, now: float) -> None:
        """A chassis control command arrived: it stops the 60-second timer."""
        self.expire(now)
        self.timer_started = None

    def boot_request(self, now: float) -> BootRequest:
        """What the BIOS would boot from right now (default order when not valid)."""
        self.expire(now)
        if not self.flags[0] & FLAG_VALID:
            return BootRequest(BootDevice.NONE)
        selector = (self.flags[1] >> 2) & 0x0F
        try:
            device = BootDevice(selector)
        except ValueError:
            device = BootDevice.NONE
        return BootRequest(device, bool(self.flags[0] & FLAG_EFI),
                           bool(self.flags[0] & FLAG_PERSISTENT))

    def consume(self, now: float, reset: bool) -> BootRequest:
        """A power-up (`reset=False`) or a reset: the boot request, cleared as the spec says."""
        if self.pending is not None:
            self.set_override(self.pending)
            self.pending = None
        request = self.boot_request(now)
        keep = KEEP_ON_RESET if reset else KEEP_ON_POWER_UP
        if (self.flags[0] & FLAG_VALID and not self.flags[0] & FLAG_PERSISTENT
                and not self.keep_mask & keep):
            self.flags[0] &= ~FLAG_VALID & 0xFF
        return request


PRIV_CALLBACK, PRIV_USER, PRIV_OPERATOR, PRIV_ADMIN, PRIV_OEM = 1, 2, 3, 4, 5
PRIV_NO_ACCESS = 0x0F
LAN_CHANNEL = 1


@dataclass
class User:
    """One user slot with its access on the LAN channel."""

    name: bytes = b""
    password: bytes = b""
    password_len: int = 16
    enabled: bool | None = None
    """None: never enabled or disabled (the spec's 'unspecified')."""
    privilege: int = PRIV_NO_ACCESS
    ipmi_messaging: bool = False
    link_auth: bool = False
    callin: bool = True


def _pad(value: bytes, size: int) -> bytes:
    return value[:size] + bytes(max(0, size - len(value)))


@dataclass
class UserTable:
    """User slots 1..max_users; slot 1 is the fixed null user."""

    max_users: int = 10
    slots: dict[int, User] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for uid in range(1, self.max_users + 1):
            self.slots.setdefault(uid, User())

    @classmethod
    def with_admin(cls, name: str, password: str, max_users: int = 10) -> UserTable:
        """A table with the given administrator in slot 2, as a BMC leaves the factory."""
        table = cls(max_users=max_users)
        table.slots[2] = User(name=name.encode(), password=password.encode(),
                              password_len=20 if len(password) > 16 else 16, enabled=True,
                              privilege=PRIV_ADMIN, ipmi_messaging=True, link_auth=True)
        return table

    def login(self, name: bytes) -> tuple[int, User] | None:
        """The slot a session may log in as: enabled, named, with IPMI messaging allowed."""
        if not name:
            return None
        for uid, user in sorted(self.slots.items()):
            if (user.name == name and user.enabled and user.ipmi_messaging
                    and 1 <= user.privilege <= 5):
                return uid, user
        return None

    def _slot(self, uid: int) -> User | None:
        return self.slots.get(uid & 0x3F)

    @staticmethod
    def _channel_ok(channel: int) -> bool:
        return channel & 0x0F in (LAN_CHANNEL, 0x0E)

    def get_access(self, data: bytes) -> tuple[int, bytes]:
        """Get User Access (netfn 6 cmd 0x44)."""
        if len(data) != 2:
            return CC_BAD_LENGTH, b""
        user = self._slot(data[1])
        if not self._channel_ok(data[0]) or user is None:
            return CC_INVALID_DATA, b""
        enabled = sum(1 for u in self.slots.values() if u.enabled)
        status = {None: 0x00, True: 0x40, False: 0x80}[user.enabled]
        access = (0 if user.callin else 0x40) | (0x20 if user.link_auth else 0) \
            | (0x10 if user.ipmi_messaging else 0) | user.privilege
        return CC_OK, bytes([self.max_users, status | enabled, 1, access])

    def set_access(self, data: bytes) -> int:
        """Set User Access (netfn 6 cmd 0x43)."""
        if len(data) not in (3, 4):
            return CC_BAD_LENGTH
        user = self._slot(data[1])
        privilege = data[2] & 0x0F
        if not self._channel_ok(data[0]) or user is None or privilege not in (1, 2, 3, 4, 5, 15):
            return CC_INVALID_DATA
        if data[0] & 0x80:
            user.callin = not data[0] & 0x40
            user.link_auth = bool(data[0] & 0x20)
            user.ipmi_messaging = bool(data[0] & 0x10)
        user.privilege = privilege
        return CC_OK

    def get_name(self, data: bytes) -> tuple[int, bytes]:
        """Get User Name (netfn 6 cmd 0x46)."""
        if len(data) != 1:
            return CC_BAD_LENGTH, b""
        user = self._slot(data[0])
        if user is None:
            return CC_INVALID_DATA, b""
        return CC_OK, _pad(user.name, 16)

    def set_name(self, data: bytes) -> int:
        """Set User Name (netfn 6 cmd 0x45); slot 1 keeps its fixed null name."""
        if len(data) != 17:
            return CC_BAD_LENGTH
        uid = data[0] & 0x3F
        if self._slot(uid) is None or uid == 1:
            return CC_INVALID_DATA
        if data[1:] == b"\xff" * 16:
            # NOTE: a name of all FFh deletes the user on common BMCs; the reference's
            # credential rotation guide documents exactly that raw command.
            self.slots[uid] = User()
            return CC_OK
        self.slots[uid].name = bytes(data[1:]).rstrip(b"\0")
        return CC_OK

    def set_password(self, data: bytes) -> int:
        """Set User Password (netfn 6 cmd 0x47): disable, enable, set or test."""
        if len(data) < 2:
            return CC_BAD_LENGTH
        user = self._slot(data[0])
        if user is None:
            return CC_INVALID_DATA
        size = 20 if data[0] & 0x80 else 16
        op = data[1] & 0x03
        if op == 0:
            user.enabled = False
            return CC_OK
        if op == 1:
            user.enabled = True
            return CC_OK
        if len(data) != 2 + size:
            return CC_BAD_LENGTH
        password = bytes(data[2:]).rstrip(b"\0")
        if op == 2:
            user.password, user.password_len = password, size
            return CC_OK
        if user.password_len > size:
            return 0x81  # password test failed: wrong password size
        return CC_OK if password == user.password else 0x80  # 0x80: wrong password


def describe_boot(request: BootRequest) -> str:
    """A boot request in words, for logs: `pxe, efi, persistent` or `no override`."""
    if request.device == BootDevice.NONE:
        return "no override"
    words = [request.device.name.lower(), "efi" if request.efi else "legacy"]
    if request.persistent:
        words.append("persistent")
    return ", ".join(words)


def chassis_status(powered_on: bool, restore_policy: int, last_event: int) -> bytes:
    """Get Chassis Status response data (IPMI 2.0 table 28-3)."""
    current = (0x01 if powered_on else 0x00) | (restore_policy & 0x03) << 5
    return bytes([current, last_event, 0x00, 0x00])
